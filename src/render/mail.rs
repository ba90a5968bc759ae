//! The view of a transactional mail: what its templates under `templates/mail/` may use.

use serde::Serialize;

use super::OrgView;
use crate::domain::{MailKind, SafeUrl};

#[derive(Debug, Clone, Serialize)]
pub struct MailView {
    #[serde(skip)]
    pub kind: MailKind,
    pub subject: String,
    /// The person's name as they gave it; empty when they gave none.
    pub name: String,
    /// The one link the mail is about (the confirmation link, for a confirmation).
    pub link: SafeUrl,
    /// How many days the link stays valid.
    pub validity_days: u32,
    /// How many minutes a sign-in link stays valid.
    pub validity_minutes: u32,
    /// The ad a mail about an ad names.
    pub ad_title: String,
    /// Why an editor refused the ad.
    pub reason: String,
    /// The ad's expiry, as people say it (« 5 décembre 2026 »).
    pub date: String,
    pub org: OrgView,
}

impl MailView {
    /// The confirmation of a subscription (double opt-in).
    pub fn confirmation(name: &str, link: SafeUrl, validity_days: u32, org: OrgView) -> Self {
        Self {
            kind: MailKind::Confirmation,
            subject: "Confirmez votre abonnement".into(),
            name: super::printable_line(name),
            link,
            validity_days,
            validity_minutes: 0,
            ad_title: String::new(),
            reason: String::new(),
            date: String::new(),
            org,
        }
    }

    /// A member's sign-in link.
    pub fn member_link(name: &str, link: SafeUrl, validity_minutes: u32, org: OrgView) -> Self {
        Self {
            kind: MailKind::MemberLink,
            subject: "Votre lien de connexion à l'espace membre".into(),
            validity_minutes,
            ..Self::confirmation(name, link, 0, org)
        }
    }

    /// An ad refused by an editor, with the reason; the link opens the ad in the member area.
    pub fn ad_rejected(ad_title: &str, reason: &str, link: SafeUrl, org: OrgView) -> Self {
        Self {
            kind: MailKind::AdRejected,
            subject: "Votre annonce n'a pas été publiée".into(),
            ad_title: super::printable_line(ad_title),
            reason: super::printable_text(reason),
            ..Self::confirmation("", link, 0, org)
        }
    }

    /// An ad about to expire; the link extends it by 30 days.
    pub fn ad_expiring(ad_title: &str, date: &str, link: SafeUrl, org: OrgView) -> Self {
        Self {
            kind: MailKind::AdExpiring,
            subject: "Votre annonce arrive à échéance".into(),
            ad_title: super::printable_line(ad_title),
            date: date.to_string(),
            ..Self::confirmation("", link, 0, org)
        }
    }

    /// The editors' notice of a schedule run: a reminder, a refused or skipped send. `reason`
    /// says what happened, `date` when the run was due; the link opens the desk.
    pub fn schedule_notice(
        subject: &str,
        detail: &str,
        due: &str,
        link: SafeUrl,
        org: OrgView,
    ) -> Self {
        Self {
            kind: MailKind::ScheduleNotice,
            subject: super::printable_line(subject),
            reason: super::printable_text(detail),
            date: due.to_string(),
            ..Self::confirmation("", link, 0, org)
        }
    }

    /// The editors' notice that a send paused itself: `subject` names the issue, `reason` says
    /// why (the circuit breaker's count), `date` when; the link opens the send's progress page.
    pub fn dispatch_paused(
        subject: &str,
        reason: &str,
        date: &str,
        link: SafeUrl,
        org: OrgView,
    ) -> Self {
        Self {
            kind: MailKind::DispatchPaused,
            ..Self::schedule_notice(subject, reason, date, link, org)
        }
    }

    /// Realistic data for the start-up check of the templates.
    pub fn sample(kind: MailKind) -> Self {
        let org = super::model_org(
            "Occitanie Coopération",
            "15 rue Rivals, 31000 Toulouse, France",
        );
        let link = SafeUrl::parse("https://lettres.example.org/confirmer/exemple")
            .expect("a valid sample URL");
        let title = "Dix ordinateurs portables à donner";
        match kind {
            MailKind::Confirmation | MailKind::Test => {
                Self::confirmation("Awa Diallo", link, 7, org)
            }
            MailKind::MemberLink => Self::member_link("Awa Diallo", link, 15, org),
            MailKind::AdRejected => {
                Self::ad_rejected(title, "Précisez le lieu de retrait du matériel.", link, org)
            }
            MailKind::AdExpiring => Self::ad_expiring(title, "5 décembre 2026", link, org),
            MailKind::ScheduleNotice => Self::schedule_notice(
                "Coopdev' info : numéro non validé, non envoyé",
                "le numéro 12 n'est pas validé : il n'est pas envoyé",
                "jeudi 3 décembre 2026 à 09:00",
                link,
                org,
            ),
            MailKind::DispatchPaused => Self::dispatch_paused(
                "Envoi suspendu : Coopdev' info — Décembre",
                "le serveur a refusé 20 message(s) pour une raison de politique (5.7.x) sur 64 tentative(s) en 300 s",
                "3 décembre 2026 à 09:12:40",
                link,
                org,
            ),
        }
    }
}

/// A transactional mail ready to put in a MIME message.
#[derive(Debug, Clone)]
pub struct RenderedMail {
    pub subject: String,
    pub html: String,
    pub text: String,
}
