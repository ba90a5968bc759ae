//! Feed sources and their fetch state.

use crate::domain::SourceState;
use chrono::{DateTime, Utc};

use super::{ts, with_pool, BeginWrite, Result, Store, StoreError};
use crate::config::SourceConfig;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub url: String,
    pub effective_url: Option<String>,
    pub enabled: bool,
    pub state: SourceState,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body_hash: Option<String>,
    pub last_fetched_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_unconditional_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub failing_since: Option<DateTime<Utc>>,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub item_count: i64,
    /// Paused from the desk: not polled until resumed.
    pub paused_at: Option<DateTime<Utc>>,
}

impl SourceRow {
    /// The URL to fetch: the configured one, or where it permanently moved.
    pub fn url_in_use(&self) -> &str {
        self.effective_url.as_deref().unwrap_or(&self.url)
    }
}

const SELECT: &str = "select s.id, s.slug, s.name, s.url, s.effective_url, s.enabled, s.state, \
    s.etag, s.last_modified, s.body_hash, s.last_fetched_at, s.last_success_at, \
    s.last_unconditional_at, s.last_error, s.consecutive_failures, s.failing_since, \
    s.next_poll_at, (select count(*) from items i where i.source_id = s.id) as item_count, \
    s.paused_at \
    from sources s";

/// What a successful poll leaves behind.
#[derive(Debug, Clone, Default)]
pub struct FetchSuccess {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body_hash: Option<String>,
    /// Set when every redirect hop was permanent.
    pub moved_to: Option<String>,
    pub unconditional: bool,
    pub next_poll_at: DateTime<Utc>,
    /// What had to be repaired in the feed, kept as the source's last error while it is ok.
    pub warning: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FetchFailure {
    pub error: String,
    pub next_poll_at: DateTime<Utc>,
    /// Gone for good (410) or failing for too long.
    pub disable: bool,
}

/// Records a successful fetch of source `$id` (a [`FetchSuccess`]) at `$at`, through `$e`: a
/// pool, or a transaction that also stores the feed's entries.
macro_rules! record_success {
    ($e:expr, $id:expr, $ok:expr, $at:expr) => {{
        let ok: &$crate::store::FetchSuccess = $ok;
        sqlx::query(
            "update sources set state = 'ok', etag = $2, last_modified = $3, \
             body_hash = coalesce($4, body_hash), effective_url = coalesce($5, effective_url), \
             last_fetched_at = $6, last_success_at = $6, \
             last_unconditional_at = case when $7 then $6 else last_unconditional_at end, \
             last_error = $9, consecutive_failures = 0, failing_since = null, \
             next_poll_at = $8, updated_at = $6 where id = $1",
        )
        .bind($id)
        .bind(&ok.etag)
        .bind(&ok.last_modified)
        .bind(&ok.body_hash)
        .bind(&ok.moved_to)
        .bind($at)
        .bind(ok.unconditional)
        .bind($crate::store::ts(ok.next_poll_at))
        .bind(&ok.warning)
        .execute($e)
        .await?;
    }};
}
pub(super) use record_success;

impl Store {
    /// Brings the table in line with `sources.toml`: new slugs are added, known ones get the
    /// file's name, URL and title. A changed URL forgets the old redirect and validators.
    /// Sources no longer in the file are disabled, never deleted (their items stay).
    pub async fn sync_sources(&self, sources: &[SourceConfig]) -> Result<()> {
        self.upsert_sources(sources, true).await
    }

    /// Adds or updates one source (from the desk), leaving the others as they are.
    pub async fn sync_source(&self, source: &SourceConfig) -> Result<()> {
        self.upsert_sources(std::slice::from_ref(source), false)
            .await
    }

