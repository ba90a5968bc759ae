//! Our own identity for entries: normalised guid, else canonical link, else a hash of title
//! and content. Never feed-rs's generated id, which is random when guid and link are missing.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use url::Url;

/// The dedup key of each entry, in order. Guids repeated inside one feed get a suffix from
/// their link (or position), so distinct entries stay distinct.
pub fn dedup_keys(entries: &[(Option<&str>, Option<&str>, &str, &str)]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    entries
        .iter()
        .enumerate()
        .map(|(index, (guid, link, title, content))| {
            let base = match (guid.map(str::trim).filter(|g| !g.is_empty()), link) {
                (Some(guid), _) => format!("guid:{guid}"),
                (None, Some(link)) => format!("link:{}", canonical_link(link)),
                (None, None) => format!("hash:{}", sha256_hex(&format!("{title}\n{content}"))),
            };
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            match (*n, link) {
                (1, _) => base,
                (_, Some(link)) if !base.starts_with("link:") => {
                    format!("{base}|{}", canonical_link(link))
                }
                _ => format!("{base}|{index}"),
            }
        })
        .collect()
}

/// A link without `utm_*` parameters and fragment.
pub fn canonical_link(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw.trim()) else {
        return raw.trim().to_string();
    };
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.to_string()
}

pub fn content_hash(title: &str, summary: &str, link: Option<&str>) -> String {
    sha256_hex(&format!("{title}\n{summary}\n{}", link.unwrap_or("")))
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_parameters_and_fragments_do_not_change_identity() {
        assert_eq!(
            canonical_link("https://Example.org/a?id=3&utm_source=x&utm_medium=y#top"),
            "https://example.org/a?id=3"
        );
    }

    #[test]
    fn keys_prefer_guid_then_link_then_content() {
        let keys = dedup_keys(&[
            (Some(" g1 "), Some("https://e.org/1"), "T", "C"),
            (None, Some("https://e.org/2?utm_source=rss"), "T", "C"),
            (None, None, "T", "C"),
        ]);
        assert_eq!(keys[0], "guid:g1");
        assert_eq!(keys[1], "link:https://e.org/2");
        assert!(keys[2].starts_with("hash:"));
    }

    #[test]
    fn repeated_guids_inside_one_feed_stay_distinct() {
        let keys = dedup_keys(&[
            (Some("same"), Some("https://e.org/1"), "A", ""),
            (Some("same"), Some("https://e.org/2"), "B", ""),
        ]);
        assert_ne!(keys[0], keys[1]);
        // Parsing the same feed again gives the same keys.
        assert_eq!(
            keys,
            dedup_keys(&[
                (Some("same"), Some("https://e.org/1"), "A", ""),
                (Some("same"), Some("https://e.org/2"), "B", ""),
            ])
        );
    }
}
