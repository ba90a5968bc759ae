//! Feed autodiscovery: the feeds a web page announces with `<link rel="alternate">`, read
//! with html5ever's tokenizer (the HTML parser ammonia already uses), resolved against the
//! page's address. Only http and https feeds of the RSS, Atom or JSON Feed types count.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

/// At most this many announced feeds are kept.
const MAX_FEEDS: usize = 10;

/// A feed a page announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub url: Url,
    /// The link's `title`, when it has one.
    pub title: Option<String>,
}

#[derive(Default)]
struct Links {
    found: RefCell<Vec<Vec<(String, String)>>>,
}

impl TokenSink for Links {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        if let Token::TagToken(tag) = token {
            if tag.kind == TagKind::StartTag && &*tag.name == "link" {
                let attrs = tag
                    .attrs
                    .iter()
                    .map(|a| (a.name.local.to_string(), a.value.to_string()))
                    .collect();
                self.found.borrow_mut().push(attrs);
            }
        }
        TokenSinkResult::Continue
    }
}

fn is_feed_type(t: &str) -> bool {
    matches!(
        t.trim().to_ascii_lowercase().as_str(),
        "application/rss+xml"
            | "application/atom+xml"
            | "application/feed+json"
            | "application/json"
            | "application/rdf+xml"
    )
}

/// The feeds `html` (the page at `base`) announces, in page order, without duplicates.
pub fn announced_feeds(html: &str, base: &Url) -> Vec<Announced> {
    let tokenizer = Tokenizer::new(Links::default(), TokenizerOpts::default());
    let queue = BufferQueue::default();
    queue.push_back(StrTendril::from(html));
    let _ = tokenizer.feed(&queue);
    tokenizer.end();
    let links = tokenizer.sink.found.take();
    let mut feeds: Vec<Announced> = Vec::new();
    for attrs in links {
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let alternate = get("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
        });
        if !alternate || !get("type").is_some_and(is_feed_type) {
            continue;
        }
        let Some(url) = get("href").and_then(|h| base.join(h.trim()).ok()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") || feeds.iter().any(|f| f.url == url) {
            continue;
        }
        let title = get("title")
            .map(crate::watch::clean::clean_title)
            .filter(|t| !t.is_empty());
        feeds.push(Announced { url, title });
        if feeds.len() == MAX_FEEDS {
            break;
        }
    }
    feeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_announces_its_feeds_resolved_and_filtered() {
        let base = Url::parse("https://www.example.org/actualites/").unwrap();
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="/style.css">
            <LINK REL="Alternate" TYPE="application/rss+xml" title="Actualités &amp; appels" href="../feed/">
            <link rel="alternate" type="application/atom+xml" href="https://www.example.org/atom.xml">
            <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
            <link rel="alternate" type="text/html" hreflang="en" href="/en/">
            <link rel="alternate" type="application/rss+xml" href="/feed/">
            <!-- <link rel="alternate" type="application/rss+xml" href="/commented.xml"> -->
            </head><body><a rel="alternate" type="application/rss+xml" href="/not-a-link-tag.xml">x</a></body></html>"#;
        let feeds = announced_feeds(html, &base);
        let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://www.example.org/feed/",
                "https://www.example.org/atom.xml"
            ]
        );
        assert_eq!(feeds[0].title.as_deref(), Some("Actualités & appels"));
        assert!(announced_feeds("<html><p>rien</p>", &base).is_empty());
        assert!(announced_feeds("<link rel=alternate type=application/rss+xml", &base).is_empty());
    }
}
