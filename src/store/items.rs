//! Watch items and their tags.

use crate::domain::ItemStatus;
use chrono::{DateTime, NaiveDate, Utc};

use super::{ts, with_pool, BeginWrite, Result, Store, StoreError};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Inserted(i64),
    Updated(i64),
    Unchanged(i64),
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
    /// Inserts a new item, updates one whose content changed (and flags it for editors), or
    /// leaves it alone. The (source, dedup key) constraint makes a concurrent double insert fail
    /// instead of duplicating.
    pub async fn upsert_item(&self, source_id: i64, item: &NewItem) -> Result<UpsertOutcome> {
        let at = self.now();
        let outcome = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let existing: Option<(i64, String)> = sqlx::query_as(
                "select id, content_hash from items where source_id = $1 and dedup_key = $2",
            )
            .bind(source_id)
            .bind(&item.dedup_key)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match existing {
                Some((id, hash)) if hash == item.content_hash => UpsertOutcome::Unchanged(id),
                Some((id, _)) => {
                    sqlx::query(
                        "update items set guid = $2, url = $3, title = $4, summary = $5, \
                         content_hash = $6, published_at = coalesce($7, published_at), \
                         deadline = coalesce($8, deadline), changed = $9, updated_at = $10, \
                         summary_text = $11 where id = $1",
                    )
                    .bind(id)
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
                    .execute(&mut *tx)
                    .await?;
                    UpsertOutcome::Updated(id)
                }
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "insert into items (source_id, dedup_key, guid, url, title, summary, \
                         content_hash, published_at, deadline, fetched_at, updated_at, summary_text) \
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) returning id",
                    )
                    .bind(source_id)
                    .bind(&item.dedup_key)
                    .bind(&item.guid)
                    .bind(&item.url)
                    .bind(&item.title)
                    .bind(&item.summary)
                    .bind(&item.content_hash)
                    .bind(item.published_at.map(ts))
                    .bind(item.deadline)
                    .bind(at)
                    .bind(&item.summary_text)
                    .fetch_one(&mut *tx)
                    .await?;
                    UpsertOutcome::Inserted(id)
                }
            };
            if !matches!(outcome, UpsertOutcome::Unchanged(_)) {
                let id = match outcome {
                    UpsertOutcome::Inserted(id) | UpsertOutcome::Updated(id) | UpsertOutcome::Unchanged(id) => id,
                };
                let tags = item.themes.iter().map(|t| ("theme", t))
                    .chain(item.countries.iter().map(|c| ("country", c)));
                for (kind, value) in tags {
                    sqlx::query(
                        "insert into item_tags (item_id, kind, value) values ($1, $2, $3) \
                         on conflict do nothing",
                    )
                    .bind(id)
                    .bind(kind)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(outcome)
        })
        .map_err(StoreError::from_write)?;
        if let UpsertOutcome::Inserted(id) | UpsertOutcome::Updated(id) = outcome {
            self.index_item(id, &item.title, &item.summary_text).await?;
        }
        Ok(outcome)
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
