//! What editors see before sending: the issue as a subscriber of a segment would receive it.

use anyhow::Context;

use crate::audience::Links;
use crate::domain::Interests;
use crate::render::{Recipient, Renderer};
use crate::store::{IssueRow, Store};

/// A preview: the subject, and the HTML and text parts as they would be sent.
pub struct Preview {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The issue as a reader whose interests are the segment's filters would get it (the whole
/// issue without a segment). Personal links point to the home page: nobody's token leaks.
pub async fn preview_issue(
    store: &Store,
    links: &Links,
    renderer: &Renderer,
    issue: &IssueRow,
    segment: Option<&str>,
    masthead: &super::Masthead,
) -> anyhow::Result<Preview> {
    let view = super::view_of(store, links, issue, masthead).await?;
    let interests = match segment {
        Some(slug) => {
            let (id, newsletter) = store
                .segment(slug)
                .await
                .with_context(|| format!("segment « {slug} » introuvable"))?;
            anyhow::ensure!(
                newsletter == view.newsletter.slug,
                "le segment « {slug} » appartient à {newsletter}"
            );
            store.segment_interests(id).await?
        }
        None => Interests::default(),
    };
    let rendered = renderer.render_issue(&view.for_interests(&interests))?;
    let home = links.page("/");
    let (html, text) = rendered.personalise(&Recipient {
        name: "",
        unsubscribe_url: &home,
        preferences_url: &home,
    });
    Ok(Preview {
        subject: rendered.subject,
        html,
        text,
    })
}
