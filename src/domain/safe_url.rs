//! Links from feeds, ads and the database are untrusted: a page, a message or a feed prints a
//! link only through `SafeUrl`, whose one constructor accepts absolute `http` and `https` URLs.
//! `javascript:`, `data:`, `vbscript:` and the rest are not links at all.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An absolute http(s) URL, normalised, without control characters or whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SafeUrl(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeUrl {
    #[error("lien refusé : il contient un espace ou un caractère de contrôle")]
    Characters,
    #[error("lien refusé : {0}")]
    Malformed(#[from] url::ParseError),
    #[error("lien refusé : seuls les liens http et https avec un hôte sont affichés")]
    Scheme,
}

impl SafeUrl {
    pub fn parse(raw: &str) -> Result<Self, UnsafeUrl> {
        // The URL parser silently drops tabs and newlines ("java\tscript:"): refuse them first.
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UnsafeUrl::Characters);
        }
        let url = url::Url::parse(raw)?;
        let has_host = url.host_str().is_some_and(|h| !h.is_empty());
        if matches!(url.scheme(), "http" | "https") && has_host {
            Ok(SafeUrl(url.into()))
        } else {
            Err(UnsafeUrl::Scheme)
        }
    }

    /// The link, or nothing when it is not one that may be shown.
    pub fn checked(raw: Option<&str>) -> Option<Self> {
        raw.and_then(|r| Self::parse(r.trim()).ok())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SafeUrl {
    type Error = UnsafeUrl;
    fn try_from(raw: String) -> Result<Self, UnsafeUrl> {
        SafeUrl::parse(&raw)
    }
}

impl From<SafeUrl> for String {
    fn from(url: SafeUrl) -> String {
        url.0
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_links() {
        for good in [
            "https://example.org/appel?x=1",
            "http://127.0.0.1:8080/a",
            "HTTPS://Example.org/",
        ] {
            assert!(SafeUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "mailto:a@example.org",
            "/relative/path",
            "//example.org/x",
            "https://",
            "https://exa mple.org/",
            "https://example.org/\u{1}",
        ] {
            assert!(SafeUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            SafeUrl::checked(Some("  https://example.org/a ")).map(String::from),
            Some("https://example.org/a".to_string())
        );
    }

    #[test]
    fn a_stored_view_cannot_smuggle_an_unchecked_link() {
        let parsed: Result<SafeUrl, _> = serde_json::from_str("\"javascript:alert(1)\"");
        assert!(parsed.is_err());
        let ok: SafeUrl = serde_json::from_str("\"https://example.org/\"").unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            "\"https://example.org/\""
        );
    }
}
