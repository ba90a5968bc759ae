//! What an issue holds: its entries (watch items or ads in sections), as the renderer reads
//! them and as a sent issue's snapshot keeps them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One entry as the renderer needs it: the item's or ad's own text unless the editor
/// overrode it for this issue.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize)]
pub struct IssueEntry {
    pub id: i64,
    pub section: String,
    pub position: i64,
    pub item_id: Option<i64>,
    pub ad_id: Option<i64>,
    pub title: String,
    pub summary: String,
    pub url: Option<String>,
    pub source_name: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub deadline: Option<NaiveDate>,
    pub category: Option<String>,
    pub org_name: Option<String>,
    pub departement: Option<String>,
    pub expires_on: Option<NaiveDate>,
    /// An editor's own text block: its sanitised HTML (from Markdown); `None` for items and ads.
    #[serde(default)]
    #[sqlx(default)]
    pub body_html: Option<String>,
    /// How to answer an ad, as its member chose to show it.
    #[serde(default)]
    #[sqlx(default)]
    pub contact_email: Option<String>,
    #[serde(default)]
    #[sqlx(default)]
    pub contact_phone: Option<String>,
    /// The watch item's themes and countries (interest filtering); filled after the query.
    #[sqlx(skip)]
    pub themes: Vec<String>,
    #[sqlx(skip)]
    pub countries: Vec<String>,
}
