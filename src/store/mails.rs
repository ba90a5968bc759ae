//! Transactional mail (confirmation links now): a ledger like the deliveries of newsletters.
//! A message is queued in the transaction that asks for it, claimed by the same sender
//! workers with a lease, and its outcome recorded by the lease holder only.

use crate::domain::DeliveryState;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::domain::MailKind;

use super::{ts, with_pool, DeliveryCounts, DeliveryOutcome, Result, Store};

#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub id: i64,
    pub kind: MailKind,
    pub subscriber_id: Option<i64>,
    /// The issue a test mail shows.
    pub issue_id: Option<i64>,
    /// The sign-in link a member's mail carries.
    pub login_id: Option<i64>,
    /// The ad a mail about an ad names.
    pub ad_id: Option<i64>,
    /// The schedule run an editors' notice is about.
    pub job_run_id: Option<i64>,
    pub email: String,
    pub message_id: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// A mail that did not go out (or may not have), for `relais mail status`.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct MailProblem {
    pub id: i64,
    pub kind: MailKind,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_reply: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// What a confirmation message needs, read when it is sent (so it always carries the newest
/// key); `None` when the person is gone or stopped by the mail system. Whether something is
/// pending is not asked: the person may leave and take back a title between the request and
/// the send, and the newest link must still reach them (confirming nothing is harmless).
#[derive(Debug, Clone)]
pub struct ConfirmationData {
    pub confirm_key: String,
    pub name: String,
}

/// Older confirmation mails of the person not yet sent are skipped: only the newest link
/// confirms, so only the newest message is worth sending.
pub(super) const SUPERSEDE_CONFIRMATIONS: &str =
    "update mails set state = 'skipped', last_reply = 'remplacé par un envoi plus récent', \
     updated_at = $2 where subscriber_id = $1 and kind = 'confirmation' \
     and state in ('queued', 'deferred')";

/// Binds: subscriber id, address, time, Message-ID.
pub(super) const QUEUE_CONFIRMATION: &str =
    "insert into mails (kind, subscriber_id, email, state, next_attempt_at, message_id, \
       created_at, updated_at) values ('confirmation', $1, $2, 'queued', $3, $4, $3, $3)";

/// A Message-ID for a transactional mail, fixed when it is queued (a retry reuses it).
pub(super) fn mail_message_id(mail_domain: &str) -> String {
    format!(
        "<relais.mail.{}@{mail_domain}>",
        hex::encode(rand::random::<[u8; 12]>())
    )
}

impl Store {
    /// Claims the oldest due transactional mail, leasing it to `owner`.
    pub async fn claim_mail(&self, owner: &str, lease: Duration) -> Result<Option<ClaimedMail>> {
        let (at, expires) = self.lease_until(lease);
        let sql = self.claim_sql(
            "mails",
            "true",
            "1",
            "id, kind, subscriber_id, issue_id, login_id, ad_id, job_run_id, email, message_id, \
             attempts, created_at",
        );
        type Row = (
            i64,
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            String,
            String,
            i64,
            DateTime<Utc>,
        );
        let row: Option<Row> = with_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(owner)
                .bind(expires)
                .bind(at)
                .fetch_optional(p)
                .await
        })?;
        let Some((
            id,
            kind,
            subscriber_id,
            issue_id,
            login_id,
            ad_id,
            job_run_id,
            email,
            message_id,
            attempts,
            created_at,
        )) = row
        else {
            return Ok(None);
        };
        let kind = MailKind::parse(&kind).ok_or_else(|| {
            super::StoreError::Database(sqlx::Error::Decode(
                format!("mails.kind `{kind}` is not a kind this version knows").into(),
            ))
        })?;
        Ok(Some(ClaimedMail {
            id,
            kind,
            subscriber_id,
            issue_id,
            login_id,
            ad_id,
            job_run_id,
            email,
            message_id,
            attempts,
            created_at,
        }))
    }

    /// Queues a test of an issue for an editor's address; the sender renders the issue when
    /// it sends, so the test shows the issue as it is then.
    pub async fn queue_test_mail(
        &self,
        issue_id: i64,
        email: &str,
        mail_domain: &str,
    ) -> Result<i64> {
        let at = self.now();
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into mails (kind, issue_id, email, state, next_attempt_at, message_id, \
                   created_at, updated_at) values ('test', $1, $2, 'queued', $3, $4, $3, $3) \
                 returning id",
            )
            .bind(issue_id)
            .bind(email)
            .bind(at)
            .bind(mail_message_id(mail_domain))
            .fetch_one(p)
            .await
        })?)
    }

    /// Records how an attempt ended. Only the lease holder may do so: returns false when the
    /// lease was lost (the row was recovered as `unknown` meanwhile) and nothing was written.
    pub async fn record_mail(
        &self,
        id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<bool> {
        self.record_outcome("mails", id, owner, outcome).await
    }

    /// The newest confirmation key of a person who still has something to confirm.
    pub async fn confirmation_data(&self, subscriber_id: i64) -> Result<Option<ConfirmationData>> {
        let row: Option<(String, String)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select s.confirm_key, s.name from subscribers s \
                 where s.id = $1 and s.erased_at is null and s.confirm_key is not null \
                 and s.status not in ('bounced', 'complained')",
            )
            .bind(subscriber_id)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(confirm_key, name)| ConfirmationData { confirm_key, name }))
    }

    /// Counts of transactional mail by kind and state.
    pub async fn mail_counts(&self) -> Result<Vec<(MailKind, DeliveryCounts)>> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, |p| {
            sqlx::query_as("select kind, state, count(*) from mails group by kind, state")
                .fetch_all(p)
                .await
        })?;
        let mut out: Vec<(MailKind, DeliveryCounts)> = MailKind::ALL
            .iter()
            .map(|k| (*k, DeliveryCounts::default()))
            .collect();
        for (kind, state, n) in rows {
            let Some(slot) = out.iter_mut().find(|(k, _)| k.as_str() == kind) else {
                return Err(super::StoreError::Database(sqlx::Error::Decode(
                    format!("mails.kind `{kind}` is not a kind this version knows").into(),
                )));
            };
            slot.1.add(&state, n)?;
        }
        Ok(out)
    }

    /// The latest mails that failed, are waiting for a retry, or may not have arrived.
    pub async fn mail_problems(&self, limit: i64) -> Result<Vec<MailProblem>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, kind, state, attempts, last_reply, updated_at from mails \
                 where state in ('deferred', 'failed', 'unknown') order by updated_at desc, id desc limit $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await
        })?)
    }

    /// Shared by both ledgers: the outcome of an attempt, written only by the lease holder.
    pub(super) async fn record_outcome(
        &self,
        table: &'static str,
        id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<bool> {
        let at = self.now();
        let (state, reply, next) = super::deliveries::outcome_columns(outcome);
        let sql = format!(
            "update {table} set state = $3, last_reply = $4, \
             next_attempt_at = coalesce($5, next_attempt_at), \
             sent_at = case when $3 = 'sent' then $6 else sent_at end, \
             lease_owner = null, lease_expires_at = null, updated_at = $6 \
             where id = $1 and lease_owner = $2 and state = 'sending'"
        );
        let written = with_pool!(self, |p| {
            sqlx::query(&sql)
                .bind(id)
                .bind(owner)
                .bind(state)
                .bind(reply)
                .bind(next.map(ts))
                .bind(at)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(written > 0)
    }
}
