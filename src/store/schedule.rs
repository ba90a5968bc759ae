//! The scheduler's leadership lease, and the record of schedule runs (`job_runs`): a run is
//! inserted before it acts, so an occurrence runs once whatever the processes and restarts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ts, with_pool, Result, Store};
use crate::domain::schedule::DraftState;
use crate::domain::{IssueStatus, JobKind, JobOutcome};

/// One recorded run, as `relais schedule` and the desk list it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct JobRun {
    pub id: i64,
    pub newsletter: String,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
    pub ran_at: DateTime<Utc>,
    pub outcome: JobOutcome,
    pub detail: String,
    pub issue_id: Option<i64>,
}

const JOB_RUN: &str =
    "select id, newsletter, kind, due_at, ran_at, outcome, detail, issue_id from job_runs";

impl Store {
    /// Takes or renews the named lease for `holder`. True while `holder` leads.
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let at = self.now();
        let expires = at + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
        let done = with_pool!(self, |p| {
            sqlx::query(
                "insert into leases (name, holder, expires_at) values ($1, $2, $3) \
                 on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at \
                 where leases.holder = excluded.holder or leases.expires_at < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(expires)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        with_pool!(self, |p| {
            sqlx::query("delete from leases where name = $1 and holder = $2")
                .bind(name)
                .bind(holder)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

impl Store {
    /// Records that the occurrence (title, kind, due time) runs now, as `pending`. `None`: it
    /// was already recorded (by another process, or before a restart) and must not run again.
    pub async fn begin_job_run(
        &self,
        newsletter: &str,
        kind: JobKind,
        due_at: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into job_runs (newsletter, kind, due_at, ran_at) values ($1, $2, $3, $4) \
                 on conflict (newsletter, kind, due_at) do nothing returning id",
            )
            .bind(newsletter)
            .bind(kind)
            .bind(ts(due_at))
            .bind(self.now())
            .fetch_optional(p)
            .await
        })?)
    }

    /// How the run ended, and the issue it made or acted on.
    pub async fn finish_job_run(
        &self,
        id: i64,
        outcome: JobOutcome,
        detail: &str,
        issue_id: Option<i64>,
    ) -> Result<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "update job_runs set outcome = $2, detail = $3, issue_id = coalesce($4, issue_id) \
                 where id = $1",
            )
            .bind(id)
            .bind(outcome)
            .bind(detail)
            .bind(issue_id)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The newest recorded occurrence of each (title, kind).
    pub async fn last_job_runs(&self) -> Result<Vec<(String, JobKind, DateTime<Utc>)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select newsletter, kind, max(due_at) from job_runs group by newsletter, kind",
            )
            .fetch_all(p)
            .await
        })?)
    }

    /// The newest runs first, at most `limit`.
    pub async fn job_runs(&self, limit: i64) -> Result<Vec<JobRun>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(&format!("{JOB_RUN} order by due_at desc, id desc limit $1"))
                .bind(limit)
                .fetch_all(p)
                .await
        })?)
    }

    pub async fn job_run(&self, id: i64) -> Result<Option<JobRun>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(&format!("{JOB_RUN} where id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await
        })?)
    }

    /// The issue the title's newest draft run created, as a reminder or a send finds it.
    pub async fn scheduled_draft(&self, newsletter: &str) -> Result<Option<DraftState>> {
        let row: Option<(i64, IssueStatus, i64)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, i.status, \
                   (select count(*) from issue_entries e where e.issue_id = i.id) \
                 from job_runs r join issues i on i.id = r.issue_id \
                 where r.newsletter = $1 and r.kind = 'draft' \
                 order by r.due_at desc limit 1",
            )
            .bind(newsletter)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(issue, status, entries)| DraftState {
            issue,
            open: matches!(status, IssueStatus::Draft | IssueStatus::Approved),
            approved: status == IssueStatus::Approved,
            entries: usize::try_from(entries).unwrap_or(0),
        }))
    }

    /// Queues the notice of a run to every active staff account; returns how many. One
    /// Message-ID per (run, account), so the statement alone keeps them unique.
    pub async fn queue_schedule_notices(
        &self,
        run: i64,
        editors: &[String],
        mail_domain: &str,
    ) -> Result<u64> {
        // No list: every active account; a list: each of its active accounts.
        let everyone = [None];
        let listed: Vec<Option<&str>> = editors.iter().map(|e| Some(e.as_str())).collect();
        let wanted: &[Option<&str>] = if editors.is_empty() {
            &everyone
        } else {
            &listed
        };
        let mut queued = 0;
        for email in wanted {
            queued += with_pool!(self, |p| {
                sqlx::query(
                    "insert into mails (kind, job_run_id, email, state, next_attempt_at, message_id, \
                       created_at, updated_at) \
                     select 'schedule_notice', $1, email, 'queued', $2, \
                       '<relais.notice.' || $3 || '.' || cast(id as text) || '@' || $4 || '>', $2, $2 \
                     from users where disabled_at is null and ($5 is null or email = $5)",
                )
                .bind(run)
                .bind(self.now())
                .bind(run.to_string())
                .bind(mail_domain)
                .bind(*email)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(queued)
    }

    /// Whether `email` is an active staff account.
    pub async fn is_active_staff(&self, email: &str) -> Result<bool> {
        let n: i64 = with_pool!(self, |p| {
            sqlx::query_scalar(
                "select count(*) from users where email = $1 and disabled_at is null",
            )
            .bind(email)
            .fetch_one(p)
            .await
        })?;
        Ok(n > 0)
    }
}
