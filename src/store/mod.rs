//! Storage: the only module that speaks SQL. One `Store` over SQLite or PostgreSQL, chosen by
//! the URL scheme; each backend has its own migrations. Queries are written once with `$N`
//! placeholders (both drivers accept them) and run against whichever pool is open; the few
//! statements whose dialects differ say so where they are.
#![allow(clippy::disallowed_methods)] // this module owns it

mod ads;
mod audience;
mod bounces;
mod compose;
mod control;
mod deliveries;
mod desk;
mod health;
mod import;
mod index;
mod issues;
mod items;
mod mails;
mod members;
mod preferences;
mod schedule;
mod sources;
mod subscribe;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use ads::{AdActor, AdChange, AdEvent, AdRow, BoardFilter};
pub use audience::{
    ExportStatus, ImportOutcome, NewSubscriber, Receiver, SegmentFilter, SegmentSummary,
    SubscriberExport,
};
pub use bounces::{BounceEffect, BouncedDelivery, NewBounce};
pub use compose::{Approval, FROZEN};
pub use control::{ControlOutcome, DispatchControl};
pub use deliveries::{
    ClaimedDelivery, DeliveryCounts, DeliveryOutcome, DispatchRow, LedgerConnection, LedgerWrite,
};
pub(crate) use desk::search_text;
pub use desk::{DeskItem, InboxFilter, ItemEdit, ItemPlacement, COUNT_CAP};
pub use health::WorkState;
pub use issues::{FrozenIssue, IssueRow, PublishedItem};
pub use items::{FeedEntries, ItemFilter, ItemRow, NewItem, UpsertOutcome};
pub use mails::{ClaimedMail, ConfirmationData, MailKind, MailProblem};
pub use members::{LoginLink, LoginRefusal, MemberPerson, MemberRow, MemberSession, NewMember};
pub use preferences::PreferencesChange;
pub use schedule::JobRun;
pub use sources::{FetchFailure, FetchSuccess, SourceRow};
pub use subscribe::FormOutcome;
pub use tokens::{ApiCaller, ApiTokenRow};
pub use users::{StaffSession, UserRow};

