//! Dispatches and the delivery ledger, which is also the send queue.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{push_list, with_pool, BeginWrite, Pool, Result, Store, StoreError};
use crate::domain::DeliveryState;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DispatchRow {
    pub id: i64,
    pub issue_id: i64,
    pub segment_id: Option<i64>,
    pub newsletter_id: i64,
    pub newsletter: String,
    /// Active, paused or cancelled (`relais issue pause|resume|cancel`).
    pub state: crate::domain::DispatchState,
    /// Why it was last paused or cancelled; empty while it runs.
    pub state_reason: String,
}

/// A dispatch with its title, as [`DispatchRow`] reads it; a `where` clause follows.
const DISPATCH_ROW: &str =
    "select d.id, d.issue_id, d.segment_id, n.id as newsletter_id, n.slug as newsletter, \
       d.state, d.state_reason \
     from dispatches d join issues i on i.id = d.issue_id \
     join newsletters n on n.id = i.newsletter_id ";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub dispatch_id: i64,
    pub subscriber_id: i64,
    pub email: String,
    pub message_id: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// How one attempt ended, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        reply: String,
    },
    Deferred {
        reply: String,
        retry_at: DateTime<Utc>,
    },
    Failed {
        reply: String,
    },
    Unknown {
        reply: String,
    },
    Skipped {
        reason: String,
    },
}

/// One write of the delivery ledger by a lease holder.
#[derive(Debug, Clone)]
pub enum LedgerWrite {
    /// The attempt begins: the row becomes `sending` (ambiguous after a crash from now on)
    /// and its lease is renewed for one attempt.
    Start {
        id: i64,
        owner: String,
        lease: Duration,
    },
    /// How the attempt ended (or why none was made).
    Outcome {
        id: i64,
        owner: String,
        outcome: DeliveryOutcome,
    },
}

impl LedgerWrite {
    /// The delivery written.
    pub fn id(&self) -> i64 {
        match self {
            LedgerWrite::Start { id, .. } | LedgerWrite::Outcome { id, .. } => *id,
        }
    }
}

