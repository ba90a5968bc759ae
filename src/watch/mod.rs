//! Feed ingestion: fetch, parse, clean, deduplicate, tag, store. Never sends email.
//! `poll_source` is the one-step function; `poll_due` runs a pass over due sources with a
//! global concurrency limit.
#![allow(clippy::disallowed_methods)] // this module owns it

pub mod bound;
pub mod budget;
pub mod clean;
pub mod deadline;
pub mod dedup;
pub mod digest;
pub mod discover;
pub mod fetch;
pub mod inflate;
pub mod parse;
pub mod repair;
pub mod tag;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::{SourceConfig, Sources};
use crate::store::{self, FetchFailure, FetchSuccess, SourceRow, Store, UpsertOutcome};
use budget::Budget;
use fetch::{FetchError, Fetched, Fetcher, Validators};

const MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Servers that lie about validators get one unconditional fetch this often.
const UNCONDITIONAL_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(12);
const GIVE_UP_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// Requests in flight to one host at a time, whatever the global limit.
const PER_HOST: usize = 2;
/// At most this many digested entries wait for the store: while the one writer stores a
/// group, polls go on fetching and digesting the next one, up to this bound, instead of
/// holding their fetch slot until their turn, which kept the groups small and the second core
/// idle. A first fetch of 500 feeds of 50 new entries on SQLite: 6.28 s before, 5.05–5.12 s
/// with this bound (141 MB at peak); 10,000 did no better for 20 MB more.
const WAITING_ENTRIES: usize = 5_000;
/// Time one feed may take between its body arriving and its items being ready to store.
const DIGEST_BUDGET: Duration = Duration::from_secs(20);

/// Digests run at once on every core, at a lower priority than the rest of the process and
/// the database: the store's one writer (SQLite's thread, or PostgreSQL's backend), which
/// every entry waits for, always gets a core when it has work, and digests take what it
/// leaves. With one digest per fetch slot (16) at the same priority, the writer got a
/// seventeenth of the cores and sat starved while entries piled up (0.10.6 bounded digests to
/// one core fewer than the machine has); with one core fewer, a first fetch on 2 cores left
/// the writer's core idle a third of the time while the one digest thread was the bottleneck.
/// A first fetch of 500 feeds of 50 new entries on SQLite, 2 cores, in alternation: median
/// 3.70 s with one digest thread, 3.33 s with two at nice 10 (six pairs, an experimental
/// build); as built, at nice 9, median 3.88 s against 3.77 s in six other pairs. PostgreSQL,
/// whose writer is its backend: 5.63–6.41 s against 5.07–6.68 s, no change beyond the noise.
/// A feed that takes its whole [`DIGEST_BUDGET`] no longer holds up every other digest on 2
/// cores.
fn digest_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A digest thread's priority (`thread-priority`'s scale, 0 to 99): nice [`DIGEST_NICE`] on
/// Linux.
const DIGEST_PRIORITY: u8 = 25;
const DIGEST_NICE: i64 = 9;

/// Lowers the calling thread's priority to [`DIGEST_PRIORITY`]; where the system refuses,
/// the digest runs at the usual priority. Only ever lowers it: the scale sets a nice value,
/// not an offset, so a process the operator already runs at nice 9 or more keeps its own
/// (as root, setting it would raise the digests above the writer).
fn yield_to_the_writer() {
    use thread_priority::{set_current_thread_priority, ThreadPriority, ThreadPriorityValue};
    if nice_of_this_thread().is_some_and(|nice| nice >= DIGEST_NICE) {
        return;
    }
    if let Ok(value) = ThreadPriorityValue::try_from(DIGEST_PRIORITY) {
        if let Err(e) = set_current_thread_priority(ThreadPriority::Crossplatform(value)) {
            tracing::debug!("digest thread priority unchanged: {e:?}");
        }
    }
}

/// The calling thread's nice value, from `/proc` (the 19th field of its `stat`); `None` where
/// there is no such file.
fn nice_of_this_thread() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(16)?.parse().ok()
}

/// What one poll of one source did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PollReport {
    pub source: String,
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// The feed had not changed since the last poll: the server answered 304, or sent the
    /// same bytes again.
    pub not_modified: bool,
    /// Plain words, for the operator and the editors.
    pub error: Option<String>,
    pub disabled: bool,
}

