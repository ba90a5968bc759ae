//! The states stored in the database, with their text forms (the CHECK constraints of the
//! migrations list the same words).

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        // Stored as text on both databases. A text this version does not know is a decoding
        // error, never read as another state.
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!(
                        "`{text}` is not a {} this version of relais knows",
                        stringify!($name)
                    )
                    .into()
                })
            }
        }
    };
}

text_enum!(
    /// Where a watch item stands in the editors' triage.
    ItemStatus { New => "new", Selected => "selected", Dismissed => "dismissed", Published => "published" }
);

text_enum!(
    /// Where an issue stands: composed, approved for sending, being sent, sent (frozen).
    IssueStatus { Draft => "draft", Approved => "approved", Sending => "sending", Sent => "sent" }
);

text_enum!(
    /// A person: waiting for confirmation, receiving, or stopped by the mail system.
    SubscriberStatus {
        Pending => "pending",
        Active => "active",
        Bounced => "bounced",
        Complained => "complained",
    }
);

text_enum!(
    /// A person's subscription to one title.
    SubscriptionStatus { Pending => "pending", Active => "active", Unsubscribed => "unsubscribed" }
);

text_enum!(
    /// A feed's health.
    SourceState { Ok => "ok", Failing => "failing", Disabled => "disabled" }
);

text_enum!(
    /// Where one message stands in a ledger (newsletters' deliveries and transactional mail).
    DeliveryState {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Deferred => "deferred",
        Failed => "failed",
        Unknown => "unknown",
        Skipped => "skipped",
    }
);

text_enum!(
    /// The kinds of transactional mail (`mails.kind`), each with its templates under
    /// `templates/mail/`.
    MailKind {
        Confirmation => "confirmation",
        Test => "test",
        MemberLink => "member_link",
        AdRejected => "ad_rejected",
        AdExpiring => "ad_expiring",
        ScheduleNotice => "schedule_notice",
        DispatchPaused => "dispatch_paused",
    }
);

text_enum!(
    /// Whether a send may go on: an editor (or the 5.7.x circuit breaker) pauses it, resumes
    /// it or cancels it (`dispatches.state`).
    DispatchState { Active => "active", Paused => "paused", Cancelled => "cancelled" }
);

text_enum!(
    /// What a schedule run does (`job_runs.kind`).
    JobKind { Draft => "draft", Remind => "remind", Send => "send" }
);

text_enum!(
    /// How a schedule run ended (`job_runs.outcome`); `pending` while it acts, and for the
    /// next occurrences `relais schedule` lists.
    JobOutcome { Done => "done", Skipped => "skipped", Refused => "refused", Pending => "pending" }
);

text_enum!(
    AdCategory {
        DonMateriel => "don-materiel",
        RechercheMateriel => "recherche-materiel",
        TransportPartage => "transport-partage",
        MissionVolontariat => "mission-volontariat",
        RecherchePartenaires => "recherche-partenaires",
        Evenement => "evenement",
        Autre => "autre",
    }
);

impl ItemStatus {
    /// In French, for people (the text form stays the stable key in JSON and options).
    pub fn label(self) -> &'static str {
        match self {
            ItemStatus::New => "nouveau",
            ItemStatus::Selected => "retenu",
            ItemStatus::Dismissed => "écarté",
            ItemStatus::Published => "publié",
        }
    }
}

impl MailKind {
    /// Kinds written from their own templates under `templates/mail/` (a test of an issue is
    /// the issue itself).
    pub fn templated(self) -> bool {
        !matches!(self, MailKind::Test)
    }
}

impl SourceState {
    /// In French, for people.
    pub fn label(self) -> &'static str {
        match self {
            SourceState::Ok => "en service",
            SourceState::Failing => "en échec",
            SourceState::Disabled => "désactivée",
        }
    }
}

impl JobKind {
    /// In French, for people.
    pub fn label(self) -> &'static str {
        match self {
            JobKind::Draft => "brouillon",
            JobKind::Remind => "rappel",
            JobKind::Send => "envoi",
        }
    }
}

impl JobOutcome {
    /// In French, for people.
    pub fn label(self) -> &'static str {
        match self {
            JobOutcome::Done => "fait",
            JobOutcome::Skipped => "sauté",
            JobOutcome::Refused => "refusé",
            JobOutcome::Pending => "à venir",
        }
    }
}

impl DispatchState {
    /// In French, for people.
    pub fn label(self) -> &'static str {
        match self {
            DispatchState::Active => "en cours",
            DispatchState::Paused => "suspendu",
            DispatchState::Cancelled => "annulé",
        }
    }
}

impl AdCategory {
    pub fn label(self) -> &'static str {
        match self {
            AdCategory::DonMateriel => "Dons de matériel",
            AdCategory::RechercheMateriel => "Recherche de matériel",
            AdCategory::TransportPartage => "Transport partagé",
            AdCategory::MissionVolontariat => "Missions de volontariat",
            AdCategory::RecherchePartenaires => "Recherche de partenaires",
            AdCategory::Evenement => "Événements",
            AdCategory::Autre => "Autres annonces",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text() {
        fn round_trip<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            text: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for s in all {
                assert_eq!(parse(text(*s)), Some(*s));
            }
            assert_eq!(parse("archived"), None);
        }
        round_trip(ItemStatus::ALL, ItemStatus::as_str, ItemStatus::parse);
        round_trip(IssueStatus::ALL, IssueStatus::as_str, IssueStatus::parse);
        round_trip(
            SubscriberStatus::ALL,
            SubscriberStatus::as_str,
            SubscriberStatus::parse,
        );
        round_trip(
            SubscriptionStatus::ALL,
            SubscriptionStatus::as_str,
            SubscriptionStatus::parse,
        );
        round_trip(SourceState::ALL, SourceState::as_str, SourceState::parse);
        round_trip(
            DeliveryState::ALL,
            DeliveryState::as_str,
            DeliveryState::parse,
        );
        round_trip(MailKind::ALL, MailKind::as_str, MailKind::parse);
        round_trip(
            DispatchState::ALL,
            DispatchState::as_str,
            DispatchState::parse,
        );
    }

    #[tokio::test]
    #[allow(clippy::disallowed_methods)] // the decoding the store relies on, checked here
    async fn a_stored_state_this_version_does_not_know_is_an_error() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let known: IssueStatus = sqlx::query_scalar("select 'sent'")
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(known, IssueStatus::Sent);
        let unknown = sqlx::query_scalar::<_, DeliveryState>("select 'bounced'")
            .fetch_one(&mut db)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("`bounced` is not a DeliveryState"),
            "{unknown}"
        );
    }
}