/// The ledger writer's own connection, held for a whole pass ([`Store::ledger_connection`]).
/// A statement run on the pool borrows a connection and gives it back, and the pool checks
/// it both ways with a round trip of its own (sqlx's ping on acquire and on release): three
/// round trips, and three wakeups of the database, for each group write instead of one.
pub enum LedgerConnection {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// The state, reply and next attempt an outcome writes.
pub(super) fn outcome_columns(outcome: &DeliveryOutcome) -> (&str, &str, Option<DateTime<Utc>>) {
    match outcome {
        DeliveryOutcome::Sent { reply } => ("sent", reply, None),
        DeliveryOutcome::Deferred { reply, retry_at } => ("deferred", reply, Some(*retry_at)),
        DeliveryOutcome::Failed { reply } => ("failed", reply, None),
        DeliveryOutcome::Unknown { reply } => ("unknown", reply, None),
        DeliveryOutcome::Skipped { reason } => ("skipped", reason, None),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub deferred: i64,
    pub failed: i64,
    pub unknown: i64,
    pub skipped: i64,
}

impl DeliveryCounts {
    /// Adds `n` rows in `state`; a state this version does not know is an error, never
    /// counted as another.
    pub(super) fn add(&mut self, state: &str, n: i64) -> Result<()> {
        let Some(state) = DeliveryState::parse(state) else {
            return Err(StoreError::Database(sqlx::Error::Decode(
                format!("delivery state `{state}` is not a state this version knows").into(),
            )));
        };
        let slot = match state {
            DeliveryState::Queued => &mut self.queued,
            DeliveryState::Sending => &mut self.sending,
            DeliveryState::Sent => &mut self.sent,
            DeliveryState::Deferred => &mut self.deferred,
            DeliveryState::Failed => &mut self.failed,
            DeliveryState::Unknown => &mut self.unknown,
            DeliveryState::Skipped => &mut self.skipped,
        };
        *slot += n;
        Ok(())
    }

    pub fn total(&self) -> i64 {
        self.queued
            + self.sending
            + self.sent
            + self.deferred
            + self.failed
            + self.unknown
            + self.skipped
    }
}

/// A delivery of `deliveries` whose dispatch may send: neither paused nor cancelled. Claims
/// and the "attempt started" mark both ask, so that a pause stops a worker's claimed rows too.
pub(super) const ACTIVE_DISPATCH: &str = "exists (select 1 from dispatches x \
     where x.id = deliveries.dispatch_id and x.state = 'active')";

/// Who an audience holds: active subscribers (`s`) of the title, through their active
/// subscription (`u`), who match the segment when there is one: for every kind of filter the
/// segment has, the subscriber has one of its values. Placeholders name the title's id and the
/// segment's id (null for the whole title).
pub(super) fn audience_condition(newsletter: &str, segment: &str) -> String {
    format!(
        "u.newsletter_id = {newsletter} and u.status = 'active' and s.status = 'active' \
         and not exists (select 1 from segment_filters f where f.segment_id = {segment} and ( \
           (f.kind = 'college' and not exists (select 1 from segment_filters g \
              where g.segment_id = {segment} and g.kind = 'college' and g.value = s.college)) \
           or (f.kind <> 'college' and not exists (select 1 from segment_filters g \
              join subscriber_interests i on i.kind = g.kind and i.value = g.value \
              where g.segment_id = {segment} and g.kind = f.kind and i.subscriber_id = s.id))))"
    )
}

/// The ledger's group write: `source` names each write's columns `v.column1` to `v.column6`
/// (the delivery, its lease holder, the new state, the reply, the next attempt, the lease's new
/// end), `at` is the placeholder of the time. Only the lease holder may write, a mark (state
/// `sending`) only while the dispatch is active. The ids are listed again (`ids`, `in (…)` or
/// `= any(…)`): PostgreSQL then finds the rows through the primary key; from the join alone, a
/// generic plan may walk a whole dispatch's index entries.
fn ledger_statement(at: &str, source: &str, ids: &str) -> String {
    format!(
        "update deliveries set state = v.column3, \
         attempts = deliveries.attempts + case when v.column3 = 'sending' then 1 else 0 end, \
         last_reply = case when v.column3 = 'sending' then deliveries.last_reply \
           else v.column4 end, \
         next_attempt_at = coalesce(v.column5, deliveries.next_attempt_at), \
         sent_at = case when v.column3 = 'sent' then {at} else deliveries.sent_at end, \
         lease_owner = case when v.column3 = 'sending' then deliveries.lease_owner end, \
         lease_expires_at = v.column6, \
         settled_at = case when v.column3 in ('sent', 'failed', 'skipped', 'unknown') \
           then {at} end, \
         updated_at = {at} \
         from {source} \
         where deliveries.id = v.column1 and deliveries.lease_owner = v.column2 \
         and case when v.column3 = 'sending' \
           then deliveries.state in ('queued', 'deferred') and {ACTIVE_DISPATCH} \
           else deliveries.state in ('queued', 'deferred', 'sending') end \
         and deliveries.id {ids} \
         returning deliveries.id"
    )
}

impl Store {
    /// The dispatch of this issue to this audience, created on first use. `segment_key` is
    /// the segment slug or '' for the whole title; the unique constraint makes a second
    /// `send` find the first dispatch instead of starting another.
    pub async fn find_or_create_dispatch(
        &self,
        issue_id: i64,
        segment: Option<(i64, &str)>,
    ) -> Result<(DispatchRow, bool)> {
        let key = segment.map(|s| s.1).unwrap_or("");
        let inserted = with_pool!(self, |p| {
            sqlx::query(
                "insert into dispatches (issue_id, segment_id, segment_key, created_at) \
                 values ($1, $2, $3, $4) on conflict (issue_id, segment_key) do nothing",
            )
            .bind(issue_id)
            .bind(segment.map(|s| s.0))
            .bind(key)
            .bind(self.now())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        let sql = format!("{DISPATCH_ROW} where d.issue_id = $1 and d.segment_key = $2");
        let row: Option<DispatchRow> = with_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(issue_id)
                .bind(key)
                .fetch_optional(p)
                .await
        })?;
        Ok((row.ok_or(StoreError::NotFound)?, inserted > 0))
    }

    pub async fn dispatch(&self, id: i64) -> Result<DispatchRow> {
        let sql = format!("{DISPATCH_ROW} where d.id = $1");
        let row = with_pool!(self, |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await
        })?;
        row.ok_or(StoreError::NotFound)
    }

    pub async fn open_dispatches(&self) -> Result<Vec<DispatchRow>> {
        let sql = format!("{DISPATCH_ROW} where d.completed_at is null");
        Ok(with_pool!(self, |p| {
            sqlx::query_as(&sql).fetch_all(p).await
        })?)
    }

    /// Freezes the audience: one queued row per active subscriber of the title (and of the
    /// segment, when there is one). Safe to run again: existing rows are left alone.
    /// A segment matches when, for every kind of filter it has, the subscriber has one of
    /// its values. Whoever already has this issue through another dispatch is left out: an
    /// issue reaches a person once. That rule is the constraint `deliveries (issue_id,
    /// subscriber_id)` unique, not a check before inserting: two dispatches of one issue
    /// frozen at the same moment (two processes) would both pass such a check. Message-IDs
    /// are fixed here, so a retry reuses the same one.
    pub async fn freeze_audience(&self, dispatch: &DispatchRow, mail_domain: &str) -> Result<u64> {
        let at = self.now();
        let prefix = format!("<relais.{}.", dispatch.id);
        let suffix = format!("@{mail_domain}>");
        // No conflict target: a row is skipped on (issue_id, subscriber_id) when the same
        // dispatch is sent again or another dispatch of the issue has the person;
        // PostgreSQL waits for a concurrent freeze to commit first.
        // PostgreSQL first tries a plain insert of the people who do not have the issue yet:
        // `on conflict` checks every unique index before each row (a fifth of the time of a
        // million-recipient freeze); only a concurrent freeze makes it fail, and then the
        // statement with `on conflict` runs.
        // The sort is not only for the rows' order (ids in subscriber order, index entries
        // appended in order): it reads the whole audience before the first row is written.
        // Without it, a plan that scans `deliveries` for the not-exists (statistics saying
        // the table is empty, after a vacuum) read again, for each recipient, every row the
        // statement had written so far: a million-recipient freeze ran for minutes.
        let statement = |guard: &str, conflict: &str| {
            format!(
                "insert into deliveries (dispatch_id, issue_id, subscriber_id, email, state, \
                   next_attempt_at, message_id, created_at, updated_at) \
                 select $1, $7, s.id, s.email, 'queued', $2, $3 || cast(s.id as text) || $4, $2, $2 \
                 from subscribers s join subscriptions u on u.subscriber_id = s.id \
                 where {}{guard} \
                 order by s.id {conflict}",
                audience_condition("$5", "$6")
            )
        };
        let (prefix, suffix) = (&prefix, &suffix);
        let run = |sql: String| async move {
            with_pool!(self, |p| {
                sqlx::query(&sql)
                    .bind(dispatch.id)
                    .bind(at)
                    .bind(prefix)
                    .bind(suffix)
                    .bind(dispatch.newsletter_id)
                    .bind(dispatch.segment_id)
                    .bind(dispatch.issue_id)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            })
        };
        if let Pool::Postgres(_) = self.pool {
            let fast = statement(
                " and not exists (select 1 from deliveries d where d.issue_id = $7 \
                 and d.subscriber_id = s.id)",
                "",
            );
            match run(fast).await {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
                done => return self.after_freeze(dispatch.id, done?).await,
            }
        }
        let added = run(statement("", "on conflict do nothing")).await?;
        self.after_freeze(dispatch.id, added).await
    }

    /// What a freeze that added recipients leaves to do. The dispatch is open again (a
    /// title's new subscribers, when an issue already sent is sent again): claims only look
    /// into open dispatches.
    ///
    /// On PostgreSQL the table's statistics are refreshed after a freeze, as after any bulk
    /// load: planned on statistics from before it (no row to send), the ledger's writes chose
    /// to walk a whole dispatch's index entries for each group of marks, a hundred times
    /// slower than through the primary key. ANALYZE reads a sample, not the table.
    async fn after_freeze(&self, dispatch_id: i64, added: u64) -> Result<u64> {
        if let (Pool::Postgres(p), true) = (&self.pool, added > 0) {
            sqlx::query("analyze deliveries").execute(p).await?;
        }
        if added > 0 {
            with_pool!(self, |p| {
                sqlx::query("update dispatches set completed_at = null where id = $1")
                    .bind(dispatch_id)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(added)
    }

    /// Leases up to `limit` due deliveries to `owner`, one dispatch after another (oldest
    /// first), each dispatch's rows in id order, in one short statement per dispatch. The rows
    /// keep their state: a claimed row is only reserved, and becomes `sending` when its attempt
    /// starts ([`LedgerWrite::Start`]), so that a crash leaves the rows claimed but not yet
    /// tried queued, not ambiguous. A lease that expired may be taken over.
    ///
    /// Each statement reads the partial index `deliveries_due` in order and stops at `limit`,
    /// starting past the last row this process claimed in that dispatch: the rows already
    /// sent still have index entries until PostgreSQL's vacuum, and reading them again at
    /// every claim would make a send's cost grow with the square of its audience. When that
    /// finds too few rows (the end of the dispatch, or rows deferred earlier now due), the
    /// dispatch is read again from its start. A paused dispatch is not read at all.
    pub async fn claim_deliveries(
        &self,
        dispatch_id: Option<i64>,
        owner: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        let dispatches: Vec<i64> = match dispatch_id {
            Some(id) => vec![id],
            None => with_pool!(self, |p| {
                sqlx::query_scalar(
                    "select id from dispatches where state = 'active' and completed_at is null \
                     order by id",
                )
                .fetch_all(p)
                .await
            })?,
        };
        let (at, expires) = self.lease_until(lease);
        // PostgreSQL: the chosen ids as an array, so that the update finds them through the
        // primary key; with `id in (select …)` a generic plan may join by hashing the table.
        let (open, lock, close) = match self.pool {
            Pool::Postgres(_) => ("= any(array(", "for update skip locked", "))"),
            Pool::Sqlite(_) => ("in (", "", ")"),
        };
        let sql = format!(
            "update deliveries set lease_owner = $1, lease_expires_at = $2, updated_at = $3 \
             where id {open}select id from deliveries where dispatch_id = $4 and id > $6 \
               and settled_at is null and state in ('queued', 'deferred') and next_attempt_at <= $3 \
               and (lease_owner is null or lease_expires_at < $3) and subscriber_id is not null \
               and exists (select 1 from dispatches x where x.id = $4 and x.state = 'active') \
               order by id limit $5 {lock}{close} \
             returning id, dispatch_id, subscriber_id, email, message_id, attempts, created_at"
        );
        let mut rows: Vec<ClaimedDelivery> = Vec::new();
        for dispatch in dispatches {
            let start = self.claim_start(dispatch);
            for after in [start, 0] {
                let wanted = limit - rows.len() as i64;
                if wanted <= 0 {
                    break;
                }
                macro_rules! claim {
                    ($p:expr) => {
                        sqlx::query_as(&sql)
                            .bind(owner)
                            .bind(expires)
                            .bind(at)
                            .bind(dispatch)
                            .bind(wanted)
                            .bind(after)
                            .fetch_all($p)
                            .await
                    };
                }
                let claimed: Vec<ClaimedDelivery> = match (&self.pool, &self.ledger_pool) {
                    // On the ledger's connections, planned once (the same plan): planning
                    // it again at each claim took 0.47-0.57 ms on the server, as long as
                    // running it.
                    (Pool::Postgres(_), Some(ledger)) => claim!(ledger)?,
                    _ => with_pool!(self, |p| claim!(p))?,
                };
                let found = claimed.len() as i64;
                if let Some(last) = claimed.iter().map(|d| d.id).max() {
                    self.claimed_past(dispatch, last);
                }
                rows.extend(claimed);
                if found == wanted || after == 0 {
                    break;
                }
            }
        }
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    fn claim_start(&self, dispatch: i64) -> i64 {
        let starts = self.claimed_up_to.lock().unwrap_or_else(|e| e.into_inner());
        starts.get(&dispatch).copied().unwrap_or(0)
    }

    fn claimed_past(&self, dispatch: i64, id: i64) {
        let mut starts = self.claimed_up_to.lock().unwrap_or_else(|e| e.into_inner());
        let start = starts.entry(dispatch).or_insert(0);
        *start = (*start).max(id);
    }

    /// Writes marks and outcomes of several workers in one statement, so in one transaction
    /// (group commit: one round trip, one commit, one flush to disk, for all of them). A mark
    /// is the write that makes a row `sending`; an outcome writes any other state, and settles
    /// the row (`settled_at`) unless it is `deferred`. Each write
    /// tells whether it was made: only the lease holder may write, a mark only while the
    /// dispatch is active, so `false` means the lease was lost or the send paused. A group
    /// never holds two writes of one delivery: a mark waits for its commit before the attempt
    /// whose outcome follows, and a delivery is claimed again only once its outcome is
    /// committed.
    pub async fn write_ledger(
        &self,
        conn: &mut LedgerConnection,
        writes: &[LedgerWrite],
    ) -> Result<Vec<bool>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let at = self.now();
        // Each write's columns after its delivery's id: its lease holder, the new state, the
        // reply, the next attempt, the lease's new end.
        let ids: Vec<i64> = writes.iter().map(LedgerWrite::id).collect();
        let columns: Vec<_> = writes
            .iter()
            .map(|write| {
                let (state, reply, next, until) = match write {
                    LedgerWrite::Start { lease, .. } => {
                        let lease = chrono::Duration::from_std(*lease)
                            .unwrap_or(chrono::Duration::minutes(15));
                        ("sending", "", None, Some(at + lease))
                    }
                    LedgerWrite::Outcome { outcome, .. } => {
                        let (state, reply, next) = outcome_columns(outcome);
                        (state, reply, next.map(super::ts), None)
                    }
                };
                let owner = match write {
                    LedgerWrite::Start { owner, .. } | LedgerWrite::Outcome { owner, .. } => owner,
                };
                (owner.as_str(), state, reply, next, until)
            })
            .collect();
        let written: Vec<i64> = match conn {
            // One statement text whatever the group's size, its writes as arrays, on the
            // ledger's own connections: prepared once per connection and planned once (a
            // generic plan), where a `values` list of each length was a statement of its own,
            // planned again at every execution.
            LedgerConnection::Postgres(c) => {
                let sql = ledger_statement(
                    "$7",
                    "unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
                     $5::timestamptz[], $6::timestamptz[]) \
                     as v (column1, column2, column3, column4, column5, column6)",
                    "= any($1)",
                );
                sqlx::query_scalar(&sql)
                    .bind(&ids)
                    .bind(columns.iter().map(|c| c.0).collect::<Vec<_>>())
                    .bind(columns.iter().map(|c| c.1).collect::<Vec<_>>())
                    .bind(columns.iter().map(|c| c.2).collect::<Vec<_>>())
                    .bind(columns.iter().map(|c| c.3).collect::<Vec<_>>())
                    .bind(columns.iter().map(|c| c.4).collect::<Vec<_>>())
                    .bind(at)
                    .fetch_all(&mut **c)
                    .await?
            }
            // `values` rows are named column1, column2… The statement's placeholders are bound
            // in the order they appear: the time three times, the rows, then the ids.
            LedgerConnection::Sqlite(c) => {
                let rows = vec!["(?, ?, ?, ?, ?, ?)"; columns.len()].join(", ");
                let list = vec!["?"; ids.len()].join(", ");
                let sql = ledger_statement(
                    "?",
                    &format!("(values {rows}) as v"),
                    &format!("in ({list})"),
                );
                let mut query = sqlx::query_scalar(&sql).bind(at).bind(at).bind(at);
                for (id, (owner, state, reply, next, until)) in ids.iter().zip(&columns) {
                    query = query
                        .bind(id)
                        .bind(*owner)
                        .bind(*state)
                        .bind(*reply)
                        .bind(next)
                        .bind(until);
                }
                for id in &ids {
                    query = query.bind(id);
                }
                query.fetch_all(&mut **c).await?
            }
        };
        let written: HashSet<i64> = written.into_iter().collect();
        Ok(writes.iter().map(|w| written.contains(&w.id())).collect())
    }

    /// A connection for the ledger's writer to hold while a pass lasts; on PostgreSQL one of
    /// the ledger's own (see [`Store::write_ledger`]).
    pub async fn ledger_connection(&self) -> Result<LedgerConnection> {
        Ok(match &self.pool {
            Pool::Postgres(p) => {
                LedgerConnection::Postgres(self.ledger_pool.as_ref().unwrap_or(p).acquire().await?)
            }
            Pool::Sqlite(p) => LedgerConnection::Sqlite(p.acquire().await?),
        })
    }

    /// Gives back claimed deliveries whose attempt never started (the pass was cancelled),
    /// in one statement.
    pub async fn release_deliveries(&self, ids: &[i64], owner: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        with_pool!(self, |p, Db| {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "update deliveries set lease_owner = null, lease_expires_at = null \
                 where lease_owner = ",
            );
            qb.push_bind(owner)
                .push(" and state in ('queued', 'deferred') and id in ");
            push_list(&mut qb, ids.iter().copied());
            qb.build().execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Gives back every delivery `owner` leased and did not begin; returns how many.
    pub async fn release_owner_claims(&self, owner: &str) -> Result<u64> {
        Ok(with_pool!(self, |p| {
            sqlx::query(
                "update deliveries set lease_owner = null, lease_expires_at = null \
                 where settled_at is null and lease_owner = $1 and state in ('queued', 'deferred')",
            )
            .bind(owner)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// Now, and when a lease taken now for `lease` ends.
    pub(super) fn lease_until(&self, lease: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = self.now();
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(15));
        (at, at + lease)
    }

    /// The claim statement of the transactional mails' ledger: due rows of `table` matching `filter`, oldest
    /// first, at most `limit`, leased to $1 until $2 at time $3 in one short statement.
    /// PostgreSQL lets concurrent workers skip each other's rows; SQLite serialises writers,
    /// so the same statement without the locking clause is already exclusive there.
    pub(super) fn claim_sql(
        &self,
        table: &str,
        filter: &str,
        limit: &str,
        returning: &str,
    ) -> String {
        // As for deliveries: on PostgreSQL the ids as an array, found through the primary key.
        let (open, lock, close) = match self.pool {
            Pool::Postgres(_) => ("= any(array(", "for update skip locked", "))"),
            Pool::Sqlite(_) => ("in (", "", ")"),
        };
        format!(
            "update {table} set state = 'sending', lease_owner = $1, lease_expires_at = $2, \
               attempts = attempts + 1, updated_at = $3 \
             where id {open}select id from {table} where state in ('queued', 'deferred') \
               and next_attempt_at <= $3 and {filter} order by id limit {limit} {lock}{close} \
             returning {returning}"
        )
    }

    /// Rows left in `sending` by a process that died: the message may have gone out, so they
    /// become `unknown` (never resent blindly). A row is abandoned when its lease expired, or
    /// when `is_dead(owner)` says its owner is gone (a process of this host that no longer
    /// runs). Returns how many were recovered.
    pub async fn recover_abandoned_deliveries(
        &self,
        is_dead: impl Fn(&str) -> bool,
    ) -> Result<u64> {
        let at = self.now();
        let mut recovered = 0;
        // Newsletters' deliveries and transactional mail are leased the same way.
        for table in ["deliveries", "mails"] {
            // Only deliveries say when they were settled; their unsettled rows are indexed.
            let (unsettled, settled) = match table {
                "deliveries" => ("settled_at is null and ", ", settled_at = $2"),
                _ => ("", ""),
            };
            let select = format!(
                "select id, lease_owner, lease_expires_at from {table} \
                 where {unsettled}state = 'sending' and lease_owner is not null \
                 and lease_expires_at is not null"
            );
            let rows: Vec<(i64, String, DateTime<Utc>)> =
                with_pool!(self, |p| { sqlx::query_as(&select).fetch_all(p).await })?;
            let update = format!(
                "update {table} set state = 'unknown', \
                 last_reply = 'interrompu pendant l''envoi (processus arrêté)', \
                 lease_owner = null, lease_expires_at = null, updated_at = $2{settled} \
                 where id = $1 and state = 'sending' and lease_owner = $3"
            );
            for (id, owner, expires) in rows {
                if expires >= at && !is_dead(&owner) {
                    continue;
                }
                recovered += with_pool!(self, |p| {
                    sqlx::query(&update)
                        .bind(id)
                        .bind(at)
                        .bind(&owner)
                        .execute(p)
                        .await
                        .map(|r| r.rows_affected())
                })?;
            }
        }
        // Deliveries a dead sender had claimed but not begun: free again at once, rather than
        // when their lease runs out.
        let claimed: Vec<(i64, String)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select id, lease_owner from deliveries \
                 where settled_at is null and state in ('queued', 'deferred') \
                 and lease_owner is not null",
            )
            .fetch_all(p)
            .await
        })?;
        for (id, owner) in claimed.into_iter().filter(|(_, owner)| is_dead(owner)) {
            with_pool!(self, |p| {
                sqlx::query(
                    "update deliveries set lease_owner = null, lease_expires_at = null \
                     where id = $1 and lease_owner = $2 and state in ('queued', 'deferred')",
                )
                .bind(id)
                .bind(&owner)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(recovered)
    }

    pub async fn delivery_counts(&self, issue_id: i64) -> Result<DeliveryCounts> {
        let rows: Vec<(String, i64)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select d.state, count(*) from deliveries d join dispatches x on x.id = d.dispatch_id \
                 where x.issue_id = $1 group by d.state",
            )
            .bind(issue_id)
            .fetch_all(p)
            .await
        })?;
        let mut c = DeliveryCounts::default();
        for (state, n) in rows {
            c.add(&state, n)?;
        }
        Ok(c)
    }

    /// When the next deferred delivery of this dispatch falls due, if any remain to try.
    /// Why deliveries of an issue failed: each distinct last reply and how many had it, most
    /// frequent first.
    pub async fn failure_reasons(&self, issue_id: i64) -> Result<Vec<(String, i64)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select coalesce(d.last_reply, 'raison inconnue'), count(*) from deliveries d \
                 join dispatches x on x.id = d.dispatch_id \
                 where x.issue_id = $1 and d.state = 'failed' \
                 group by d.last_reply order by count(*) desc limit 20",
            )
            .bind(issue_id)
            .fetch_all(p)
            .await
        })?)
    }

