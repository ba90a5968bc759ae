//! What the desk's buttons do beyond a single write: an editor's text blocks written in
//! Markdown, selecting items for the next issue of a title, approving, testing.

use anyhow::Context;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use url::Url;

use crate::domain::{IssueStatus, ItemStatus, Newsletter, Sections};
use crate::store::{Store, StoreError};

/// A text block at most this long (Markdown characters).
pub const MAX_BLOCK_CHARS: usize = 10_000;

/// A text block ready to store: sanitised HTML, and the plain text of the text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub html: String,
    pub text: String,
}

/// Markdown as the editor wrote it, to HTML through the same sanitiser as feeds (links and
/// images must be http or https; relative ones resolve against the public site), and to the
/// plain text of the text part (links written after their words).
pub fn markdown_block(markdown: &str, base: &Url) -> Block {
    let options = Options::ENABLE_STRIKETHROUGH;
    let mut raw = String::new();
    pulldown_cmark::html::push_html(&mut raw, Parser::new_ext(markdown, options));
    let html = crate::watch::clean::clean_summary(&raw, base);
    Block {
        html,
        text: markdown_text(markdown, options),
    }
}

fn markdown_text(markdown: &str, options: Options) -> String {
    let mut out = String::new();
    let mut links: Vec<String> = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) => out.push_str("- "),
            Event::End(TagEnd::Item) => out.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop() {
                    if url.starts_with("http://") || url.starts_with("https://") {
                        out.push_str(&format!(" ({url})"));
                    }
                }
            }
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::List(_)) => {
                out.push_str("\n\n")
            }
            _ => {}
        }
    }
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let mut text = lines.join("\n");
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text.trim().to_string()
}

/// Selects items for the next issue of a title: they go into that title's newest open issue
/// (draft or approved) if there is one, else they wait for the next one. Returns the issue
/// they went into.
pub async fn select_items(
    store: &Store,
    sections: &Sections,
    ids: &[i64],
    newsletter: &'static Newsletter,
) -> anyhow::Result<Option<i64>> {
    store
        .triage(ids, ItemStatus::Selected, Some(newsletter.slug))
        .await?;
    let open = store
        .open_issues()
        .await?
        .into_iter()
        .filter(|i| i.newsletter == newsletter.slug)
        .find(|i| matches!(i.status, IssueStatus::Draft | IssueStatus::Approved));
    let Some(issue) = open else {
        return Ok(None);
    };
    add_selected(store, sections, issue.id, newsletter).await?;
    Ok(Some(issue.id))
}

/// Puts what was selected for the title and is in none of its issues into `issue`, one item
/// per story (the first one seen), in the title's usual section.
pub async fn add_selected(
    store: &Store,
    sections: &Sections,
    issue: i64,
    newsletter: &'static Newsletter,
) -> anyhow::Result<usize> {
    let section = sections.default_for(newsletter, false);
    let mut stories = std::collections::HashSet::new();
    let mut added = 0;
    for item in store.selected_for(newsletter.slug).await? {
        if !stories.insert(item.story_id) {
            continue;
        }
        match store.add_entry(issue, section, Some(item.id), None).await {
            Ok(_) => added += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e).context("adding a selected item"),
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://lettres.example.org/").unwrap()
    }

    #[test]
    fn markdown_becomes_sanitised_html_and_readable_text() {
        let b = markdown_block(
            "Bonjour à **toutes et tous**.\n\nLisez [le rapport](https://example.org/r) :\n\n- un\n- deux\n",
            &base(),
        );
        assert!(
            b.html.contains("<strong>toutes et tous</strong>"),
            "{}",
            b.html
        );
        assert!(
            b.html.contains("href=\"https://example.org/r\""),
            "{}",
            b.html
        );
        assert_eq!(
            b.text,
            "Bonjour à toutes et tous.\n\nLisez le rapport (https://example.org/r) :\n\n- un\n- deux"
        );
    }

    #[test]
    fn html_and_scripts_in_markdown_do_not_survive() {
        let b = markdown_block(
            "<script>alert(1)</script><img src=x onerror=alert(1)>\n\n[clic](javascript:alert(1)) <b onclick=\"x\">gras</b>",
            &base(),
        );
        for bad in ["<script", "onerror", "javascript:", "onclick"] {
            assert!(!b.html.contains(bad), "{bad} in {}", b.html);
        }
        assert!(!b.text.contains("javascript:"), "{}", b.text);
    }
}