/// What `relais sources check` found for one source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    pub source: String,
    pub url: String,
    pub enabled: bool,
    /// Entries read from the feed; `None` when it could not be read.
    pub entries: Option<usize>,
    /// Of those, the entries its `keep` words let through (when it has some).
    pub kept: Option<usize>,
    /// Repairs and redirects worth knowing.
    pub notes: Vec<String>,
    pub error: Option<String>,
    /// The first titles read (at most five), to show what the source would bring.
    pub sample: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PassSummary {
    pub polled: usize,
    /// Sources whose feed had not changed (304 or the same bytes).
    pub unchanged_sources: usize,
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failing: Vec<PollReport>,
}

pub struct Watcher {
    store: Store,
    fetcher: Fetcher,
    /// The sources' settings by slug: the file's, with the desk's on top; the desk adds to
    /// them while the daemon runs.
    sources: std::sync::RwLock<HashMap<String, Arc<SourceConfig>>>,
    rules: Arc<Vec<crate::config::TagRule>>,
    concurrency: usize,
    /// Fetches and digests in progress, at most `concurrency`.
    fetching: Semaphore,
    /// Digests running at once: see [`digest_threads`].
    digesting: Semaphore,
    /// Entries digested and not yet stored, at most [`WAITING_ENTRIES`].
    waiting: Arc<Semaphore>,
    hosts: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Set once the items stored before `summary_text` existed have been given theirs.
    texts_filled: std::sync::atomic::AtomicBool,
    /// Feeds digested and waiting to be stored (see [`Watcher::store_grouped`]).
    pending: std::sync::Mutex<Vec<PendingFeed>>,
    /// Held by the one poll that stores the waiting feeds.
    storing: tokio::sync::Mutex<()>,
}

/// A feed's entries waiting for the next group commit, and where its outcomes go.
struct PendingFeed {
    source_id: i64,
    items: Vec<store::NewItem>,
    /// The fetch that brought them, recorded with them.
    fetched: FetchSuccess,
    done: tokio::sync::oneshot::Sender<store::Result<Vec<UpsertOutcome>>>,
    /// Its share of [`WAITING_ENTRIES`], given back once it is stored.
    _waiting: Option<OwnedSemaphorePermit>,
}

impl PendingFeed {
    fn entries(&self) -> store::FeedEntries<'_> {
        store::FeedEntries {
            source_id: self.source_id,
            items: &self.items,
            fetched: Some(&self.fetched),
        }
    }
}

