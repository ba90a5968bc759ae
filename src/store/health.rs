//! What `/healthz` and `/metrics` read from the database: a few short queries run at request
//! time (the claim index `(state, next_attempt_at)` answers those about the queue).

use chrono::{DateTime, Utc};

use super::{with_pool, DeliveryCounts, Result, Store};

/// The state of the work, as the database holds it (the same in every process).
#[derive(Debug, Clone, Default)]
pub struct WorkState {
    /// The newest successful fetch of any source.
    pub last_fetch: Option<DateTime<Utc>>,
    /// Since when the oldest message waiting for its first attempt (a delivery or a
    /// transactional mail in state `queued`) is due.
    pub oldest_queued: Option<DateTime<Utc>>,
    /// Newsletters' deliveries by state.
    pub deliveries: DeliveryCounts,
    /// Transactional mails by state.
    pub mails: DeliveryCounts,
}

impl Store {
    pub async fn work_state(&self) -> Result<WorkState> {
        let last_fetch: Option<DateTime<Utc>> = with_pool!(self, |p| {
            sqlx::query_scalar("select max(last_success_at) from sources")
                .fetch_one(p)
                .await
        })?;
        let mut oldest_queued: Option<DateTime<Utc>> = None;
        let mut counts = [DeliveryCounts::default(), DeliveryCounts::default()];
        for (table, counts) in ["deliveries", "mails"].into_iter().zip(counts.iter_mut()) {
            let oldest_sql =
                format!("select min(next_attempt_at) from {table} where state = 'queued'");
            let oldest: Option<DateTime<Utc>> = with_pool!(self, |p| {
                sqlx::query_scalar(&oldest_sql).fetch_one(p).await
            })?;
            oldest_queued = match (oldest_queued, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let count_sql = format!("select state, count(*) from {table} group by state");
            let rows: Vec<(String, i64)> =
                with_pool!(self, |p| { sqlx::query_as(&count_sql).fetch_all(p).await })?;
            for (state, n) in rows {
                counts.add(&state, n)?;
            }
        }
        let [deliveries, mails] = counts;
        Ok(WorkState {
            last_fetch,
            oldest_queued,
            deliveries,
            mails,
        })
    }
}
