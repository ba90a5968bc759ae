//! Everything between a fetched body and the store, CPU only: repair, parse, clean, bound,
//! tag, find deadlines, dedup keys and same-story signatures. Runs on a blocking thread under a `Budget`; does no I/O.

use chrono::{DateTime, Utc};
use url::Url;

use super::budget::Budget;
use super::parse::{self, ParseError};
use super::{clean, deadline, dedup, tag};
use crate::config::{SourceConfig, TagRule};
use crate::domain::similar;
use crate::store::{search_text, NewItem};

/// A feed turned into items ready to store.
#[derive(Debug, Default)]
pub struct Digested {
    pub items: Vec<NewItem>,
    pub ttl: Option<std::time::Duration>,
    /// What had to be repaired or left out, in plain words for editors.
    pub fixes: Vec<String>,
}

pub fn digest_feed(
    bytes: &[u8],
    base: &Url,
    content_type: Option<&str>,
    source: &SourceConfig,
    rules: &[TagRule],
    now: DateTime<Utc>,
    budget: &Budget,
) -> Result<Digested, ParseError> {
    let parsed = parse::parse_feed_within(bytes, base, content_type, budget)?;
    let mut cleaned = Vec::with_capacity(parsed.entries.len());
    for (i, raw) in parsed.entries.iter().enumerate() {
        if i % 16 == 0 {
            budget.check()?;
        }
        cleaned.push(clean::clean_entry(raw, base));
    }
    // Keys from the cleaned guid and link, but the published title and summary: the keys of
    // items stored before cleaning changed stay the same.
    let keys = dedup::dedup_keys(
        &parsed
            .entries
            .iter()
            .zip(&cleaned)
            .map(|(raw, c)| {
                (
                    c.guid.as_deref(),
                    c.link.as_deref(),
                    raw.title.as_str(),
                    raw.summary.as_str(),
                )
            })
            .collect::<Vec<_>>(),
    );
    // Keep words and keyword rules folded once for the feed, and each entry's text folded
    // once for them and for its deadline (the folding is the same: `tag::fold`).
    let tagger = tag::Tagger::new(source, rules);
    let items = parsed
        .entries
        .iter()
        .zip(cleaned)
        .zip(keys)
        .filter_map(|((raw, entry), key)| {
            let folded = tag::folded_entry(&entry.title, &entry.summary_text);
            tagger.kept(&folded).then_some((raw, entry, key, folded))
        })
        .map(|(raw, entry, key, folded)| {
            let (themes, countries) = tagger.tags(&folded);
            let reference = raw.published.unwrap_or(now).date_naive();
            let content_hash =
                dedup::content_hash(&entry.title, &entry.summary, entry.link.as_deref());
            let title = if entry.title.is_empty() {
                "(sans titre)".into()
            } else {
                entry.title
            };
            NewItem {
                dedup_key: key,
                content_hash,
                guid: entry.guid,
                url: entry.link,
                signature: similar::signature(&title, &entry.summary_text),
                search_text: search_text(&title, &entry.summary_text),
                title,
                summary: entry.summary,
                summary_text: entry.summary_text,
                published_at: raw.published,
                deadline: deadline::find_deadline_folded(&folded, reference),
                themes,
                countries,
            }
        })
        .collect();
    Ok(Digested {
        items,
        ttl: parsed.ttl,
        fixes: parsed.fixes,
    })
}
