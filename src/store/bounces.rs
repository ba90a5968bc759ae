//! Bounce and complaint reports: which delivery a report is about, and what it does to the
//! person, in one transaction per report. A report is recorded once per delivery (its SHA-256
//! is part of the key), so reading it again changes nothing.

use super::{with_pool, BeginWrite, Result, Store};

/// The delivery a report names.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BouncedDelivery {
    pub id: i64,
    /// `None` once the person was deleted by hand (erasure keeps the id, not the data).
    pub subscriber_id: Option<i64>,
    /// The address it was sent to (empty once erased).
    pub email: String,
}

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceEffect {
    /// This report was already recorded for this delivery: nothing changed.
    AlreadySeen,
    /// Recorded; `suppressed` when the person's address was suppressed by it now, and for a
    /// soft bounce, how many of the person's deliveries have bounced softly so far.
    Recorded { suppressed: bool, soft_bounces: i64 },
}

/// One report about one delivery, as recorded.
pub struct NewBounce<'a> {
    pub delivery: &'a BouncedDelivery,
    /// `hard`, `soft`, `policy`, `complaint` or `other`.
    pub kind: &'a str,
    pub status: Option<&'a str>,
    pub diagnostic: Option<&'a str>,
    pub report_hash: &'a str,
}

const DELIVERY: &str = "select id, subscriber_id, email from deliveries where ";

impl Store {
    pub async fn delivery_by_id(&self, id: i64) -> Result<Option<BouncedDelivery>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(&format!("{DELIVERY}id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await
        })?)
    }

    /// The delivery whose Message-ID is `message_id`, which names its dispatch and subscriber
    /// (`<relais.DISPATCH.SUBSCRIBER@domain>`), found through the issue's one copy per person
    /// (the only index that names a delivery by its recipient, migration 0023). An erased
    /// person's rows keep their subscriber id; a row whose subscriber was deleted by hand
    /// names nobody and is found by its VERP address only.
    pub async fn delivery_by_message_id(
        &self,
        message_id: &str,
        dispatch_id: i64,
        subscriber_id: i64,
    ) -> Result<Option<BouncedDelivery>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(&format!(
                "{DELIVERY}issue_id = (select x.issue_id from dispatches x where x.id = $1) \
                 and subscriber_id = $2 and message_id = $3"
            ))
            .bind(dispatch_id)
            .bind(subscriber_id)
            .bind(message_id)
            .fetch_optional(p)
            .await
        })?)
    }

    /// Records a report and applies it: a hard bounce suppresses the address (`bounced`), a
    /// complaint too (`complained`), a soft bounce does once `soft_limit` of the person's
    /// deliveries have bounced softly; a policy refusal or anything else is only recorded.
    pub async fn record_bounce(&self, b: &NewBounce<'_>, soft_limit: i64) -> Result<BounceEffect> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let inserted = sqlx::query(
                "insert into bounces (delivery_id, subscriber_id, kind, status, diagnostic, \
                 report_hash, created_at) values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
            )
            .bind(b.delivery.id)
            .bind(b.delivery.subscriber_id)
            .bind(b.kind)
            .bind(b.status)
            .bind(b.diagnostic)
            .bind(b.report_hash)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(BounceEffect::AlreadySeen);
            }
            let Some(subscriber) = b.delivery.subscriber_id else {
                tx.commit().await?;
                return Ok(BounceEffect::Recorded {
                    suppressed: false,
                    soft_bounces: 0,
                });
            };
            let soft_bounces: i64 = if b.kind == "soft" {
                sqlx::query_scalar(
                    "select count(distinct delivery_id) from bounces \
                     where subscriber_id = $1 and kind = 'soft'",
                )
                .bind(subscriber)
                .fetch_one(&mut *tx)
                .await?
            } else {
                0
            };
            // (new status, the statuses it replaces, suppression reason)
            let change = match b.kind {
                "hard" => Some(("bounced", "('pending', 'active')", "hard-bounce")),
                "soft" if soft_bounces >= soft_limit => {
                    Some(("bounced", "('pending', 'active')", "soft-bounces"))
                }
                "complaint" => Some((
                    "complained",
                    "('pending', 'active', 'bounced')",
                    "complaint",
                )),
                _ => None,
            };
            let mut suppressed = false;
            if let Some((status, from, reason)) = change {
                let hash: Option<Option<String>> = sqlx::query_scalar(&format!(
                    "update subscribers set status = $2, updated_at = $3 \
                     where id = $1 and erased_at is null and status in {from} returning email_hash"
                ))
                .bind(subscriber)
                .bind(status)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(Some(hash)) = hash {
                    sqlx::query(
                        "insert into suppressions (email_hash, reason, created_at) \
                         values ($1, $2, $3) on conflict do nothing",
                    )
                    .bind(hash)
                    .bind(reason)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    suppressed = true;
                }
            }
            tx.commit().await?;
            Ok(BounceEffect::Recorded {
                suppressed,
                soft_bounces,
            })
        })
    }

    /// Reports recorded for an issue's deliveries, by kind: (kind, count).
    pub async fn issue_bounces(&self, issue_id: i64) -> Result<Vec<(String, i64)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select b.kind, count(distinct b.delivery_id) from bounces b \
                 join deliveries d on d.id = b.delivery_id where d.issue_id = $1 \
                 group by b.kind order by b.kind",
            )
            .bind(issue_id)
            .fetch_all(p)
            .await
        })?)
    }
}
