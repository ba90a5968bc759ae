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
            org,
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
        match kind {
            MailKind::Confirmation | MailKind::Test => {
                Self::confirmation("Awa Diallo", link, 7, org)
            }
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