    async fn upsert_sources(&self, sources: &[SourceConfig], disable_others: bool) -> Result<()> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            if disable_others {
                sqlx::query("update sources set enabled = $1, updated_at = $2")
                    .bind(false)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            for s in sources {
                sqlx::query(
                    "insert into sources (slug, name, url, newsletter_id, enabled, created_at, updated_at) \
                     values ($1, $2, $3, (select id from newsletters where slug = $4), $5, $6, $6) \
                     on conflict (slug) do update set name = excluded.name, \
                       newsletter_id = excluded.newsletter_id, enabled = excluded.enabled, \
                       effective_url = case when sources.url = excluded.url then sources.effective_url end, \
                       etag = case when sources.url = excluded.url then sources.etag end, \
                       last_modified = case when sources.url = excluded.url then sources.last_modified end, \
                       url = excluded.url, updated_at = excluded.updated_at",
                )
                .bind(&s.slug)
                .bind(&s.name)
                .bind(s.url.as_str())
                .bind(s.newsletter)
                .bind(s.enabled)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    pub async fn list_sources(&self) -> Result<Vec<SourceRow>> {
        let sql = format!("{SELECT} order by s.slug");
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await)?)
    }

    pub async fn source_by_slug(&self, slug: &str) -> Result<SourceRow> {
        let sql = format!("{SELECT} where s.slug = $1");
        let row = with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(slug)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)
    }

    /// Enabled, not disabled, and due now (or never polled).
    pub async fn due_sources(&self, at: DateTime<Utc>) -> Result<Vec<SourceRow>> {
        let sql = format!(
            "{SELECT} where s.enabled = $1 and s.state <> 'disabled' and s.paused_at is null \
             and (s.next_poll_at is null or s.next_poll_at <= $2) order by s.next_poll_at, s.id"
        );
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(true)
            .bind(ts(at))
            .fetch_all(p)
            .await)?)
    }

    pub async fn record_fetch_success(&self, id: i64, ok: &FetchSuccess) -> Result<()> {
        let at = self.now();
        with_pool!(self, |p| {
            record_success!(p, id, ok, at);
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    pub async fn record_fetch_failure(&self, id: i64, failure: &FetchFailure) -> Result<()> {
        let at = self.now();
        let state = if failure.disable {
            "disabled"
        } else {
            "failing"
        };
        with_pool!(self, |p| {
            sqlx::query(
                "update sources set state = $2, last_error = $3, last_fetched_at = $4, \
                 consecutive_failures = consecutive_failures + 1, \
                 failing_since = coalesce(failing_since, $4), next_poll_at = $5, updated_at = $4 \
                 where id = $1",
            )
            .bind(id)
            .bind(state)
            .bind(&failure.error)
            .bind(at)
            .bind(ts(failure.next_poll_at))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Pauses a source (the desk's *Suspendre*) or resumes it.
    pub async fn set_source_paused(&self, slug: &str, paused: bool) -> Result<()> {
        let at = self.now();
        let done = with_pool!(self, |p| {
            sqlx::query(
                "update sources set paused_at = case when $2 then $3 else null end, \
                 updated_at = $3 where slug = $1",
            )
            .bind(slug)
            .bind(paused)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// When each item collected since `since` came in, by source id (the desk's weekly
    /// sparklines are counted from these).
    pub async fn collected_since(&self, since: DateTime<Utc>) -> Result<Vec<(i64, DateTime<Utc>)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as("select source_id, fetched_at from items where fetched_at >= $1")
                .bind(since)
                .fetch_all(p)
                .await
        })?)
    }

    /// The sources editors defined at the desk: (slug, `[[source]]` table).
    pub async fn desk_sources(&self) -> Result<Vec<(String, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as("select slug, definition from desk_sources order by slug")
                .fetch_all(p)
                .await
        })?)
    }

    /// Keeps a source defined at the desk (replacing an earlier definition of the slug).
    pub async fn save_desk_source(&self, slug: &str, definition: &str) -> Result<()> {
        let at = self.now();
        with_pool!(self, |p| {
            sqlx::query(
                "insert into desk_sources (slug, definition, created_at, updated_at) \
                 values ($1, $2, $3, $3) on conflict (slug) do update \
                 set definition = excluded.definition, updated_at = excluded.updated_at",
            )
            .bind(slug)
            .bind(definition)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
