//! The audience: subscribers, consent, signed tokens, segments, import and export.

pub mod form;
pub mod import;
pub mod request;
pub mod tokens;

use url::Url;

pub use tokens::{Claims, Scope, Signer, TokenError};

/// How long a confirmation link works.
pub const CONFIRMATION_VALIDITY_DAYS: u32 = 7;
pub const CONFIRMATION_VALIDITY: chrono::Duration =
    chrono::Duration::days(CONFIRMATION_VALIDITY_DAYS as i64);

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

    /// The one-click unsubscribe URL (List-Unsubscribe and the footer link), for the
    /// subscriber whose `link_key` is given.
    pub fn unsubscribe(&self, link_key: &str, newsletter_id: i64) -> String {
        let token = self.signer.sign(
            Scope::Unsubscribe,
            &Claims {
                key: link_key.to_string(),
                newsletter_id,
                expires_at: None,
            },
        );
        self.join(&format!("/desinscription/{token}"))
    }

    /// The confirmation link of a double opt-in, for the `confirm_key` just issued: valid for
    /// [`CONFIRMATION_VALIDITY`] (the store checks the same age on its side).
    pub fn confirm(&self, confirm_key: &str) -> String {
        let expires_at = Some(chrono::Utc::now() + CONFIRMATION_VALIDITY);
        let token = self.signer.sign(
            Scope::Confirm,
            &Claims {
                key: confirm_key.to_string(),
                newsletter_id: 0,
                expires_at,
            },
        );
        self.join(&format!("/confirmer/{token}"))
    }

    pub fn preferences(&self, link_key: &str) -> String {
        let token = self.signer.sign(
            Scope::Preferences,
            &Claims {
                key: link_key.to_string(),
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
