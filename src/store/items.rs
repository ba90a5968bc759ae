//! Watch items and their tags. A feed's entries are stored set-based, in one transaction.

use std::collections::{HashMap, HashSet};

use crate::domain::similar::{self, Signature};
use crate::domain::ItemStatus;
use chrono::{DateTime, NaiveDate, Utc};

use super::desk::search_text;
use super::index::{index_batch, Indexing};
use super::{push_list, ts, with_pool, BeginWrite, Result, Store, StoreError};

/// An entry after cleaning, ready to store.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    pub dedup_key: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: String,
    pub summary: String,
    /// The summary's plain text, computed once at ingest.
    pub summary_text: String,
    pub content_hash: String,
    pub published_at: Option<DateTime<Utc>>,
    pub deadline: Option<NaiveDate>,
    pub themes: Vec<String>,
    pub countries: Vec<String>,
    /// The MinHash signature of its title and text (`domain::similar`), for stories.
    pub signature: Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Inserted(i64),
    Updated(i64),
    Unchanged(i64),
}

impl UpsertOutcome {
    /// The item's id.
    pub fn id(self) -> i64 {
        match self {
            Self::Inserted(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

/// Rows per multi-row statement: at most 14 bound values a row, far below SQLite's 32,766
/// and PostgreSQL's 65,535 per statement.
const ITEM_ROWS: usize = 500;
const TAG_ROWS: usize = 2000;
const KEY_ROWS: usize = 1000;
const _: () = assert!(ITEM_ROWS * 14 <= 32_766 && TAG_ROWS * 3 <= 32_766 && KEY_ROWS < 32_766);

/// An item already stored under a key of the feed, as `store_items` reads it.
type StoredRow = (
    String,
    i64,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
);

struct Stored {
    id: i64,
    content_hash: String,
    story: Option<i64>,
    edited_title: Option<String>,
    edited_summary: Option<String>,
}

impl From<StoredRow> for Stored {
    fn from((_, id, content_hash, story, edited_title, edited_summary): StoredRow) -> Self {
        Stored {
            id,
            content_hash,
            story,
            edited_title,
            edited_summary,
        }
    }
}

/// The entries cut into runs without a repeated dedup key, in order.
fn runs_of_distinct_keys(items: &[NewItem]) -> Vec<&[NewItem]> {
    let mut runs = Vec::new();
    let (mut start, mut seen) = (0, HashSet::new());
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(item.dedup_key.as_str()) {
            runs.push(&items[start..i]);
            start = i;
            seen.clear();
            seen.insert(item.dedup_key.as_str());
        }
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ItemRow {
    pub id: i64,
    pub source: String,
    pub source_name: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: String,
    pub summary: String,
    /// Plain text of the summary; null only for items stored before it was kept.
    pub summary_text: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub deadline: Option<NaiveDate>,
    pub status: ItemStatus,
    pub changed: bool,
    pub fetched_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub themes: Vec<String>,
    #[sqlx(skip)]
    pub countries: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub source: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
}

const SELECT: &str = "select i.id, s.slug as source, s.name as source_name, i.guid, i.url, \
    i.title, i.summary, i.summary_text, i.published_at, i.deadline, i.status, i.changed, i.fetched_at \
    from items i join sources s on s.id = i.source_id";

impl Store {
    /// Stores a feed's entries in one transaction: inserts the new ones, updates those whose
    /// content changed (and flags them for editors), leaves the others alone, and indexes the
    /// new and changed ones for the desk (search words, band keys, story). Returns each
    /// entry's outcome, in order. The (source, dedup key) constraint makes a concurrent double
    /// insert fail instead of duplicating.
    pub async fn store_items(
        &self,
        source_id: i64,
        items: &[NewItem],
    ) -> Result<Vec<UpsertOutcome>> {
        let mut all = self.store_feeds(&[(source_id, items)]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Stores several feeds' entries in one transaction (group commit: one commit, and on
    /// PostgreSQL one turn of the story lock, for all of them), each as [`Store::store_items`]
    /// would, in order. Returns each feed's outcomes. Any failure rolls back every feed.
    pub async fn store_feeds(
        &self,
        feeds: &[(i64, &[NewItem])],
    ) -> Result<Vec<Vec<UpsertOutcome>>> {
        let at = self.now();
        let postgres = matches!(self.pool, super::Pool::Postgres(_));
        let mut all = Vec::with_capacity(feeds.len());
        with_pool!(self, |p, Db| {
            let mut tx = p.begin_write().await?;
            for &(source_id, items) in feeds {
                let mut outcomes = Vec::with_capacity(items.len());
                // A key met again in the same feed is stored after the entries before it, as if it
                // came in a later poll: each run holds distinct keys.
                for run in runs_of_distinct_keys(items) {
                    let mut stored: HashMap<String, Stored> = HashMap::new();
                    for part in run.chunks(KEY_ROWS) {
                        let mut qb = sqlx::QueryBuilder::<Db>::new(
                            "select dedup_key, id, content_hash, story_id, edited_title, \
                         edited_summary from items where source_id = ",
                        );
                        qb.push_bind(source_id).push(" and dedup_key in ");
                        push_list(&mut qb, part.iter().map(|i| i.dedup_key.as_str()));
                        let rows: Vec<StoredRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
                        stored.extend(rows.into_iter().map(|r| (r.0.clone(), Stored::from(r))));
                    }
                    let fresh: Vec<&NewItem> = run
                        .iter()
                        .filter(|i| !stored.contains_key(&i.dedup_key))
                        .collect();
                    let mut ids: HashMap<String, i64> = HashMap::new();
                    for part in fresh.chunks(ITEM_ROWS) {
                        let mut qb = sqlx::QueryBuilder::<Db>::new(
                            "insert into items (source_id, dedup_key, guid, url, title, summary, \
                         content_hash, published_at, deadline, fetched_at, updated_at, \
                         summary_text, search_text, signature) ",
                        );
                        qb.push_values(part, |mut row, item| {
                            row.push_bind(source_id)
                                .push_bind(&item.dedup_key)
                                .push_bind(&item.guid)
                                .push_bind(&item.url)
                                .push_bind(&item.title)
                                .push_bind(&item.summary)
                                .push_bind(&item.content_hash)
                                .push_bind(item.published_at.map(ts))
                                .push_bind(item.deadline)
                                .push_bind(at)
                                .push_bind(at)
                                .push_bind(&item.summary_text)
                                .push_bind(search_text(&item.title, &item.summary_text))
                                .push_bind(similar::to_bytes(&item.signature));
                        });
                        qb.push(" returning dedup_key, id");
                        let rows: Vec<(String, i64)> =
                            qb.build_query_as().fetch_all(&mut *tx).await?;
                        ids.extend(rows);
                    }
                    // What each entry of the run does, in order; `None` for an unchanged one.
                    let mut written: Vec<(&NewItem, UpsertOutcome, Option<&Stored>)> = Vec::new();
                    for item in run {
                        let outcome = match stored.get(&item.dedup_key) {
                            Some(s) if s.content_hash == item.content_hash => {
                                outcomes.push(UpsertOutcome::Unchanged(s.id));
                                continue;
                            }
                            Some(s) => (UpsertOutcome::Updated(s.id), Some(s)),
                            None => {
                                let id =
                                    *ids.get(&item.dedup_key).ok_or(sqlx::Error::RowNotFound)?;
                                (UpsertOutcome::Inserted(id), None)
                            }
                        };
                        outcomes.push(outcome.0);
                        written.push((item, outcome.0, outcome.1));
                    }
                    let tags: Vec<(i64, &str, &str)> = written
                        .iter()
                        .flat_map(|(item, outcome, _)| {
                            let id = outcome.id();
                            item.themes
                                .iter()
                                .map(move |t| (id, "theme", t.as_str()))
                                .chain(
                                    item.countries
                                        .iter()
                                        .map(move |c| (id, "country", c.as_str())),
                                )
                        })
                        .collect();
                    for part in tags.chunks(TAG_ROWS) {
                        let mut qb = sqlx::QueryBuilder::<Db>::new(
                            "insert into item_tags (item_id, kind, value) ",
                        );
                        qb.push_values(part, |mut row, (id, kind, value)| {
                            row.push_bind(*id).push_bind(*kind).push_bind(*value);
                        });
                        qb.push(" on conflict do nothing");
                        qb.build().execute(&mut *tx).await?;
                    }
                    let batch: Vec<Indexing> = written
                        .iter()
                        .map(|(item, outcome, before)| Indexing {
                            id: outcome.id(),
                            signature: item.signature.clone(),
                            story: before.and_then(|s| s.story),
                            stored: before.is_some(),
                        })
                        .collect();
                    index_batch!(tx, postgres, &batch);
                    for (item, outcome, before) in &written {
                        let Some(before) = before else { continue };
                        // Search reads the editor's words where there are some.
                        let search = search_text(
                            before.edited_title.as_deref().unwrap_or(&item.title),
                            before
                                .edited_summary
                                .as_deref()
                                .unwrap_or(&item.summary_text),
                        );
                        sqlx::query(
                            "update items set guid = $2, url = $3, title = $4, summary = $5, \
                         content_hash = $6, published_at = coalesce($7, published_at), \
                         deadline = coalesce($8, deadline), changed = $9, updated_at = $10, \
                         summary_text = $11, search_text = $12, signature = $13 where id = $1",
                        )
                        .bind(outcome.id())
                        .bind(&item.guid)
                        .bind(&item.url)
                        .bind(&item.title)
                        .bind(&item.summary)
                        .bind(&item.content_hash)
                        .bind(item.published_at.map(ts))
                        .bind(item.deadline)
                        .bind(true)
                        .bind(at)
                        .bind(&item.summary_text)
                        .bind(&search)
                        .bind(similar::to_bytes(&item.signature))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                all.push(outcomes);
            }
            tx.commit().await
        })
        .map_err(StoreError::from_write)?;
        Ok(all)
    }

    /// Newest first.
    pub async fn list_items(&self, filter: &ItemFilter) -> Result<Vec<ItemRow>> {
        let sql = format!(
            "{SELECT} where ($1 is null or s.slug = $1) and ($2 is null or i.status = $2) \
             order by coalesce(i.published_at, i.fetched_at) desc, i.id desc limit $3"
        );
        let mut rows: Vec<ItemRow> = with_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(&filter.source)
                .bind(&filter.status)
                .bind(filter.limit)
                .fetch_all(p)
                .await
        })?;
        self.attach_tags(&mut rows).await?;
        Ok(rows)
    }

    pub async fn item(&self, id: i64) -> Result<ItemRow> {
        let sql = format!("{SELECT} where i.id = $1");
        let row: Option<ItemRow> = with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        let mut rows = vec![row.ok_or(StoreError::NotFound)?];
        self.attach_tags(&mut rows).await?;
        Ok(rows.remove(0))
    }

    /// (id, source slug, title, summary text) of up to `limit` items after `after`, by id:
    /// what tagging reads.
    pub async fn items_to_tag(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, s.slug, i.title, coalesce(i.summary_text, '') from items i \
                 join sources s on s.id = i.source_id where i.id > $1 and i.tags_edited = $3 \
                 order by i.id limit $2",
            )
            .bind(after)
            .bind(limit)
            .bind(false)
            .fetch_all(p)
            .await
        })?)
    }

    /// Replaces an item's themes and countries; says whether they changed.
    pub async fn replace_item_tags(
        &self,
        id: i64,
        themes: &[String],
        countries: &[String],
    ) -> Result<bool> {
        let mut wanted: Vec<(&str, &str)> = themes
            .iter()
            .map(|t| ("theme", t.as_str()))
            .chain(countries.iter().map(|c| ("country", c.as_str())))
            .collect();
        wanted.sort();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut current: Vec<(String, String)> =
                sqlx::query_as("select kind, value from item_tags where item_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            current.sort();
            let same = current.len() == wanted.len()
                && current
                    .iter()
                    .zip(&wanted)
                    .all(|((k, v), (wk, wv))| k == wk && v == wv);
            if same {
                return Ok(false);
            }
            sqlx::query("delete from item_tags where item_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for (kind, value) in &wanted {
                sqlx::query("insert into item_tags (item_id, kind, value) values ($1, $2, $3)")
                    .bind(id)
                    .bind(kind)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        })
        .map_err(StoreError::from_write)
    }

    pub async fn items_without_text(&self, limit: i64) -> Result<Vec<(i64, String, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, i.summary, s.url from items i join sources s on s.id = i.source_id \
                 where i.summary_text is null order by i.id limit $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await
        })?)
    }

