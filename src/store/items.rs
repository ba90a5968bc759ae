//! Watch items and their tags. A feed's entries are stored set-based, in one transaction.

use std::collections::{HashMap, HashSet};

use crate::domain::similar::{self, Signature};
use crate::domain::ItemStatus;
use chrono::{DateTime, NaiveDate, Utc};

use super::desk::search_text;
use super::index::{assign_batch, write_bands, Indexing};
use super::sources::{record_success, FetchSuccess};
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
    /// The words search reads, `search_text(title, summary_text)`: computed with the rest of
    /// the entry on a blocking thread, not while the store holds the write transaction.
    pub search_text: String,
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

/// Rows per multi-row statement: at most 16 bound values a row, far below SQLite's 32,766
/// and PostgreSQL's 65,535 per statement.
const ITEM_ROWS: usize = 500;
const TAG_ROWS: usize = 2000;
const KEY_ROWS: usize = 1000;
const _: () = assert!(ITEM_ROWS * 16 <= 32_766 && TAG_ROWS * 3 <= 32_766 && KEY_ROWS < 32_766);

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

/// A feed's entries to store, and the fetch that brought them, recorded in the same
/// transaction when given.
#[derive(Debug, Clone, Copy)]
pub struct FeedEntries<'a> {
    pub source_id: i64,
    pub items: &'a [NewItem],
    pub fetched: Option<&'a FetchSuccess>,
}

/// The feeds' entries as batches of (feed, run) written together, in order. A run is a part
/// of a feed without a repeated dedup key; a feed's later run starts a new batch, so that it
/// finds its earlier run stored, as if it came in a later poll.
fn batches<'a>(feeds: &[FeedEntries<'a>]) -> Vec<Vec<(usize, &'a [NewItem])>> {
    let mut batches = vec![Vec::new()];
    for (feed, entries) in feeds.iter().enumerate() {
        for (i, run) in runs_of_distinct_keys(entries.items).into_iter().enumerate() {
            if i > 0 {
                batches.push(Vec::new());
            }
            batches.last_mut().expect("one batch").push((feed, run));
        }
    }
    batches.retain(|b| !b.is_empty());
    batches
}

/// A new or changed entry of a batch.
struct Written<'a> {
    source_id: i64,
    item: &'a NewItem,
    outcome: UpsertOutcome,
    /// The row stored before, for a changed entry.
    before: Option<&'a Stored>,
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

