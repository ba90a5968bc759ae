//! Feed parsing: bytes in (never decoded text), entries out, with the facts dedup needs.

use chrono::{DateTime, Utc};
use url::Url;

/// One entry as the feed gave it, before cleaning.
#[derive(Debug, Clone, Default)]
pub struct RawEntry {
    /// The publisher's own identifier (RSS guid, Atom id, JSON Feed id), if any.
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    /// HTML or text, as published.
    pub summary: String,
    pub published: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("ce n'est pas un flux RSS, Atom ou JSON Feed ({0})")]
    NotAFeed(String),
}

/// Parses RSS 0.9x/1.0/2.0, Atom or JSON Feed. Relative links resolve against `base`.
pub fn parse_feed(bytes: &[u8], base: &Url) -> Result<Vec<RawEntry>, ParseError> {
    // An empty generated id tells us the feed gave none: feed-rs would otherwise invent a
    // random one, different on every parse.
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser
        .parse(bytes)
        .map_err(|e| ParseError::NotAFeed(e.to_string()))?;
    let entries = feed
        .entries
        .into_iter()
        .map(|e| {
            let link = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or(e.links.first())
                .map(|l| l.href.trim().to_string())
                .filter(|l| !l.is_empty());
            let summary = e
                .summary
                .map(|t| t.content)
                .or_else(|| e.content.and_then(|c| c.body))
                .unwrap_or_default();
            RawEntry {
                guid: Some(e.id.trim().to_string()).filter(|id| !id.is_empty()),
                link,
                title: e.title.map(|t| t.content).unwrap_or_default(),
                summary,
                published: e.published.or(e.updated),
            }
        })
        .collect();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/feeds/rss.xml").unwrap()
    }

    #[test]
    fn rss_entries_keep_guid_link_and_resolved_relative_links() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
            <item><title>Un</title><link>/posts/1</link><guid>abc-1</guid><description>&lt;p&gt;Texte&lt;/p&gt;</description></item>
            <item><title>Deux</title><link>https://example.org/posts/2</link></item>
            </channel></rss>"#;
        let entries = parse_feed(xml, &base()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].guid.as_deref(), Some("abc-1"));
        assert_eq!(
            entries[0].link.as_deref(),
            Some("https://example.org/posts/1")
        );
        assert_eq!(entries[0].summary, "<p>Texte</p>");
        assert_eq!(
            entries[1].guid, None,
            "no guid must not become an invented id"
        );
    }

    #[test]
    fn html_pages_are_not_feeds() {
        let html = b"<!doctype html><html><body>Bonjour</body></html>";
        assert!(matches!(
            parse_feed(html, &base()),
            Err(ParseError::NotAFeed(_))
        ));
    }

    #[test]
    fn json_feed_is_read() {
        let json = br#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1","url":"https://example.org/a","title":"A","content_html":"<p>x</p>"}]}"#;
        let entries = parse_feed(json, &base()).unwrap();
        assert_eq!(entries[0].guid.as_deref(), Some("1"));
        assert_eq!(entries[0].title, "A");
    }
}
