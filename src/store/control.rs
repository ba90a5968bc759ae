//! Control of a send: pause, resume and cancel an issue's dispatches (an editor's decision, or
//! the 5.7.x circuit breaker's), and the editors' notice that a send paused itself.

use chrono::{DateTime, Utc};

use super::{with_pool, BeginWrite, Result, Store};
use crate::domain::DispatchState;

/// One dispatch of an issue as the report and `issue status` show it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct DispatchControl {
    pub id: i64,
    /// The segment's slug, empty for the whole title.
    pub segment: String,
    pub state: DispatchState,
    pub reason: String,
    pub changed_at: Option<DateTime<Utc>>,
}

/// What a control command changed: how many dispatches the issue has, and how many changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlOutcome {
    pub dispatches: u64,
    pub changed: u64,
    /// Queued or deferred deliveries a cancel turned `skipped`.
    pub skipped: u64,
}

impl Store {
    /// The issue's dispatches, oldest first.
    pub async fn dispatch_controls(&self, issue_id: i64) -> Result<Vec<DispatchControl>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, segment_key as segment, state, state_reason as reason, \
                   state_changed_at as changed_at \
                 from dispatches where issue_id = $1 order by id",
            )
            .bind(issue_id)
            .fetch_all(p)
            .await
        })?)
    }

    /// Moves the issue's dispatches that are in one of `from` to `to`, with the reason. A
    /// cancel also turns their queued and deferred deliveries `skipped` (leased ones too:
    /// their attempt has not started, and its mark will find nothing to start), in the same
    /// transaction, so that nothing more leaves.
    pub async fn control_dispatches(
        &self,
        issue_id: i64,
        from: &[DispatchState],
        to: DispatchState,
        reason: &str,
    ) -> Result<ControlOutcome> {
        let at = self.now();
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let placeholders = (0..from.len())
            .map(|n| format!("${}", n + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let update = format!(
            "update dispatches set state = $2, state_reason = $3, state_changed_at = $4 \
             where issue_id = $1 and state in ({placeholders})"
        );
        Ok(with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let dispatches: i64 =
                sqlx::query_scalar("select count(*) from dispatches where issue_id = $1")
                    .bind(issue_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let mut query = sqlx::query(&update)
                .bind(issue_id)
                .bind(to)
                .bind(reason)
                .bind(at);
            for state in &from {
                query = query.bind(*state);
            }
            let changed = query.execute(&mut *tx).await?.rows_affected();
            let skipped = if to == DispatchState::Cancelled {
                sqlx::query(
                    "update deliveries set state = 'skipped', last_reply = $2, \
                       lease_owner = null, lease_expires_at = null, updated_at = $3, \
                       settled_at = $3 \
                     where settled_at is null and state in ('queued', 'deferred') and dispatch_id in \
                       (select id from dispatches where issue_id = $1 and state = 'cancelled')",
                )
                .bind(issue_id)
                .bind(format!("envoi annulé : {reason}"))
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            } else {
                0
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ControlOutcome {
                dispatches: u64::try_from(dispatches).unwrap_or(0),
                changed,
                skipped,
            })
        })?)
    }

    /// The circuit breaker's pause: the dispatch pauses if it is still active, and in the same
    /// transaction a notice is queued for every active staff account. Returns whether it
    /// paused now (a second trip, or an editor's pause first, queues nothing).
    pub async fn pause_dispatch_and_notify(
        &self,
        dispatch_id: i64,
        reason: &str,
        mail_domain: &str,
    ) -> Result<bool> {
        let at = self.now();
        Ok(with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let paused = sqlx::query(
                "update dispatches set state = 'paused', state_reason = $2, state_changed_at = $3 \
                 where id = $1 and state = 'active'",
            )
            .bind(dispatch_id)
            .bind(reason)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if paused {
                // One Message-ID per (dispatch, pause, account): a dispatch may pause again
                // after a resume.
                sqlx::query(
                    "insert into mails (kind, issue_id, email, state, next_attempt_at, message_id, \
                       created_at, updated_at) \
                     select 'dispatch_paused', x.issue_id, u.email, 'queued', $2, \
                       '<relais.paused.' || $3 || '.' || cast(u.id as text) || '@' || $4 || '>', $2, $2 \
                     from users u join dispatches x on x.id = $1 where u.disabled_at is null",
                )
                .bind(dispatch_id)
                .bind(at)
                .bind(format!("{dispatch_id}.{}", at.timestamp()))
                .bind(mail_domain)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(paused)
        })?)
    }
}