/// Versions of the texts a consent refers to; bump them when the wording changes.
pub const FORM_TEXT_VERSION: &str = "formulaire-2026-11";
pub const PREFERENCES_TEXT_VERSION: &str = "preferences-2026-11";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists ({0})")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps unique-constraint violations to `Conflict`, naming the constraint.
    fn from_write(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                let name = db
                    .constraint()
                    .map(str::to_string)
                    .unwrap_or_else(|| db.message().to_string());
                return StoreError::Conflict(name);
            }
        }
        StoreError::Database(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool is open. Inside, `$p` is a concrete
/// `&SqlitePool` or `&PgPool`, so every query is type-checked for both backends.
/// `|p, Db|` also names the backend's `sqlx::Database` type inside the body.
macro_rules! with_pool {
    ($store:expr, |$p:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
    ($store:expr, |$p:ident, $db:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            $crate::store::Pool::Postgres($p) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Appends `(v1, v2, …)` with each value bound, for `in` lists.
pub(crate) fn push_list<'a, DB, T>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    values: impl IntoIterator<Item = T>,
) where
    DB: sqlx::Database,
    T: 'a + sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("(");
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    qb.push(")");
}
pub(crate) use with_pool;

/// Transactions that write. SQLite must take the write lock up front (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads, then writes, fails with SQLITE_BUSY_SNAPSHOT when
/// another connection wrote in between, and no busy timeout helps with that.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = std::result::Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>,
    > + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    clock: crate::domain::Clock,
    /// Per dispatch, the highest delivery id this process claimed: its next claim starts past
    /// it (see [`Store::claim_deliveries`]). A hint shared by every clone of the store.
    claimed_up_to: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, i64>>>,
    /// PostgreSQL: the connections of the delivery ledger's group writes (see
    /// [`Store::write_ledger`]) and of the senders' claims ([`Store::claim_deliveries`]),
    /// opened on first use, with generic plans.
    ledger_pool: Option<PgPool>,
    /// SQLite: the connection ingest writes through (see [`Store::store_feeds`]), held
    /// between writes so that its page cache stays warm; taken from the pool on first use.
    ingest_writer: IngestWriter,
}

/// SQLite keeps a page cache per connection, emptied when the connection finds that another
/// one wrote. A pool lends its idle connections in turn, so each group of feeds a pass
/// stored met a cold cache and read again, through system calls, the pages of the band keys
/// and indexes the previous group had just written: a first fetch of 500 feeds of 50 new
/// items, in alternation, took 5.61-5.90 s (8.8-9.5 s of CPU) through the pool, 5.33-5.53 s
/// (8.1-8.3 s) through one held connection.
type IngestWriter =
    std::sync::Arc<tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>>>;

impl Store {
    /// Opens the database named by the URL (`sqlite://PATH` creates the file and its folder)
    /// and applies pending migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let mut ledger_pool = None;
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid SQLite URL {url}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // Statement journals in memory: a multi-row insert inside a transaction copies
                // every page it changes there first, and in a temporary file that was a write
                // system call per page (two thirds of a first fetch's kernel time).
                .pragma("temp_store", "memory")
                // A feed group's transaction touches thousands of pages of the band keys'
                // index, at random: with the default 2 MB cache it spilled and read them again.
                // 8 MB per connection did as well as 32 on the ingest benchmark, and keeps a
                // first fetch under 100 MB.
                // Checkpoints every 40 MB of log instead of 4 rewrite those pages in the file
                // less often; the log is cut back to 64 MB after each.
                .pragma("cache_size", "-8000")
                .pragma("wal_autocheckpoint", "10000")
                .pragma("journal_size_limit", "67108864");
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open {url}"))?;
            Pool::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
            // The ledger's group write runs several times a second for as long as a send
            // lasts, always the same statement with other arrays: its plan, the same whatever
            // the arrays, is made once. PostgreSQL's default kept planning it again at every
            // execution (its estimate for arrays of unknown length never beat the first
            // plans'), a third of the statement's time on the server. The senders' claims
            // run here too (see `Store::claim_deliveries`): the writer holds one connection
            // for the pass, the senders' claims share the others. Only these connections
            // are set so: other statements are planned for their values.
            ledger_pool = Some(
                PgPoolOptions::new()
                    .max_connections(6)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(
                        options
                            .clone()
                            .options([("plan_cache_mode", "force_generic_plan")]),
                    ),
            );
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("cannot connect to PostgreSQL")?;
            Pool::Postgres(pool)
        };
        let store = Store {
            pool,
            clock: crate::domain::Clock::system(),
            claimed_up_to: Default::default(),
            ledger_pool,
            ingest_writer: Default::default(),
        };
        store.migrate().await.context("cannot apply migrations")?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        self.fill_email_hashes().await?;
        self.fill_item_search().await?;
        Ok(())
    }

    /// People stored before the address hash was kept get theirs (migration 0008); a no-op
    /// once done.
    async fn fill_email_hashes(&self) -> Result<()> {
        let missing: Vec<(i64, String)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select id, email from subscribers where email_hash is null and erased_at is null",
            )
            .fetch_all(p)
            .await
        })?;
        for (id, email) in missing {
            with_pool!(self, |p| {
                sqlx::query("update subscribers set email_hash = $2 where id = $1")
                    .bind(id)
                    .bind(crate::domain::hash_stored(&email))
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// A consistent copy of a SQLite database in a new file, taken while others read and
    /// write it (`VACUUM INTO` reads one snapshot). PostgreSQL has pg_dump for that.
    pub async fn backup(&self, path: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context;
        let Pool::Sqlite(pool) = &self.pool else {
            anyhow::bail!(
                "relais backup copie une base SQLite ; pour PostgreSQL, utilisez pg_dump \
                 (voir le README, « En production »)"
            );
        };
        let target = path
            .to_str()
            .context("le chemin de la copie doit être en UTF-8")?;
        sqlx::query("vacuum into $1")
            .bind(target)
            .execute(pool)
            .await
            .with_context(|| format!("copie vers {target} impossible"))?;
        Ok(())
    }

    /// Answers when the database does (health checks).
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |p| sqlx::query("select 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        // The pool waits for every connection lent.
        self.ingest_writer.lock().await.take();
        if let Some(ledger) = &self.ledger_pool {
            ledger.close().await;
        }
        with_pool!(self, |p| p.close().await)
    }

    pub async fn newsletter_id(&self, slug: &str) -> Result<i64> {
        let id: Option<i64> = with_pool!(self, |p| {
            sqlx::query_scalar("select id from newsletters where slug = $1")
                .bind(slug)
                .fetch_optional(p)
                .await
        })?;
        id.ok_or(StoreError::NotFound)
    }
}

impl Store {
    /// Now, by the store's clock (the system's, unless a test set one), for every stored
    /// timestamp. Whole seconds: SQLite keeps timestamps as RFC 3339 text, which compares in
    /// time order only when every value has the same shape.
    pub fn now(&self) -> DateTime<Utc> {
        ts(self.clock.now())
    }

    /// The same store reading time from `clock` (tests move it to check expiry and retries).
    pub fn with_clock(mut self, clock: crate::domain::Clock) -> Self {
        self.clock = clock;
        self
    }
}

/// A timestamp as stored: truncated to the second (see [`now`]).
/// The database file a `sqlite:` URL names (none for PostgreSQL or an in-memory database).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty() && file != std::path::Path::new(":memory:"))
        .then(|| file.to_path_buf())
}

pub fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}
