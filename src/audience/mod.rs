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

    /// A member's sign-in link: the row `login_id` of `member_logins` and its nonce.
    pub fn member_login(
        &self,
        login_id: i64,
        nonce: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let token = self.signer.sign(
            Scope::MemberLogin,
            &Claims {
                key: nonce.to_string(),
                newsletter_id: login_id,
                expires_at: Some(expires_at),
            },
        );
        self.join(&format!("/espace-membre/entrer/{token}"))
    }

    /// The « Prolonger de 30 jours » link of an expiry notice: valid until the ad expires,
    /// and only while it has the expiry the notice named.
    pub fn extend_ad(
        &self,
        ad_id: i64,
        created_at: chrono::DateTime<chrono::Utc>,
        expires_on: chrono::NaiveDate,
    ) -> String {
        let token = self.signer.sign(
            Scope::ExtendAd,
            &Claims {
                key: ad_extension_key(created_at, expires_on),
                newsletter_id: ad_id,
                expires_at: expires_on
                    .succ_opt()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc() + chrono::Duration::days(1)),
            },
        );
        self.join(&format!("/espace-membre/prolonger/{token}"))
    }

    pub fn issue_page(&self, newsletter: &str, issue_id: i64) -> String {
        self.join(&format!("/lettres/{newsletter}/{issue_id}"))
    }

    pub fn page(&self, path: &str) -> String {
        self.join(path)
    }
}

/// How long a member's sign-in link stays valid.
pub const MEMBER_LINK_MINUTES: u32 = 15;

/// What an extension link names besides the ad's id: its creation time and its current
/// expiry (an extended ad no longer matches, so the link works once).
pub fn ad_extension_key(
    created_at: chrono::DateTime<chrono::Utc>,
    expires_on: chrono::NaiveDate,
) -> String {
    format!("{}d{}", created_at.timestamp(), expires_on.format("%Y%m%d"))
}

/// A segment's filters from what a person typed or ticked, each value checked: the segment's
/// name is `[a-z0-9-]+`, themes are slugs, countries ISO codes, départements those of
/// Occitanie, collèges the known ones. The error says which value is wrong, in French.
pub fn segment_filters(
    slug: &str,
    themes: &[String],
    countries: &[String],
    departements: &[String],
    colleges: &[String],
) -> Result<Vec<crate::store::SegmentFilter>, String> {
    use crate::domain;
    use crate::store::SegmentFilter;
    if !domain::is_slug(slug) {
        return Err(format!(
            "nom de segment invalide « {slug} » (lettres minuscules, chiffres et tirets)"
        ));
    }
    let mut filters = Vec::new();
    for t in themes {
        if !domain::is_slug(t) {
            return Err(format!("thème invalide « {t} »"));
        }
        filters.push(SegmentFilter {
            kind: "theme",
            value: t.clone(),
        });
    }
    for c in countries {
        let code = domain::parse_country(c).ok_or_else(|| format!("code pays invalide « {c} »"))?;
        filters.push(SegmentFilter {
            kind: "country",
            value: code,
        });
    }
    for d in departements {
        if !domain::DEPARTEMENTS.contains(&d.as_str()) {
            return Err(format!("département inconnu « {d} »"));
        }
        filters.push(SegmentFilter {
            kind: "departement",
            value: d.clone(),
        });
    }
    for c in colleges {
        if !domain::COLLEGES.contains(&c.as_str()) {
            return Err(format!("collège inconnu « {c} »"));
        }
        filters.push(SegmentFilter {
            kind: "college",
            value: c.clone(),
        });
    }
    Ok(filters)
}
