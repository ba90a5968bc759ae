//! The editorial desk: composing issues from watch items and ads, in sections.

pub mod ads;
pub mod compose;
mod preview;
pub mod staff;

pub use preview::{preview_issue, Preview};

use anyhow::Context;

use crate::audience::Links;
use crate::domain::{IssueStatus, Newsletter, Sections};
use crate::render::model_org_in;
use crate::render::{IssueView, PublicPages};
use crate::store::{IssueRow, Store, StoreError};

/// The one title that carries members' ads.
const ECHOS: &str = "echos-du-reseau";

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
    if n.slug == ECHOS {
        for ad in store.current_ads(today).await? {
            store
                .add_entry(id, sections.default_for(n, true), None, Some(ad))
                .await?;
        }
    }
    Ok(id)
}

/// Why an entry was not added; the text is French, for the CLI's and the API's users.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("numéro {0} introuvable")]
    NoIssue(i64),
    #[error("le numéro {0} est déjà parti ({1}) : il ne change plus")]
    Frozen(i64, IssueStatus),
    #[error("rubrique inconnue « {section} » pour {newsletter} (possibles : {known})")]
    UnknownSection {
        section: String,
        newsletter: &'static str,
        known: String,
    },
    #[error("élément de veille {0} introuvable")]
    NoItem(i64),
    #[error("annonce {0} introuvable")]
    NoAd(i64),
    /// Nothing unmoderated reaches subscribers.
    #[error(
        "l'annonce {0} n'est pas validée : seules les annonces validées et en cours paraissent"
    )]
    AdNotApproved(i64),
    #[error("les annonces ne paraissent que dans Les Échos du Réseau")]
    AdOutsideEchos,
    #[error("déjà dans le numéro {0}")]
    AlreadyThere(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Where an entry went.
#[derive(Debug, Clone)]
pub struct AddedEntry {
    pub id: i64,
    pub section: String,
    /// Its place in the section, from 1.
    pub position: i64,
}

/// Adds an item or an approved ad to an issue that has not gone out, in `section` or the
/// title's default one. An item added is marked selected.
pub async fn add_to_issue(
    store: &Store,
    sections: &Sections,
    issue_id: i64,
    entry: EntrySource,
    section: Option<&str>,
) -> Result<AddedEntry, EntryError> {
    let issue = match store.issue(issue_id).await {
        Err(StoreError::NotFound) => return Err(EntryError::NoIssue(issue_id)),
        other => other?,
    };
    if !matches!(issue.status, IssueStatus::Draft | IssueStatus::Approved) {
        return Err(EntryError::Frozen(issue_id, issue.status));
    }
    let n = Newsletter::find(&issue.newsletter).context("unknown newsletter")?;
    let section = match (section, entry) {
        (Some(s), _) => match sections.find(n, s) {
            Some(found) => found.key,
            None => {
                let keys: Vec<&str> = sections.of(n).iter().map(|s| s.key).collect();
                return Err(EntryError::UnknownSection {
                    section: s.to_string(),
                    newsletter: n.slug,
                    known: keys.join(", "),
                });
            }
        },
        (None, EntrySource::Item(_)) => sections.default_for(n, false),
        (None, EntrySource::Ad(_)) => sections.default_for(n, true),
    };
    let (item, ad) = match entry {
        EntrySource::Item(id) => match store.item(id).await {
            Ok(_) => (Some(id), None),
            Err(StoreError::NotFound) => return Err(EntryError::NoItem(id)),
            Err(e) => return Err(e.into()),
        },
        EntrySource::Ad(id) => {
            let ad = match store.ad(id).await {
                Err(StoreError::NotFound) => return Err(EntryError::NoAd(id)),
                other => other?,
            };
            if n.slug != ECHOS {
                return Err(EntryError::AdOutsideEchos);
            }
            if ad.state != "approved" {
                return Err(EntryError::AdNotApproved(id));
            }
            (None, Some(id))
        }
    };
    let id = match store.add_entry(issue_id, section, item, ad).await {
        Err(StoreError::Conflict(_)) => return Err(EntryError::AlreadyThere(issue_id)),
        other => other?,
    };
    if let Some(item) = item {
        store
            .triage(&[item], crate::domain::ItemStatus::Selected, Some(n.slug))
            .await?;
    }
    let position = store
        .issue_entries(issue_id)
        .await?
        .iter()
        .filter(|e| e.section == section)
        .position(|e| e.id == id)
        .map_or(0, |p| p as i64 + 1);
    Ok(AddedEntry {
        id,
        section: section.to_string(),
        position,
    })
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
