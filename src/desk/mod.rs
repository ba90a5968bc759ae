//! The editorial desk: composing issues from watch items and ads, in sections.

pub mod ads;
pub mod compose;
mod preview;
pub mod staff;

pub use preview::{preview_issue, Preview};

use anyhow::{bail, Context};

use crate::audience::Links;
use crate::domain::{IssueStatus, Newsletter, Sections};
use crate::render::model_org_in;
use crate::render::{IssueView, PublicPages};
use crate::store::{IssueRow, Store, StoreError};

/// What `issue add` puts into an issue.
#[derive(Debug, Clone, Copy)]
pub enum EntrySource {
    Item(i64),
    Ad(i64),
}

/// Creates a draft holding what editors selected for the title. An issue of Les Échos du
/// Réseau also starts with every ad that is approved and not expired today.
pub async fn create_issue(
    store: &Store,
    sections: &Sections,
    newsletter: &str,
    subject: Option<&str>,
    today: chrono::NaiveDate,
) -> anyhow::Result<i64> {
    let n = Newsletter::find(newsletter).with_context(|| {
        format!("lettre inconnue « {newsletter} » (coopdev-info ou echos-du-reseau)")
    })?;
    let subject = subject.map(str::to_string).unwrap_or_else(|| {
        // Plain spaces in a header: some clients show no-break spaces as odd glyphs.
        let date = crate::render::french_date(today).replace('\u{a0}', " ");
        format!("{} — {date}", n.name)
    });
    let id = store.create_issue(n.slug, &subject).await?;
    compose::add_selected(store, sections, id, n).await?;
    if n.slug == "echos-du-reseau" {
        for ad in store.current_ads(today).await? {
            store
                .add_entry(id, sections.default_for(n, true), None, Some(ad))
                .await?;
        }
    }
    Ok(id)
}

pub async fn add_to_issue(
    store: &Store,
    sections: &Sections,
    issue_id: i64,
    entry: EntrySource,
    section: Option<&str>,
) -> anyhow::Result<i64> {
    let issue = store
        .issue(issue_id)
        .await
        .map_err(|_| anyhow::anyhow!("numéro {issue_id} introuvable"))?;
    if !matches!(issue.status, IssueStatus::Draft | IssueStatus::Approved) {
        bail!(
            "le numéro {issue_id} est déjà parti ({}) : il ne change plus",
            issue.status
        );
    }
    let n = Newsletter::find(&issue.newsletter).context("unknown newsletter")?;
    let section = match (section, entry) {
        (Some(s), _) => sections.find(n, s).map(|s| s.key).with_context(|| {
            let keys: Vec<&str> = sections.of(n).iter().map(|s| s.key).collect();
            format!(
                "rubrique inconnue « {s} » pour {} (possibles : {})",
                n.slug,
                keys.join(", ")
            )
        })?,
        (None, EntrySource::Item(_)) => sections.default_for(n, false),
        (None, EntrySource::Ad(_)) => sections.default_for(n, true),
    };
    let (item, ad) = match entry {
        EntrySource::Item(id) => {
            store
                .item(id)
                .await
                .map_err(|_| anyhow::anyhow!("élément de veille {id} introuvable"))?;
            (Some(id), None)
        }
        EntrySource::Ad(id) => {
            // Nothing unmoderated reaches subscribers, and ads are the Échos' alone.
            let ad = store
                .ad(id)
                .await
                .map_err(|_| anyhow::anyhow!("annonce {id} introuvable"))?;
            if n.slug != "echos-du-reseau" {
                bail!("les annonces ne paraissent que dans Les Échos du Réseau");
            }
            if ad.state != "approved" {
                bail!(
                    "l'annonce {id} n'est pas validée (état : {}) : elle ne peut pas paraître",
                    ad.state
                );
            }
            (None, Some(id))
        }
    };
    match store.add_entry(issue_id, section, item, ad).await {
        Ok(id) => {
            if let Some(item) = item {
                store
                    .triage(&[item], crate::domain::ItemStatus::Selected, Some(n.slug))
                    .await?;
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

/// What every issue carries besides its entries: who publishes it and how titles are divided.
#[derive(Debug, Clone)]
pub struct Masthead {
    pub organisation: String,
    pub postal_address: String,
    pub sections: Sections,
    pub timezone: chrono_tz::Tz,
}

impl Masthead {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Masthead {
            organisation: config.organisation.clone(),
            postal_address: config.postal_address.clone(),
            sections: config.sections.clone(),
            timezone: config.timezone,
        }
    }
}

/// The issue as subscribers see it, with per-recipient placeholders.
pub async fn issue_view(
    store: &Store,
    links: &Links,
    issue_id: i64,
    masthead: &Masthead,
) -> anyhow::Result<IssueView> {
    let issue = store.issue(issue_id).await?;
    view_of(store, links, &issue, masthead).await
}

/// The same, for an issue row already at hand. An issue that has started sending shows what
/// it said then (its snapshot), never what its items say now.
pub async fn view_of(
    store: &Store,
    links: &Links,
    issue: &IssueRow,
    masthead: &Masthead,
) -> anyhow::Result<IssueView> {
    let issue_id = issue.id;
    let n = Newsletter::find(&issue.newsletter).context("unknown newsletter")?;
    let (issue, entries) = match store.frozen_issue(issue_id).await? {
        Some(frozen) => (
            IssueRow {
                subject: frozen.subject,
                intro: frozen.intro,
                preheader: frozen.preheader,
                ..issue.clone()
            },
            frozen.entries,
        ),
        None => (issue.clone(), store.issue_entries(issue_id).await?),
    };
    // An ad's card links to its page on the board, where its whole text stays while it runs.
    let mut entries = entries;
    for e in entries.iter_mut() {
        if let (Some(ad), None) = (e.ad_id, &e.url) {
            e.url = Some(links.page(&format!("/annonces/{ad}")));
        }
    }
    Ok(IssueView::build(
        n,
        masthead.sections.of(n),
        &issue.subject,
        &issue.intro,
        &entries,
        model_org_in(
            &masthead.organisation,
            &masthead.postal_address,
            masthead.timezone,
        ),
        PublicPages {
            issue: links.issue_page(n.slug, issue_id),
            subscribe: links.page("/"),
            archive: links.page(&format!("/lettres/{}", n.slug)),
            post_ad: links.page("/espace-membre"),
        },
    )
    .with_preheader(&issue.preheader))
}
