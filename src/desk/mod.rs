//! The editorial desk: composing issues from watch items and ads, in sections.

mod preview;

pub use preview::{preview_issue, Preview};

use anyhow::{bail, Context};

use crate::audience::Links;
use crate::domain::Newsletter;
use crate::render::model_org;
use crate::render::{IssueView, PublicPages};
use crate::store::{Store, StoreError};

/// What `issue add` puts into an issue.
#[derive(Debug, Clone, Copy)]
pub enum EntrySource {
    Item(i64),
    Ad(i64),
}

/// Creates a draft. An issue of Les Échos du Réseau starts with every ad that is approved and
/// not expired today.
pub async fn create_issue(
    store: &Store,
    newsletter: &str,
    subject: Option<&str>,
    today: chrono::NaiveDate,
) -> anyhow::Result<i64> {
    let n = Newsletter::find(newsletter).with_context(|| {
        format!("lettre inconnue « {newsletter} » (coopdev-info ou echos-du-reseau)")
    })?;
    let subject = subject
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} du {}", n.name, crate::render::french_date(today)));
    let id = store.create_issue(n.slug, &subject).await?;
    if n.slug == "echos-du-reseau" {
        for ad in store.current_ads(today).await? {
            store
                .add_entry(id, n.default_ad_section, None, Some(ad))
                .await?;
        }
    }
    Ok(id)
}

pub async fn add_to_issue(
    store: &Store,
    issue_id: i64,
    entry: EntrySource,
    section: Option<&str>,
) -> anyhow::Result<i64> {
    let issue = store
        .issue(issue_id)
        .await
        .map_err(|_| anyhow::anyhow!("numéro {issue_id} introuvable"))?;
    if issue.status != "draft" && issue.status != "approved" {
        bail!(
            "le numéro {issue_id} est déjà parti ({}) : il ne change plus",
            issue.status
        );
    }
    let n = Newsletter::find(&issue.newsletter).context("unknown newsletter")?;
    let section = match (section, entry) {
        (Some(s), _) => n.section(s).map(|s| s.key).with_context(|| {
            let keys: Vec<&str> = n.sections.iter().map(|s| s.key).collect();
            format!(
                "rubrique inconnue « {s} » pour {} (possibles : {})",
                n.slug,
                keys.join(", ")
            )
        })?,
        (None, EntrySource::Item(_)) => n.default_item_section,
        (None, EntrySource::Ad(_)) => n.default_ad_section,
    };
    let (item, ad) = match entry {
        EntrySource::Item(id) => {
            store
                .item(id)
                .await
                .map_err(|_| anyhow::anyhow!("élément de veille {id} introuvable"))?;
            (Some(id), None)
        }
        EntrySource::Ad(id) => (None, Some(id)),
    };
    match store.add_entry(issue_id, section, item, ad).await {
        Ok(id) => {
            if let Some(item) = item {
                store.set_item_status(item, "selected").await?;
            }
            Ok(id)
        }
        Err(StoreError::Conflict(_)) => bail!("déjà dans le numéro {issue_id}"),
        Err(StoreError::Database(e))
            if e.as_database_error()
                .is_some_and(|d| d.is_foreign_key_violation()) =>
        {
            bail!("annonce introuvable")
        }
        Err(e) => Err(e.into()),
    }
}

/// The issue as subscribers see it, with per-recipient placeholders.
pub async fn issue_view(
    store: &Store,
    links: &Links,
    issue_id: i64,
    organisation: &str,
    postal_address: &str,
) -> anyhow::Result<IssueView> {
    let issue = store.issue(issue_id).await?;
    let n = Newsletter::find(&issue.newsletter).context("unknown newsletter")?;
    let entries = store.issue_entries(issue_id).await?;
    Ok(IssueView::build(
        n,
        &issue,
        &entries,
        model_org(organisation, postal_address),
        PublicPages {
            issue: links.issue_page(n.slug, issue_id),
            subscribe: links.page("/"),
            archive: links.page(&format!("/lettres/{}", n.slug)),
        },
    ))
}
