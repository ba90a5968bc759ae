//! Signed tokens for links in messages: HMAC-SHA256 over a scope and its subject, verified in
//! constant time. A token for one purpose never works for another. The subject is a random
//! per-subscriber key (never a row id, which a database may hand to someone else), and a
//! confirmation token always expires.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Unsubscribe one subscriber from one title.
    Unsubscribe,
    /// Open the preferences centre of one subscriber.
    Preferences,
    /// Confirm a pending subscription (expires).
    Confirm,
    /// Open a member's session: the sign-in link's random nonce, the link's row id in
    /// `newsletter_id` (expires).
    MemberLogin,
    /// Extend an ad by 30 days from its expiry notice: the ad's id in `newsletter_id`, and a
    /// key made of its creation time and current expiry, so the link works once (expires).
    ExtendAd,
}

impl Scope {
    fn tag(self) -> &'static str {
        match self {
            Scope::Unsubscribe => "u",
            Scope::Preferences => "p",
            Scope::Confirm => "c",
            Scope::MemberLogin => "m",
            Scope::ExtendAd => "x",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The subscriber's random key (`link_key`, or `confirm_key` for a confirmation). Tokens
    /// made before keys existed carry a row id here instead: see [`Claims::legacy_id`].
    pub key: String,
    /// The title concerned, 0 when the token covers all titles.
    pub newsletter_id: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Claims {
    /// The row id carried by a token signed before subscriber keys existed. Only the
    /// one-click unsubscribe honours it (links in mailboxes must keep working); a key is 64
    /// hex digits, never a number that fits an i64.
    pub fn legacy_id(&self) -> Option<i64> {
        self.key.parse().ok()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("lien invalide")]
    Invalid,
    #[error("lien expiré")]
    Expired,
}

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(secret: &str) -> Self {
        Self {
            key: secret.as_bytes().to_vec(),
        }
    }

    pub fn sign(&self, scope: Scope, claims: &Claims) -> String {
        let expiry = claims
            .expires_at
            .map(|t| t.timestamp().to_string())
            .unwrap_or_default();
        let payload = format!(
            "{}.{}.{}.{}",
            scope.tag(),
            claims.key,
            claims.newsletter_id,
            expiry
        );
        let encoded = URL_SAFE_NO_PAD.encode(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&encoded).finalize().into_bytes());
        format!("{encoded}.{sig}")
    }

    pub fn verify(
        &self,
        scope: Scope,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        let (encoded, sig) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Invalid)?;
        self.mac(encoded)
            .verify_slice(&sig)
            .map_err(|_| TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| TokenError::Invalid)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Invalid)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [tag, subscriber, newsletter, expiry] = parts[..] else {
            return Err(TokenError::Invalid);
        };
        if tag != scope.tag() {
            return Err(TokenError::Invalid);
        }
        let expires_at = match expiry {
            "" => None,
            t => Some(
                t.parse::<i64>()
                    .ok()
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .ok_or(TokenError::Invalid)?,
            ),
        };
        match expires_at {
            // A confirmation without an end date is not one we made.
            None if matches!(scope, Scope::Confirm | Scope::MemberLogin | Scope::ExtendAd) => {
                return Err(TokenError::Invalid)
            }
            Some(t) if t < now => return Err(TokenError::Expired),
            _ => {}
        }
        if subscriber.is_empty() || !subscriber.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenError::Invalid);
        }
        Ok(Claims {
            key: subscriber.to_string(),
            newsletter_id: newsletter.parse().map_err(|_| TokenError::Invalid)?,
            expires_at,
        })
    }

    /// A short lowercase hex tag (`len` digits, at most 64) binding `subject` to `purpose`:
    /// for identifiers that must stay short and survive case folding, such as the local part
    /// of a VERP return path.
    pub fn short_tag(&self, purpose: &str, subject: &str, len: usize) -> String {
        let mac = self
            .mac(&format!("{purpose}.{subject}"))
            .finalize()
            .into_bytes();
        let mut tag = hex::encode(mac);
        tag.truncate(len.min(64));
        tag
    }

    /// Whether `tag` is [`Signer::short_tag`]'s for this purpose, subject and length
    /// (constant time; any case).
    pub fn verify_short_tag(&self, purpose: &str, subject: &str, tag: &str, len: usize) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.short_tag(purpose, subject, len);
        tag.len() == expected.len()
            && bool::from(
                expected
                    .as_bytes()
                    .ct_eq(tag.to_ascii_lowercase().as_bytes()),
            )
    }

    fn mac(&self, data: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(data.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            key: "ab12".into(),
            newsletter_id: 1,
            expires_at: None,
        }
    }

    #[test]
    fn a_signed_token_verifies_for_its_scope_only() {
        let signer = Signer::new("secret");
        let token = signer.sign(Scope::Unsubscribe, &claims());
        assert_eq!(
            signer.verify(Scope::Unsubscribe, &token, Utc::now()),
            Ok(claims())
        );
        assert_eq!(
            signer.verify(Scope::Preferences, &token, Utc::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let signer = Signer::new("secret");
        let token = signer.sign(Scope::Unsubscribe, &claims());
        let other = Claims {
            key: "ab13".into(),
            ..claims()
        };
        let forged_payload = signer.sign(Scope::Unsubscribe, &other);
        let spliced = format!(
            "{}.{}",
            forged_payload.split_once('.').unwrap().0,
            token.split_once('.').unwrap().1
        );
        assert_eq!(
            signer.verify(Scope::Unsubscribe, &spliced, Utc::now()),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            Signer::new("other").verify(Scope::Unsubscribe, &token, Utc::now()),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            signer.verify(Scope::Unsubscribe, "garbage", Utc::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let signer = Signer::new("secret");
        let past = Claims {
            expires_at: DateTime::from_timestamp(1_000, 0),
            ..claims()
        };
        let token = signer.sign(Scope::Confirm, &past);
        assert_eq!(
            signer.verify(Scope::Confirm, &token, Utc::now()),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_confirmation_token_without_an_end_is_refused() {
        let signer = Signer::new("secret");
        let token = signer.sign(Scope::Confirm, &claims());
        assert_eq!(
            signer.verify(Scope::Confirm, &token, Utc::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn only_a_short_number_reads_as_a_legacy_id() {
        assert_eq!(
            Claims {
                key: "42".into(),
                ..claims()
            }
            .legacy_id(),
            Some(42)
        );
        let key = "1".repeat(64);
        assert_eq!(Claims { key, ..claims() }.legacy_id(), None);
        assert_eq!(claims().legacy_id(), None);
    }
}
