//! Feed parsing: bytes in (never decoded text), entries out, with the facts dedup needs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::budget::{Budget, Exhausted};
use super::{clean, repair};

/// Entries kept from one feed, the most recent first: enough for any real feed, and a cap on
/// what a hostile one can make us clean and store.
pub const MAX_ENTRIES: usize = 300;

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

/// A parsed feed: its entries, the publisher's `<ttl>`, and what had to be repaired.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub entries: Vec<RawEntry>,
    pub ttl: Option<Duration>,
    /// Plain words for editors; empty when the feed was well formed.
    pub fixes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("ce n'est pas un flux RSS, Atom ou JSON Feed ({0})")]
    NotAFeed(String),
    #[error("flux illisible : {0}")]
    Broken(String),
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
}

/// Parses RSS 0.9x/1.0/2.0, Atom or JSON Feed. Relative links resolve against `base`. The
/// bytes are repaired first (charset, entities, version); when feed-rs still fails, the
/// entries that are intact are kept and the damage is listed in `fixes`. At most
/// `MAX_ENTRIES` entries are returned. No time limit: see `parse_feed_within`.
pub fn parse_feed(
    bytes: &[u8],
    base: &Url,
    content_type: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    parse_feed_within(bytes, base, content_type, &Budget::new(Duration::MAX))
}

/// `parse_feed`, given up with `ParseError::Exhausted` when the budget runs out. Every stage
/// is linear in the size of the document, and the budget is checked between stages and
/// between entries.
pub fn parse_feed_within(
    bytes: &[u8],
    base: &Url,
    content_type: Option<&str>,
    budget: &Budget,
) -> Result<ParsedFeed, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::NotAFeed("réponse vide".into()));
    }
    let repaired = repair::repair(bytes, content_type);
    budget.check()?;
    let mut fixes = repaired.fixes;
    let parsed = parse_with_feed_rs(repaired.text.as_bytes(), base);
    budget.check()?;
    let feed = match parsed {
        Ok(feed) => feed,
        Err(e) if is_html(&repaired.text) => {
            return Err(ParseError::NotAFeed(format!("page HTML, {e}")))
        }
        Err(e) => {
            let salvaged = repair::salvage(&repaired.text, budget)?;
            let Some(salvaged) = salvaged.filter(|s| s.kept > 0) else {
                return Err(if is_feed_like(&repaired.text) {
                    ParseError::Broken(e.to_string())
                } else {
                    ParseError::NotAFeed(e.to_string())
                });
            };
            let feed = parse_with_feed_rs(salvaged.text.as_bytes(), base)
                .map_err(|e| ParseError::Broken(e.to_string()))?;
            fixes.push(format!(
                "document mal formé ({e}) : {} entrée(s) intacte(s) gardée(s), {} écartée(s)",
                salvaged.kept, salvaged.dropped
            ));
            feed
        }
    };
    budget.check()?;
    let mut entries = feed.entries;
    if entries.len() > MAX_ENTRIES {
        // Undated entries keep their place after the dated ones (the sort is stable).
        entries.sort_by_key(|e| std::cmp::Reverse(e.published.or(e.updated)));
        fixes.push(format!(
            "{} entrées : seules les {MAX_ENTRIES} plus récentes sont lues",
            entries.len()
        ));
        entries.truncate(MAX_ENTRIES);
    }
    Ok(ParsedFeed {
        ttl: feed
            .ttl
            .map(|minutes| Duration::from_secs(u64::from(minutes) * 60)),
        entries: entries.into_iter().map(|e| raw_entry(e, base)).collect(),
        fixes,
    })
}

fn parse_with_feed_rs(
    bytes: &[u8],
    base: &Url,
) -> Result<feed_rs::model::Feed, feed_rs::parser::ParseFeedError> {
    // An empty generated id tells us the feed gave none: feed-rs would otherwise invent a
    // random one, different on every parse.
    feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .id_generator(|_, _, _| String::new())
        .build()
        .parse(bytes)
}