impl Watcher {
    pub fn new(
        store: Store,
        sources: &Sources,
        max_body: usize,
        concurrency: usize,
        proxy: Option<&Url>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            fetcher: Fetcher::new(max_body, proxy)?,
            sources: std::sync::RwLock::new(
                sources
                    .sources
                    .iter()
                    .map(|s| (s.slug.clone(), Arc::new(s.clone())))
                    .collect(),
            ),
            rules: Arc::new(sources.rules.clone()),
            concurrency,
            fetching: Semaphore::new(concurrency.max(1)),
            digesting: Semaphore::new(digest_threads()),
            waiting: Arc::new(Semaphore::new(WAITING_ENTRIES)),
            hosts: Default::default(),
            texts_filled: Default::default(),
            pending: Default::default(),
            storing: Default::default(),
        })
    }

    /// Polls the named sources now (or every enabled source when `only` is empty), whatever
    /// their schedule says.
    pub async fn poll_now(&self, only: &[String]) -> store::Result<PassSummary> {
        let rows = self.store.list_sources().await?;
        let chosen: Vec<SourceRow> = rows
            .into_iter()
            .filter(|r| {
                if only.is_empty() {
                    r.enabled
                        && r.state != crate::domain::SourceState::Disabled
                        && r.paused_at.is_none()
                } else {
                    only.contains(&r.slug)
                }
            })
            .collect();
        Ok(self.poll_all(chosen).await)
    }

    /// Polls the sources whose next poll time has come. When `cancel` fires, the polls in
    /// hand are dropped (their parsing threads stop at their next check) and the pass ends.
    pub async fn poll_due(
        &self,
        at: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> store::Result<PassSummary> {
        let rows = self.store.due_sources(at).await?;
        Ok(tokio::select! {
            summary = self.poll_all(rows) => summary,
            _ = cancel.cancelled() => PassSummary::default(),
        })
    }

    async fn poll_all(&self, rows: Vec<SourceRow>) -> PassSummary {
        if let Err(e) = self.fill_missing_texts().await {
            tracing::error!("cannot bound the summaries of old items: {e}");
        }
        // Every poll starts at once and waits for a fetch slot: a poll whose entries wait for
        // the store holds none, so the others go on fetching meanwhile.
        let polls = rows.len().max(1);
        let reports: Vec<PollReport> = futures::stream::iter(rows)
            .map(|row| self.poll_source(row))
            .buffer_unordered(polls)
            .collect()
            .await;
        let mut summary = PassSummary {
            polled: reports.len(),
            ..Default::default()
        };
        for r in reports {
            metrics::counter!("relais_feed_fetches_total", "source" => r.source.clone())
                .increment(1);
            if r.error.is_some() {
                metrics::counter!("relais_feed_errors_total", "source" => r.source.clone())
                    .increment(1);
            }
            summary.new += r.new;
            summary.updated += r.updated;
            summary.unchanged += r.unchanged;
            summary.unchanged_sources += usize::from(r.not_modified);
            if r.error.is_some() {
                summary.failing.push(r);
            }
        }
        summary.failing.sort_by(|a, b| a.source.cmp(&b.source));
        summary
    }

    /// A source's settings.
    pub fn config(&self, slug: &str) -> Option<Arc<SourceConfig>> {
        self.sources
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .cloned()
    }

    /// Adds (or replaces) a source's settings while the daemon runs: a source added at the
    /// desk is polled from its next due time on.
    pub fn add_source(&self, config: SourceConfig) {
        self.sources
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(config.slug.clone(), Arc::new(config));
    }

    /// What a page or feed address gives, without storing anything: the feed itself, or the
    /// feeds the page announces (at most 3 tried), each with its first titles. For the
    /// desk's *Ajouter une source*.
    pub async fn discover(&self, url: &Url, allow_private: bool) -> Vec<CheckReport> {
        let probe = |url: Url| SourceConfig {
            slug: "essai".into(),
            name: "essai".into(),
            url,
            newsletter: "coopdev-info",
            themes: Vec::new(),
            countries: Vec::new(),
            every: std::time::Duration::from_secs(3600),
            enabled: true,
            allow_private,
            keep: Vec::new(),
        };
        let first = self.check(&probe(url.clone())).await;
        if first.entries.is_some_and(|n| n > 0) {
            return vec![first];
        }
        let page = match self
            .fetcher
            .fetch(url, &Validators::default(), allow_private)
            .await
        {
            Ok(Fetched::Body(body)) => *body,
            _ => return vec![first],
        };
        let html = String::from_utf8_lossy(&page.bytes).into_owned();
        let announced = discover::announced_feeds(&html, &page.final_url);
        if announced.is_empty() {
            return vec![first];
        }
        let mut found = Vec::new();
        for feed in announced.into_iter().take(3) {
            let mut report = self.check(&probe(feed.url)).await;
            if let Some(title) = feed.title {
                report.source = title;
            }
            found.push(report);
        }
        found
    }

    /// Tags every stored item again with the current sources' themes and countries and the
    /// current keyword rules (after `sources.toml` changed). Items of sources no longer in the
    /// file keep their tags. Returns (items read, items whose tags changed).
    pub async fn retag(&self) -> store::Result<(usize, usize)> {
        let (mut read, mut changed, mut after) = (0, 0, 0);
        loop {
            let batch = self.store.items_to_tag(after, 1000).await?;
            let Some(last) = batch.last() else { break };
            after = last.0;
            for (id, slug, title, text) in batch {
                read += 1;
                let Some(config) = self.config(&slug) else {
                    continue;
                };
                let (themes, countries) = tag::tags_for(&config, &self.rules, &title, &text);
                if self
                    .store
                    .replace_item_tags(id, &themes, &countries)
                    .await?
                {
                    changed += 1;
                }
            }
        }
        Ok((read, changed))
    }

    /// Fetches every configured source once, without conditions, and reads it as a feed;
    /// stores nothing and changes no schedule (`relais sources check`). At most `concurrency`
    /// at once, two per host.
    pub async fn check_all(&self) -> Vec<CheckReport> {
        let mut configs: Vec<Arc<SourceConfig>> = self
            .sources
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        configs.sort_by(|a, b| a.slug.cmp(&b.slug));
        futures::stream::iter(configs)
            .map(|config| async move { self.check(&config).await })
            .buffered(self.concurrency)
            .collect()
            .await
    }

    async fn check(&self, config: &SourceConfig) -> CheckReport {
        let mut report = CheckReport {
            source: config.slug.clone(),
            url: config.url.to_string(),
            enabled: config.enabled,
            entries: None,
            kept: None,
            notes: Vec::new(),
            error: None,
            sample: Vec::new(),
        };
        let slot = self.host_slot(&config.url).await;
        let fetched = self
            .fetcher
            .fetch(&config.url, &Validators::default(), config.allow_private)
            .await;
        drop(slot);
        let body = match fetched {
            Ok(Fetched::Body(body)) => *body,
            Ok(Fetched::NotModified { .. }) => {
                report.error = Some("304 sans condition envoyée".into());
                return report;
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        if let Some(to) = &body.moved_to {
            report
                .notes
                .push(format!("déplacée définitivement vers {to}"));
        }
        let unfiltered = SourceConfig {
            keep: Vec::new(),
            ..config.clone()
        };
        let all = self
            .digest(
                body.bytes.clone(),
                body.final_url.clone(),
                body.content_type.clone(),
                &unfiltered,
                Utc::now(),
            )
            .await;
        match all {
            Ok(digested) => {
                report.entries = Some(digested.items.len());
                report.sample = digested
                    .items
                    .iter()
                    .take(5)
                    .map(|i| i.title.clone())
                    .collect();
                report.notes.extend(digested.fixes);
                if !config.keep.is_empty() {
                    let kept = digested
                        .items
                        .iter()
                        .filter(|i| tag::kept(config, &i.title, &i.summary_text))
                        .count();
                    report.kept = Some(kept);
                }
            }
            Err(e) => report.error = Some(e),
        }
        report
    }

    /// Fetches one source, stores its entries, and schedules its next poll.
    pub async fn poll_source(&self, row: SourceRow) -> PollReport {
        let mut report = PollReport {
            source: row.slug.clone(),
            new: 0,
            updated: 0,
            unchanged: 0,
            not_modified: false,
            error: None,
            disabled: false,
        };
        let Some(config) = self.config(&row.slug) else {
            report.error = Some("source absente de sources.toml".into());
            return report;
        };
        match self.fetch_and_store(&row, &config, &mut report).await {
            // Recorded with the feed's entries.
            Ok(None) => {}
            Ok(Some(success)) => {
                if let Err(e) = self.store.record_fetch_success(row.id, &success).await {
                    report.error = Some(format!("enregistrement impossible : {e}"));
                }
            }
            Err(failure) => {
                report.error = Some(failure.error.clone());
                report.disabled = failure.disable;
                if let Err(e) = self.store.record_fetch_failure(row.id, &failure).await {
                    tracing::error!(source = %row.slug, "cannot record failure: {e}");
                }
            }
        }
        report
    }

    /// Fetches a source and stores its entries; returns the fetch's success when it is still
    /// to record (it is recorded in the transaction that stores the entries, when there are).
    async fn fetch_and_store(
        &self,
        row: &SourceRow,
        config: &SourceConfig,
        report: &mut PollReport,
    ) -> Result<Option<FetchSuccess>, FetchFailure> {
        // Held until the entries are digested and their turn to be stored is booked.
        let fetching = self.fetching.acquire().await.ok();
        let now = Utc::now();
        let unconditional = row
            .last_unconditional_at
            .is_none_or(|t| now - t > UNCONDITIONAL_EVERY);
        let validators = if unconditional {
            Validators::default()
        } else {
            Validators {
                etag: row.etag.clone(),
                last_modified: row.last_modified.clone(),
            }
        };
        let url = Url::parse(row.url_in_use())
            .map_err(|e| self.failure(row, format!("adresse invalide : {e}"), None, false))?;
        let slot = self.host_slot(&url).await;
        let fetched = self
            .fetcher
            .fetch(&url, &validators, config.allow_private)
            .await
            .map_err(|e| {
                let gone = matches!(e, FetchError::Status { status: 410, .. });
                // A throttling server that does not say how long to wait gets an hour or two.
                let throttled = matches!(
                    e,
                    FetchError::Status {
                        status: 429 | 503,
                        ..
                    }
                );
                let wait = e.retry_after().or_else(|| {
                    throttled.then(|| Duration::from_secs(rand::thread_rng().gen_range(3600..7200)))
                });
                self.failure(row, e.to_string(), wait, gone)
            })?;
        drop(slot);
        // An unchanged body keeps the note of what its last parse had to repair.
        let kept_warning = (row.state == crate::domain::SourceState::Ok)
            .then(|| row.last_error.clone())
            .flatten();
        let (bytes, final_url, content_type, validators, moved_to, hint) = match fetched {
            Fetched::NotModified { validators, hint } => {
                report.not_modified = true;
                return Ok(Some(FetchSuccess {
                    etag: validators.etag,
                    last_modified: validators.last_modified,
                    body_hash: None,
                    moved_to: None,
                    unconditional,
                    next_poll_at: next_poll(config.every, hint),
                    warning: kept_warning,
                }));
            }
            Fetched::Body(body) => {
                let body = *body;
                (
                    body.bytes,
                    body.final_url,
                    body.content_type,
                    body.validators,
                    body.moved_to,
                    body.cache_hint,
                )
            }
        };
        let body_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let mut success = FetchSuccess {
            etag: validators.etag,
            last_modified: validators.last_modified,
            body_hash: Some(body_hash.clone()),
            moved_to: moved_to.map(|u| u.to_string()),
            unconditional,
            next_poll_at: next_poll(config.every, hint),
            warning: None,
        };
        if row.body_hash.as_deref() == Some(body_hash.as_str()) {
            report.not_modified = true;
            success.warning = kept_warning;
            return Ok(Some(success));
        }
        let digested = self
            .digest(bytes, final_url, content_type, config, now)
            .await
            .map_err(|e| self.failure(row, e, None, false))?;
        success.next_poll_at = next_poll(config.every, hint.max(digested.ttl));
        if !digested.fixes.is_empty() {
            tracing::warn!(source = %row.slug, fixes = ?digested.fixes, "feed repaired");
            success.warning = Some(format!("flux réparé : {}", digested.fixes.join(" ; ")));
        }
        let outcomes = self
            .store_grouped(row.id, digested.items, success, fetching)
            .await
            .map_err(|e| {
                self.failure(row, format!("enregistrement impossible : {e}"), None, false)
            })?;
        for outcome in outcomes {
            match outcome {
                UpsertOutcome::Inserted(_) => report.new += 1,
                UpsertOutcome::Updated(_) => report.updated += 1,
                UpsertOutcome::Unchanged(_) => report.unchanged += 1,
            }
        }
        Ok(None)
    }

    /// Stores a feed's entries and records its fetch with those of the other feeds digested
    /// meanwhile, in one transaction (group commit): while one poll stores, the feeds that
    /// arrive wait, and the first of them to get its turn stores them all. Each feed is stored
    /// as if alone, in the order it arrived; when the group fails, each is stored again on its
    /// own, so that only a faulty feed fails.
    async fn store_grouped(
        &self,
        source_id: i64,
        items: Vec<store::NewItem>,
        fetched: FetchSuccess,
        fetching: Option<tokio::sync::SemaphorePermit<'_>>,
    ) -> store::Result<Vec<UpsertOutcome>> {
        // A feed larger than the bound waits for all of it, alone.
        let share = items.len().clamp(1, WAITING_ENTRIES) as u32;
        let waiting = self.waiting.clone().acquire_many_owned(share).await.ok();
        drop(fetching);
        let (done, mut outcome) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingFeed {
                source_id,
                items,
                fetched,
                done,
                _waiting: waiting,
            });
        let turn = self.storing.lock().await;
        if let Ok(stored) = outcome.try_recv() {
            return stored;
        }
        let group = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let feeds: Vec<store::FeedEntries> = group.iter().map(PendingFeed::entries).collect();
        match self.store.store_feeds(&feeds).await {
            Ok(all) => {
                for (feed, outcomes) in group.into_iter().zip(all) {
                    feed.done.send(Ok(outcomes)).ok();
                }
            }
            Err(e) if group.len() > 1 => {
                tracing::warn!(
                    "storing {} feeds together failed ({e}); one at a time",
                    group.len()
                );
                for feed in group {
                    let alone = self.store.store_feeds(&[feed.entries()]).await;
                    let alone = alone.map(|mut all| all.pop().unwrap_or_default());
                    feed.done.send(alone).ok();
                }
            }
            Err(e) => {
                group.into_iter().for_each(|f| drop(f.done));
                return Err(e);
            }
        }
        drop(turn);
        outcome.await.unwrap_or(Err(store::StoreError::NotFound))
    }

    /// Items stored by an older version may hold summaries of any size and no plain text:
    /// bound them and compute their text once, a batch at a time, off the async workers.
    async fn fill_missing_texts(&self) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        if self.texts_filled.load(Ordering::Relaxed) {
            return Ok(());
        }
        loop {
            let batch = self.store.items_without_text(100).await?;
            if batch.is_empty() {
                break;
            }
            let cleaned = tokio::task::spawn_blocking(move || {
                let fallback = Url::parse("https://invalid.invalid/").expect("valid URL");
                batch
                    .into_iter()
                    .map(|(id, summary, source_url)| {
                        let base = Url::parse(&source_url).ok();
                        let summary =
                            clean::clean_summary(&summary, base.as_ref().unwrap_or(&fallback));
                        let text = clean::plain_text(&summary);
                        (id, summary, text)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            for (id, summary, text) in cleaned {
                self.store.set_item_text(id, &summary, &text).await?;
            }
        }
        self.texts_filled.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `digest::digest_feed` on a thread of its own at a lower priority (see
    /// [`digest_threads`]), off the async workers, once one of the [`digest_threads`] is free,
    /// under `DIGEST_BUDGET` (counted from then). Dropping this future stops the thread at its
    /// next check. A thread per feed, not tokio's blocking pool: a pool thread keeps its lowered
    /// priority, and would pass it on to whatever blocking work it runs next (a password hash
    /// behind a sign-in).
    async fn digest(
        &self,
        bytes: Vec<u8>,
        base: Url,
        content_type: Option<String>,
        config: &SourceConfig,
        now: DateTime<Utc>,
    ) -> Result<digest::Digested, String> {
        let _digesting = self.digesting.acquire().await.ok();
        let budget = Budget::new(DIGEST_BUDGET);
        let _stop = budget.stop_on_drop();
        let (source, rules) = (config.clone(), self.rules.clone());
        let (done, digested) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("relais-digest".into())
            .spawn(move || {
                yield_to_the_writer();
                let result = digest::digest_feed(
                    &bytes,
                    &base,
                    content_type.as_deref(),
                    &source,
                    &rules,
                    now,
                    &budget,
                );
                let _ = done.send(result.map_err(|e| e.to_string()));
            });
        if let Err(e) = spawned {
            tracing::error!(source = %config.slug, "feed digest thread not started: {e}");
            return Err("analyse du flux impossible (erreur interne)".into());
        }
        match digested.await {
            Ok(result) => result,
            // The thread ended without an answer: it panicked.
            Err(_) => {
                tracing::error!(source = %config.slug, "feed digest thread failed");
                Err("analyse du flux impossible (erreur interne)".into())
            }
        }
    }

    /// Waits for one of the `PER_HOST` request slots of the URL's host.
    async fn host_slot(&self, url: &Url) -> Option<OwnedSemaphorePermit> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let semaphore = self
            .hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(PER_HOST)))
            .clone();
        semaphore.acquire_owned().await.ok()
    }

    /// Backoff doubles with each consecutive failure, from the source's interval up to a day;
    /// Retry-After wins when longer. A source failing for 30 days is disabled.
    fn failure(
        &self,
        row: &SourceRow,
        error: String,
        retry_after: Option<Duration>,
        gone: bool,
    ) -> FetchFailure {
        let failures = row.consecutive_failures.clamp(0, 16) as u32;
        let base = MIN_INTERVAL.saturating_mul(2u32.saturating_pow(failures));
        let wait = retry_after.map_or(base, |r| r.max(base));
        let too_long = row
            .failing_since
            .is_some_and(|since| Utc::now() - since > GIVE_UP_AFTER);
        let error = if too_long && !gone {
            format!("{error} ; en échec depuis plus de 30 jours, source désactivée")
        } else {
            error
        };
        FetchFailure {
            error,
            next_poll_at: jittered(wait),
            disable: gone || too_long,
        }
    }
}

/// The next poll after a success: the source's interval or the server's cache lifetime,
/// whichever is longer, kept between 5 minutes and a day.
fn next_poll(every: Duration, hint: Option<Duration>) -> DateTime<Utc> {
    jittered(hint.map_or(every, |h| h.max(every)))
}

fn jittered(wait: Duration) -> DateTime<Utc> {
    let wait = wait.clamp(MIN_INTERVAL, MAX_INTERVAL);
    let jitter = rand::thread_rng().gen_range(0.0..0.1) * wait.as_secs_f64();
    Utc::now() + chrono::Duration::milliseconds(((wait.as_secs_f64() + jitter) * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_digest_thread_runs_below_the_writer_and_leaves_other_threads_alone() {
        let before = nice_of_this_thread().unwrap();
        let digest = std::thread::spawn(|| {
            yield_to_the_writer();
            nice_of_this_thread().unwrap()
        })
        .join()
        .unwrap();
        // Lowered to 9, or left where the tests already run lower than that.
        assert_eq!(digest, before.max(DIGEST_NICE), "writer at nice {before}");
        assert_eq!(nice_of_this_thread(), Some(before));
    }
}