/// Runs `$body`, which ends with the commit of `$tx`, in a write transaction: on SQLite on
/// the store's ingest writer, the connection kept between calls (see `IngestWriter`), given
/// up after a failure so that the next call starts on a sound one; on PostgreSQL on a
/// connection of the pool. `$db` names the backend's type in `$body`.
macro_rules! with_ingest_tx {
    ($store:expr, |$tx:ident, $db:ident| $body:expr) => {
        match &$store.pool {
            super::Pool::Sqlite(p) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                let mut held = $store.ingest_writer.lock().await;
                let conn = match held.as_mut() {
                    Some(conn) => conn,
                    None => held.insert(p.acquire().await?),
                };
                let done: sqlx::Result<()> = async {
                    use sqlx::Connection;
                    let mut $tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                    $body
                }
                .await;
                if done.is_err() {
                    held.take();
                }
                done
            }
            super::Pool::Postgres(p) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                async {
                    let mut $tx = p.begin_write().await?;
                    // Committed without waiting for the flush to disk: what a group holds
                    // comes from the feeds and can be fetched again. A crash in the fraction
                    // of a second after the commit (three times `wal_writer_delay`) loses the
                    // group whole, with the fetch records that would have spared the next
                    // poll its download, so the next poll stores the same entries again.
                    // Anything committed later (an editor's triage) flushes it first.
                    sqlx::query("set local synchronous_commit = off")
                        .execute(&mut *$tx)
                        .await?;
                    $body
                }
                .await
            }
        }
    };
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
        let feed = FeedEntries {
            source_id,
            items,
            fetched: None,
        };
        let mut all = self.store_feeds(&[feed]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Stores several feeds' entries in one transaction (group commit: one commit, and on
    /// PostgreSQL one turn of the story lock, for all of them), each as [`Store::store_items`]
    /// would, in order, with the fetch that brought them when given. Returns each feed's
    /// outcomes. Any failure rolls back every feed.
    ///
    /// The new entries of consecutive feeds are written together: their ids are taken first,
    /// so that their stories are known before their rows are, and each row is written once.
    pub async fn store_feeds(&self, feeds: &[FeedEntries<'_>]) -> Result<Vec<Vec<UpsertOutcome>>> {
        let at = self.now();
        let postgres = matches!(self.pool, super::Pool::Postgres(_));
        let mut all: Vec<Vec<UpsertOutcome>> = feeds
            .iter()
            .map(|f| Vec::with_capacity(f.items.len()))
            .collect();
        with_ingest_tx!(self, |tx, Db| {
            for batch in batches(feeds) {
                // Per feed of the batch, its entries already stored.
                let mut stored: Vec<HashMap<String, Stored>> = Vec::with_capacity(batch.len());
                for &(feed, run) in &batch {
                    let mut found = HashMap::new();
                    for part in run.chunks(KEY_ROWS) {
                        let mut qb = sqlx::QueryBuilder::<Db>::new(
                            "select dedup_key, id, content_hash, story_id, edited_title, \
                             edited_summary from items where source_id = ",
                        );
                        qb.push_bind(feeds[feed].source_id)
                            .push(" and dedup_key in ");
                        push_list(&mut qb, part.iter().map(|i| i.dedup_key.as_str()));
                        let rows: Vec<StoredRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
                        found.extend(rows.into_iter().map(|r| (r.0.clone(), Stored::from(r))));
                    }
                    stored.push(found);
                }
                let fresh: usize = batch
                    .iter()
                    .zip(&stored)
                    .map(|((_, run), found)| {
                        run.iter()
                            .filter(|i| !found.contains_key(&i.dedup_key))
                            .count()
                    })
                    .sum();
                let mut ids = if postgres {
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "select nextval(pg_get_serial_sequence('items', 'id')) \
                         from generate_series(1, $1)",
                    )
                    .bind(fresh as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                    ids
                } else {
                    // The write lock is held: the ids after the greatest are free, and are
                    // those SQLite would give.
                    let last: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from items")
                        .fetch_one(&mut *tx)
                        .await?;
                    (last + 1..=last + fresh as i64).collect()
                };
                ids.sort_unstable();
                let mut ids = ids.into_iter();
                // What each entry of the batch does, in order; unchanged ones are only counted.
                let mut written: Vec<Written> = Vec::new();
                for (&(feed, run), found) in batch.iter().zip(&stored) {
                    for item in run {
                        let outcome = match found.get(&item.dedup_key) {
                            Some(s) if s.content_hash == item.content_hash => {
                                all[feed].push(UpsertOutcome::Unchanged(s.id));
                                continue;
                            }
                            Some(s) => UpsertOutcome::Updated(s.id),
                            None => {
                                UpsertOutcome::Inserted(ids.next().ok_or(sqlx::Error::RowNotFound)?)
                            }
                        };
                        all[feed].push(outcome);
                        written.push(Written {
                            source_id: feeds[feed].source_id,
                            item,
                            outcome,
                            before: found.get(&item.dedup_key),
                        });
                    }
                }
                let indexing: Vec<Indexing> = written
                    .iter()
                    .map(|w| Indexing {
                        id: w.outcome.id(),
                        signature: w.item.signature.clone(),
                        story: w.before.and_then(|s| s.story),
                        stored: w.before.is_some(),
                    })
                    .collect();
                let stories = assign_batch(&mut *tx, &indexing).await?;
                let new: Vec<(&Written, i64)> = written
                    .iter()
                    .zip(stories.iter().copied())
                    .filter(|(w, _)| w.before.is_none())
                    .collect();
                for part in new.chunks(ITEM_ROWS) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "insert into items (id, source_id, dedup_key, guid, url, title, summary, \
                         content_hash, published_at, deadline, fetched_at, updated_at, \
                         summary_text, search_text, signature, story_id) ",
                    );
                    if postgres {
                        qb.push("overriding system value ");
                    }
                    qb.push_values(part, |mut row, (w, story)| {
                        let item = w.item;
                        row.push_bind(w.outcome.id())
                            .push_bind(w.source_id)
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
                            .push_bind(&item.search_text)
                            .push_bind(similar::to_bytes(&item.signature))
                            .push_bind(*story);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                // A changed entry keeps its tags and may gain some; a new one has none yet, so
                // its tags, each once, take a plain insert without the conflict check per row.
                for changed in [false, true] {
                    let mut tags: Vec<(i64, &str, &str)> = written
                        .iter()
                        .filter(|w| w.before.is_some() == changed)
                        .flat_map(|w| {
                            let id = w.outcome.id();
                            w.item
                                .themes
                                .iter()
                                .map(move |t| (id, "theme", t.as_str()))
                                .chain(
                                    w.item
                                        .countries
                                        .iter()
                                        .map(move |c| (id, "country", c.as_str())),
                                )
                        })
                        .collect();
                    tags.sort_unstable();
                    tags.dedup();
                    for part in tags.chunks(TAG_ROWS) {
                        let mut qb = sqlx::QueryBuilder::<Db>::new(
                            "insert into item_tags (item_id, kind, value) ",
                        );
                        qb.push_values(part, |mut row, (id, kind, value)| {
                            row.push_bind(*id).push_bind(*kind).push_bind(*value);
                        });
                        if changed {
                            qb.push(" on conflict do nothing");
                        }
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                write_bands(&mut *tx, &indexing).await?;
                for (w, story) in written.iter().zip(stories) {
                    let (item, Some(before)) = (w.item, w.before) else {
                        continue;
                    };
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
                         summary_text = $11, search_text = $12, signature = $13, \
                         story_id = $14 where id = $1",
                    )
                    .bind(w.outcome.id())
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
                    .bind(story)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for feed in feeds {
                if let Some(fetched) = feed.fetched {
                    record_success!(&mut *tx, feed.source_id, fetched, at);
                }
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
