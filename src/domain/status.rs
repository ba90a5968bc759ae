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
    };
}

text_enum!(
    /// Where a watch item stands in the editors' triage.
    ItemStatus { New => "new", Selected => "selected", Dismissed => "dismissed", Published => "published" }
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
    MailKind { Confirmation => "confirmation" }
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
        for s in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ItemStatus::parse("archived"), None);
    }
}
