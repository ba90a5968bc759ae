//! The audience: subscribers, consent, signed tokens, segments, import and export.

pub mod form;
pub mod import;
pub mod request;
pub mod tokens;

use url::Url;

pub use tokens::{Claims, Scope, Signer, TokenError};

/// Builds the links that go into messages for one subscriber.
#[derive(Clone)]
pub struct Links {
    pub base: Url,
    pub signer: Signer,
}

impl Links {
    fn join(&self, path: &str) -> String {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{path}"));
        url.to_string()
    }

    /// The one-click unsubscribe URL (List-Unsubscribe and the footer link).
    pub fn unsubscribe(&self, subscriber_id: i64, newsletter_id: i64) -> String {
        let token = self.signer.sign(
            Scope::Unsubscribe,
            &Claims {
                subscriber_id,
                newsletter_id,
                expires_at: None,
            },
        );
        self.join(&format!("/desinscription/{token}"))
    }

    /// The confirmation link of a double opt-in: valid for 7 days.
    pub fn confirm(&self, subscriber_id: i64) -> String {
        let expires_at = Some(chrono::Utc::now() + chrono::Duration::days(7));
        let token = self.signer.sign(
            Scope::Confirm,
            &Claims {
                subscriber_id,
                newsletter_id: 0,
                expires_at,
            },
        );
        self.join(&format!("/confirmer/{token}"))
    }

    pub fn preferences(&self, subscriber_id: i64) -> String {
        let token = self.signer.sign(
            Scope::Preferences,
            &Claims {
                subscriber_id,
                newsletter_id: 0,
                expires_at: None,
            },
        );
        self.join(&format!("/preferences/{token}"))
    }

    pub fn issue_page(&self, newsletter: &str, issue_id: i64) -> String {
        self.join(&format!("/lettres/{newsletter}/{issue_id}"))
    }

    pub fn page(&self, path: &str) -> String {
        self.join(path)
    }
}