/// The entry's page: its first alternate (or rel-less) link that is a web address, else its
/// first other link that is one. `javascript:`, `data:` and the like are never a link.
fn raw_entry(e: feed_rs::model::Entry, base: &Url) -> RawEntry {
    let is_page = |l: &&feed_rs::model::Link| l.rel.as_deref().is_none_or(|r| r == "alternate");
    let link = e
        .links
        .iter()
        .filter(is_page)
        .chain(e.links.iter().filter(|l| !is_page(l)))
        .find_map(|l| clean::web_link(&l.href, base));
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
}

/// A page rather than a feed: its root is `<html>`.
fn is_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    (head.contains("<!doctype html") || head.contains("<html")) && !is_feed_like(&head)
}

fn is_feed_like(text: &str) -> bool {
    let head: String = text.chars().take(2048).collect();
    ["<rss", "<feed", "<rdf:RDF", "<RDF", "<channel"]
        .iter()
        .any(|root| head.contains(root))
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
        let entries = parse_feed(xml, &base(), None).unwrap().entries;
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
            parse_feed(html, &base(), None),
            Err(ParseError::NotAFeed(_))
        ));
    }

    #[test]
    fn json_feed_is_read() {
        let json = br#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1","url":"https://example.org/a","title":"A","content_html":"<p>x</p>"}]}"#;
        let entries = parse_feed(json, &base(), None).unwrap().entries;
        assert_eq!(entries[0].guid.as_deref(), Some("1"));
        assert_eq!(entries[0].title, "A");
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    fn titles(feed: &ParsedFeed) -> Vec<String> {
        feed.entries
            .iter()
            .map(|e| crate::watch::clean::clean_title(&e.title))
            .collect()
    }

    #[test]
    fn undeclared_windows_1252_is_read_with_its_accents_and_euro_sign() {
        let feed = parse_feed(&fixture("windows-1252.xml"), &base(), None).unwrap();
        assert_eq!(
            titles(&feed),
            ["Coopération décentralisée : « l\u{2019}appel 2027 » est ouvert"]
        );
        assert!(feed.entries[0].summary.contains("50 000 €"));
        assert!(!feed.fixes.is_empty(), "the wrong charset is recorded");
    }

    #[test]
    fn declared_iso_8859_1_is_transcoded() {
        let feed = parse_feed(&fixture("iso-8859-1.xml"), &base(), None).unwrap();
        assert_eq!(titles(&feed), ["Réunion d'été des collectivités"]);
        assert!(feed.fixes.is_empty());
    }

    #[test]
    fn a_utf8_body_survives_a_latin1_content_type() {
        let ct = Some("text/xml; charset=iso-8859-1");
        let feed = parse_feed(&fixture("wrong-charset-header.xml"), &base(), ct).unwrap();
        assert_eq!(
            titles(&feed),
            ["Stratégie « Afrique\u{2013}Europe » : synthèse"]
        );
        assert!(feed.entries[0].summary.contains("Côte d\u{2019}Ivoire"));
    }

    #[test]
    fn html_entities_and_bare_ampersands_do_not_lose_the_feed() {
        let feed = parse_feed(&fixture("entities.xml"), &base(), None).unwrap();
        assert_eq!(
            titles(&feed),
            [
                "Appel à projets : l\u{2019}eau & lénergie",
                "Rapport « Sahel »"
            ]
        );
        assert_eq!(
            feed.entries[0].link.as_deref(),
            Some("https://agence.example.org/appel?id=4&lang=fr")
        );
        assert!(feed.entries[0]
            .summary
            .contains("R&D études … Jeunesse & Sports"));
        assert!(
            feed.entries[1].summary.contains("d&eacute;j&agrave;"),
            "CDATA left as it was"
        );
    }

    #[test]
    fn a_truncated_feed_keeps_its_intact_entries_and_says_what_was_wrong() {
        let feed = parse_feed(&fixture("truncated.xml"), &base(), None).unwrap();
        let guids: Vec<_> = feed
            .entries
            .iter()
            .map(|e| e.guid.clone().unwrap())
            .collect();
        assert_eq!(guids, ["coupe-1", "coupe-3"]);
        assert!(
            feed.fixes
                .iter()
                .any(|f| f.contains("2 entrée(s) intacte(s) gardée(s), 2 écartée(s)")),
            "{:?}",
            feed.fixes
        );
    }

    #[test]
    fn rss_without_version_is_read_and_its_ttl_kept() {
        let feed = parse_feed(&fixture("no-version.xml"), &base(), None).unwrap();
        assert_eq!(titles(&feed), ["Un article"]);
        assert_eq!(feed.ttl, Some(Duration::from_secs(180 * 60)));
    }

    #[test]
    fn every_format_is_read() {
        let old = parse_feed(&fixture("rss-0.91.xml"), &base(), None).unwrap();
        assert_eq!(titles(&old), ["Forum 2026 \u{2013} compte rendu"]);
        assert!(old.entries[0].summary.contains("échanges"));
        let rdf = parse_feed(&fixture("rss-1.0.rdf"), &base(), None).unwrap();
        assert_eq!(
            titles(&rdf),
            [
                "Éducation à la citoyenneté mondiale",
                "Volontariat international"
            ]
        );
        assert!(rdf.entries[0].published.is_some());
        let json = parse_feed(&fixture("feed.json"), &base(), None).unwrap();
        assert_eq!(titles(&json), ["Séminaire « Sahel »", "Bourse jeunesse"]);
        let rss2 = parse_feed(&fixture("politiques.xml"), &base(), None).unwrap();
        assert_eq!(rss2.entries.len(), 3);
    }

    fn links(feed: &ParsedFeed) -> Vec<Option<&str>> {
        feed.entries.iter().map(|e| e.link.as_deref()).collect()
    }

    #[test]
    fn atom_0_3_is_read_as_atom_1_0() {
        let feed = parse_feed(&fixture("atom-0.3.xml"), &base(), None).unwrap();
        assert_eq!(
            titles(&feed),
            [
                "Appel à projets 2026 : jeunesse & solidarité",
                "Rencontre des partenaires sahéliens",
                "Bourse Volontariat : inscriptions"
            ]
        );
        assert_eq!(
            links(&feed),
            [
                Some("https://reseau.example.org/appel-2026"),
                Some("https://reseau.example.org/rencontre"),
                Some("https://reseau.example.org/bourse")
            ]
        );
        // issued wins over created, created stands in for it, modified comes last.
        let dates: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.published.unwrap().to_rfc3339())
            .collect();
        assert_eq!(
            dates,
            [
                "2026-03-01T09:00:00+00:00",
                "2026-02-20T14:30:00+00:00",
                "2026-02-10T09:00:00+00:00"
            ]
        );
        let summaries: Vec<&str> = feed.entries.iter().map(|e| e.summary.as_str()).collect();
        assert!(
            summaries[0]
                .contains("<p>Dépôt des dossiers avant le <strong>15 mai 2026</strong>.</p>"),
            "escaped HTML: {summaries:?}"
        );
        assert!(
            summaries[1].contains("<em>Niamey</em>"),
            "inline XHTML: {summaries:?}"
        );
        assert_eq!(
            summaries[2],
            "Inscriptions ouvertes jusqu'au 30 avril 2026."
        );
        assert!(feed.fixes.is_empty(), "{:?}", feed.fixes);
    }

    #[test]
    fn base64_atom_text_is_decoded() {
        let feed = parse_feed(&fixture("atom-base64.xml"), &base(), None).unwrap();
        assert_eq!(
            titles(&feed),
            ["Douze projets retenus", "Calendrier du prochain appel"]
        );
        assert!(
            feed.entries[0]
                .summary
                .starts_with("<p>Le comité a retenu <strong>douze projets</strong>"),
            "{}",
            feed.entries[0].summary
        );
        assert!(feed.entries[0].summary.contains("d\u{2019}Occitanie"));
        assert_eq!(
            feed.entries[1].summary,
            "Résultats détaillés sur le site de la Région."
        );
    }

    #[test]
    fn rss_0_90_and_rss_1_0_items_without_a_link_are_kept_with_none() {
        let old = parse_feed(&fixture("rss-0.90.rdf"), &base(), None).unwrap();
        assert_eq!(
            titles(&old),
            [
                "Journée portes ouvertes le 14 juin",
                "Marché équitable de printemps"
            ]
        );
        assert_eq!(
            links(&old),
            [
                Some("https://solidarites.example.org/portes-ouvertes"),
                None
            ]
        );
        let rdf = parse_feed(&fixture("rss-1.0-no-link.rdf"), &base(), None).unwrap();
        assert_eq!(
            titles(&rdf),
            [
                "Forum des solidarités internationales",
                "Atelier « monter un projet au Sahel »",
                "Conférence sur l\u{2019}eau et l\u{2019}assainissement"
            ]
        );
        assert_eq!(
            links(&rdf),
            [Some("https://agenda.example.org/forum"), None, None]
        );
        assert!(rdf.entries[1].published.is_some());
        assert!(old.fixes.is_empty() && rdf.fixes.is_empty());
        // Without guid or link, the key comes from the title and text: distinct, and stable.
        let facts: Vec<_> = rdf
            .entries
            .iter()
            .map(|e| {
                (
                    e.guid.as_deref(),
                    e.link.as_deref(),
                    e.title.as_str(),
                    e.summary.as_str(),
                )
            })
            .collect();
        let keys = crate::watch::dedup::dedup_keys(&facts);
        assert!(keys[1].starts_with("hash:") && keys[2].starts_with("hash:"));
        assert_ne!(keys[1], keys[2]);
    }

    #[test]
    fn rss_with_a_default_namespace_is_read() {
        let feed = parse_feed(&fixture("rss-default-namespace.xml"), &base(), None).unwrap();
        assert_eq!(
            titles(&feed),
            [
                "Semaine de la solidarité internationale : le programme",
                "Formation des animateurs"
            ]
        );
        assert_eq!(
            links(&feed),
            [
                Some("https://collectif.example.org/semaine-2026"),
                Some("https://collectif.example.org/formation")
            ]
        );
        assert!(feed.entries[0]
            .summary
            .contains("<strong>quarante</strong>"));
        assert!(
            feed.fixes.iter().any(|f| f.contains("espace de noms")),
            "{:?}",
            feed.fixes
        );
    }

    #[test]
    fn atom_links_resolve_against_xml_base() {
        let feed = parse_feed(&fixture("atom-xml-base.xml"), &base(), None).unwrap();
        assert_eq!(
            titles(&feed),
            ["Appel ouvert", "Entrée avec sa propre base"]
        );
        let links: Vec<_> = feed
            .entries
            .iter()
            .map(|e| e.link.clone().unwrap())
            .collect();
        assert_eq!(
            links,
            [
                "https://atom.example.org/actualites/appel-ouvert",
                "https://autre.example.org/blog/billet"
            ]
        );
    }

    #[test]
    fn repeated_guids_give_distinct_keys() {
        let feed = parse_feed(&fixture("duplicate-guids.xml"), &base(), None).unwrap();
        let facts: Vec<_> = feed
            .entries
            .iter()
            .map(|e| (e.guid.as_deref(), e.link.as_deref(), e.title.as_str(), ""))
            .collect();
        let keys = crate::watch::dedup::dedup_keys(&facts);
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1]);
    }

    #[test]
    fn html_pages_and_empty_bodies_are_not_feeds() {
        for body in [fixture("page.html"), b"  \n".to_vec()] {
            let err = parse_feed(&body, &base(), Some("text/html")).unwrap_err();
            assert!(matches!(err, ParseError::NotAFeed(_)), "{err}");
        }
    }
}