    /// Replaces an old item's summary by its bounded form and records its plain text. The
    /// content hash stays: the entry itself did not change.
    pub async fn set_item_text(&self, id: i64, summary: &str, text: &str) -> Result<()> {
        with_pool!(self, |p| {
            sqlx::query("update items set summary = $2, summary_text = $3 where id = $1")
                .bind(id)
                .bind(summary)
                .bind(text)
                .execute(p)
                .await
                .map(|_| ())
        })
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    pub async fn set_item_status(&self, id: i64, status: &str) -> Result<()> {
        let done = with_pool!(self, |p| {
            sqlx::query("update items set status = $2, changed = $3, updated_at = $4 where id = $1")
                .bind(id)
                .bind(status)
                .bind(false)
                .bind(self.now())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn attach_tags(&self, rows: &mut [ItemRow]) -> Result<()> {
        let mut tags = self.tags_of(rows.iter().map(|r| r.id)).await?;
        for row in rows.iter_mut() {
            (row.themes, row.countries) = tags.remove(&row.id).unwrap_or_default();
        }
        Ok(())
    }

    /// The themes and countries of these items, by item, each list sorted.
    pub(super) async fn tags_of(
        &self,
        ids: impl Iterator<Item = i64>,
    ) -> Result<std::collections::HashMap<i64, (Vec<String>, Vec<String>)>> {
        let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
        let mut by_item = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(by_item);
        }
        // Ids are integers from the database itself, so inlining them is safe.
        let sql = format!(
            "select item_id, kind, value from item_tags where item_id in ({}) order by value",
            ids.join(",")
        );
        let tags: Vec<(i64, String, String)> =
            with_pool!(self, |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        for (item, kind, value) in tags {
            let (themes, countries): &mut (Vec<String>, Vec<String>) =
                by_item.entry(item).or_default();
            match kind.as_str() {
                "theme" => themes.push(value),
                _ => countries.push(value),
            }
        }
        Ok(by_item)
    }
}