    /// Puts the deliveries of an issue whose outcome is unknown back in the queue (the desk's
    /// *Renvoyer ces messages…*, after the editor accepted that some people may get the issue
    /// twice); their dispatches are open again. Returns how many.
    pub async fn requeue_unknown(&self, issue_id: i64) -> Result<u64> {
        let at = self.now();
        Ok(with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(
                "update deliveries set state = 'queued', next_attempt_at = $2, updated_at = $2, \
                 lease_owner = null, lease_expires_at = null, settled_at = null \
                 where state = 'unknown' and dispatch_id in \
                   (select id from dispatches where issue_id = $1 and state <> 'cancelled')",
            )
            .bind(issue_id)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done > 0 {
                sqlx::query(
                    "update dispatches set completed_at = null \
                     where issue_id = $1 and state <> 'cancelled'",
                )
                .bind(issue_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?)
    }

    /// The last sent issues of a title, newest first: (issue, subject, delivered, failed,
    /// unknown), for the report's chart.
    pub async fn issue_history(
        &self,
        newsletter: &str,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64, i64, i64)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, i.subject, \
                   coalesce(sum(case when d.state = 'sent' then 1 else 0 end), 0), \
                   coalesce(sum(case when d.state = 'failed' then 1 else 0 end), 0), \
                   coalesce(sum(case when d.state = 'unknown' then 1 else 0 end), 0) \
                 from issues i join newsletters n on n.id = i.newsletter_id \
                 join dispatches x on x.issue_id = i.id join deliveries d on d.dispatch_id = x.id \
                 where n.slug = $1 and i.status = 'sent' \
                 group by i.id, i.subject, i.sent_at order by i.sent_at desc, i.id desc limit $2",
            )
            .bind(newsletter)
            .bind(limit)
            .fetch_all(p)
            .await
        })?)
    }

    /// Unsubscriptions from a title between two moments (those that followed an issue).
    pub async fn unsubscribes_between(
        &self,
        newsletter: &str,
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    ) -> Result<i64> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar(
                "select count(*) from consents c join newsletters n on n.id = c.newsletter_id \
                 where n.slug = $1 and c.action = 'unsubscribe' and c.created_at >= $2 \
                 and ($3 is null or c.created_at < $3)",
            )
            .bind(newsletter)
            .bind(from)
            .bind(to)
            .fetch_one(p)
            .await
        })?)
    }

    pub async fn next_attempt(&self, dispatch_id: i64) -> Result<Option<DateTime<Utc>>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar(
                "select min(next_attempt_at) from deliveries where dispatch_id = $1 \
                 and settled_at is null and state in ('queued', 'deferred')",
            )
            .bind(dispatch_id)
            .fetch_one(p)
            .await
        })?)
    }

    /// Marks the dispatch complete once nothing is left to try, and its issue sent when it was
    /// the issue's last open dispatch.
    ///
    /// The check and the mark are one step, never a count then an update: a freeze (a
    /// schedule's send, the desk's) may add rows and reopen the dispatch between the two, and
    /// the update would then close a dispatch with recipients still queued, which no claim
    /// reads again. On SQLite the transaction holds the write lock from its start. On
    /// PostgreSQL the dispatch row is locked first and the rows are looked for by the next
    /// statement, whose snapshot sees whatever committed before the lock was had:
    /// a freeze reopens the dispatch after its rows are committed, so either the rows are
    /// seen or the reopening comes after this mark.
    ///
    /// A row whose person was deleted by hand (`subscriber_id` null: the app only ever
    /// erases) is never claimed. Waiting rows of that kind do not hold the dispatch open: when
    /// it closes, they are settled as skipped in the same transaction. They are looked at only
    /// then, so a tick of a large send does not walk its whole queue for them; one in flight
    /// still holds it open until its outcome is written.
    pub async fn complete_dispatch_if_done(&self, dispatch: &DispatchRow) -> Result<bool> {
        const COMPLETE: &str =
            "update dispatches set completed_at = coalesce(completed_at, $2) where id = $1 \
             and not exists (select 1 from deliveries where dispatch_id = $1 \
               and settled_at is null and (state = 'sending' \
                 or (state in ('queued', 'deferred') and subscriber_id is not null)))";
        const ORPHANS: &str = "update deliveries set state = 'skipped', \
               last_reply = 'destinataire supprimé', lease_owner = null, lease_expires_at = null, \
               updated_at = $2, settled_at = $2 \
             where dispatch_id = $1 and settled_at is null and state in ('queued', 'deferred') \
               and subscriber_id is null";
        let at = self.now();
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            if matches!(self.pool, Pool::Postgres(_)) {
                sqlx::query("select id from dispatches where id = $1 for update")
                    .bind(dispatch.id)
                    .execute(&mut *tx)
                    .await?;
            }
            let done = sqlx::query(COMPLETE)
                .bind(dispatch.id)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done > 0 {
                sqlx::query(ORPHANS)
                    .bind(dispatch.id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        if done == 0 {
            return Ok(false);
        }
        // The issue is sent once all its dispatches are (a segment's may still be going).
        self.mark_issue_sent_if_done(dispatch.issue_id).await?;
        Ok(true)
    }
}
