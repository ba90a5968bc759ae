//! Members' classified ads: posting, the member's own changes, moderation, the public board,
//! expiry. Every change of state leaves an event with who and when.

use chrono::{DateTime, NaiveDate, Utc};

use super::mails::mail_message_id;
use super::{with_pool, BeginWrite, Result, Store, StoreError};
use crate::domain::ad::AdDraft;
use crate::domain::AdCategory;

/// An ad as its member, staff and the board see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AdRow {
    pub id: i64,
    pub member_id: i64,
    pub org_name: String,
    pub title: String,
    /// The member's Markdown.
    pub body: String,
    /// `body` as sanitised HTML.
    pub body_html: String,
    pub category: String,
    pub departement: Option<String>,
    pub country: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    /// `pending`, `approved`, `rejected`, `withdrawn`, `expired`.
    pub state: String,
    pub reject_reason: Option<String>,
    pub expires_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One decision on an ad.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AdEvent {
    pub action: String,
    /// The editor's address, or the member person's.
    pub by: Option<String>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Who acts on an ad.
#[derive(Debug, Clone, Copy)]
pub enum AdActor {
    /// A person of the ad's organisation (the id of `member_people`), acting for `member_id`.
    Member {
        member_id: i64,
        person_id: i64,
    },
    Staff {
        user_id: i64,
    },
}

/// Filters of the public board.
#[derive(Debug, Clone, Default)]
pub struct BoardFilter {
    pub category: Option<AdCategory>,
    pub departement: Option<String>,
}

/// What happened to a change asked of an ad that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdChange {
    Done,
    /// The ad is not in a state that allows it (an approved ad is no longer edited by its
    /// member; a withdrawn one stays withdrawn).
    NotNow,
}

const AD: &str = "select a.id, a.member_id, m.org_name, a.title, a.body, a.body_html, a.category, \
     a.departement, a.country, a.contact_email, a.contact_phone, a.state, a.reject_reason, \
     a.expires_on, a.created_at, a.approved_at, a.updated_at \
     from ads a join members m on m.id = a.member_id";

/// Binds an ad's content, `$2` to `$10` of both the insert and the edit: title, body, its
/// HTML, category, département, country, the two ways to answer, expiry.
macro_rules! bind_content {
    ($query:expr, $ad:expr, $html:expr) => {
        $query
            .bind(&$ad.title)
            .bind(&$ad.body)
            .bind($html)
            .bind($ad.category.as_str())
            .bind(&$ad.departement)
            .bind(&$ad.country)
            .bind(&$ad.contact_email)
            .bind(&$ad.contact_phone)
            .bind($ad.expires_on)
    };
}

/// Records a decision, inside the transaction `$tx` that makes it.
macro_rules! record_event {
    ($tx:expr, $ad:expr, $action:expr, $actor:expr, $reason:expr, $at:expr) => {{
        let (user, person): (Option<i64>, Option<i64>) = match $actor {
            Some(AdActor::Staff { user_id }) => (Some(user_id), None),
            Some(AdActor::Member { person_id, .. }) => (None, Some(person_id)),
            None => (None, None),
        };
        sqlx::query(
            "insert into ad_events (ad_id, action, user_id, person_id, reason, at) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind($ad)
        .bind($action)
        .bind(user)
        .bind(person)
        .bind($reason)
        .bind($at)
        .execute(&mut *$tx)
        .await
    }};
}

impl Store {
    /// A new ad, pending moderation.
    pub async fn create_ad(
        &self,
        member_id: i64,
        person_id: i64,
        ad: &AdDraft,
        body_html: &str,
    ) -> Result<i64> {
        let at = self.now();
        let id = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let insert = sqlx::query_scalar(
                "insert into ads (member_id, title, body, body_html, category, departement, country, \
                   contact_email, contact_phone, state, expires_on, created_at, updated_at, posted_by) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $11, $12) returning id",
            )
            .bind(member_id);
            let id: i64 = bind_content!(insert, ad, body_html)
                .bind(at)
                .bind(person_id)
                .fetch_one(&mut *tx)
                .await?;
            let actor = AdActor::Member {
                member_id,
                person_id,
            };
            record_event!(tx, id, "submitted", Some(actor), None::<&str>, at)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        Ok(id)
    }

    pub async fn ad(&self, id: i64) -> Result<AdRow> {
        let sql = format!("{AD} where a.id = $1");
        let row = with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)
    }

    /// An ad of this organisation; another organisation's ad is "not found", as if it did
    /// not exist.
    pub async fn member_ad(&self, member_id: i64, id: i64) -> Result<AdRow> {
        let ad = self.ad(id).await?;
        if ad.member_id != member_id {
            return Err(StoreError::NotFound);
        }
        Ok(ad)
    }

    /// The organisation's ads, newest first.
    pub async fn member_ads(&self, member_id: i64) -> Result<Vec<AdRow>> {
        let sql = format!("{AD} where a.member_id = $1 order by a.id desc");
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(member_id)
            .fetch_all(p)
            .await)?)
    }

    /// Ads in one state, oldest first (the moderation queue reads `pending`).
    pub async fn ads_in_state(&self, state: &str) -> Result<Vec<AdRow>> {
        let sql = format!("{AD} where a.state = $1 order by a.updated_at, a.id");
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(state)
            .fetch_all(p)
            .await)?)
    }

    pub async fn pending_ad_count(&self) -> Result<i64> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar("select count(*) from ads where state = 'pending'")
                .fetch_one(p)
                .await
        })?)
    }

    pub async fn ad_events(&self, id: i64) -> Result<Vec<AdEvent>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select e.action, coalesce(u.email, p.email) as by, e.reason, e.at \
                 from ad_events e left join users u on u.id = e.user_id \
                 left join member_people p on p.id = e.person_id \
                 where e.ad_id = $1 order by e.at, e.id",
            )
            .bind(id)
            .fetch_all(p)
            .await
        })?)
    }

    /// Replaces an ad's content. Its member may edit it while it waits or after a refusal
    /// (it then waits again); staff may edit a pending ad before approving it.
    pub async fn edit_ad(
        &self,
        id: i64,
        actor: AdActor,
        ad: &AdDraft,
        body_html: &str,
    ) -> Result<AdChange> {
        let at = self.now();
        let (scope, states) = match actor {
            AdActor::Member { member_id, .. } => (Some(member_id), "('pending', 'rejected')"),
            AdActor::Staff { .. } => (None, "('pending')"),
        };
        let sql = format!(
            "update ads set title = $2, body = $3, body_html = $4, category = $5, departement = $6, \
               country = $7, contact_email = $8, contact_phone = $9, expires_on = $10, \
               updated_at = $11, state = 'pending', reject_reason = null \
             where id = $1 and state in {states} and ($12 is null or member_id = $12)"
        );
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = bind_content!(sqlx::query(&sql).bind(id), ad, body_html)
                .bind(at)
                .bind(scope)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done > 0 {
                record_event!(tx, id, "edited", Some(actor), None::<&str>, at)?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        self.change_outcome(id, scope, done).await
    }

    /// Moves an ad from one of `from` to `to` (with a reason for a refusal), recording who.
    async fn move_ad(
        &self,
        id: i64,
        actor: AdActor,
        from: &str,
        to: &str,
        reason: Option<&str>,
        mail_domain: &str,
    ) -> Result<AdChange> {
        let at = self.now();
        let scope = match actor {
            AdActor::Member { member_id, .. } => Some(member_id),
            AdActor::Staff { .. } => None,
        };
        let (approved_at, moderated_by) = match (to, actor) {
            ("approved", AdActor::Staff { user_id }) => (Some(at), Some(user_id)),
            ("rejected", AdActor::Staff { user_id }) => (None, Some(user_id)),
            _ => (None, None),
        };
        let sql = format!(
            "update ads set state = $2, updated_at = $3, reject_reason = $4, \
               approved_at = coalesce($5, approved_at), moderated_by = coalesce($6, moderated_by) \
             where id = $1 and state in {from} and ($7 is null or member_id = $7)"
        );
        let action = match to {
            "approved" => "approved",
            "rejected" => "rejected",
            _ => "withdrawn",
        };
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(&sql)
                .bind(id)
                .bind(to)
                .bind(at)
                .bind(reason)
                .bind(approved_at)
                .bind(moderated_by)
                .bind(scope)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done > 0 {
                record_event!(tx, id, action, Some(actor), reason, at)?;
                if to != "approved" {
                    // Withdrawn or unpublished: it leaves the issues not sent yet.
                    sqlx::query(
                        "delete from issue_entries where ad_id = $1 and issue_id in \
                         (select id from issues where status in ('draft', 'approved'))",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                if to == "rejected" {
                    // The reason reaches the member: the person who posted the ad, else the
                    // organisation's address.
                    sqlx::query(
                        "insert into mails (kind, ad_id, email, state, next_attempt_at, message_id, \
                           created_at, updated_at) \
                         select 'ad_rejected', a.id, coalesce(p.email, m.email), 'queued', $2, $3, $2, $2 \
                         from ads a join members m on m.id = a.member_id \
                         left join member_people p on p.id = a.posted_by where a.id = $1",
                    )
                    .bind(id)
                    .bind(at)
                    .bind(mail_message_id(mail_domain))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        self.change_outcome(id, scope, done).await
    }

    /// Staff approve a pending ad: it appears on the board and in the next issues of Les
    /// Échos du Réseau until it expires.
    pub async fn approve_ad(&self, id: i64, user_id: i64) -> Result<AdChange> {
        self.move_ad(
            id,
            AdActor::Staff { user_id },
            "('pending')",
            "approved",
            None,
            "",
        )
        .await
    }

    /// Staff refuse a pending ad (or take back an approved one) with a reason mailed to the
    /// member.
    pub async fn reject_ad(
        &self,
        id: i64,
        user_id: i64,
        reason: &str,
        mail_domain: &str,
    ) -> Result<AdChange> {
        self.move_ad(
            id,
            AdActor::Staff { user_id },
            "('pending', 'approved')",
            "rejected",
            Some(reason),
            mail_domain,
        )
        .await
    }

    /// Its member withdraws an ad, whatever its state but final ones.
    pub async fn withdraw_ad(&self, id: i64, member_id: i64, person_id: i64) -> Result<AdChange> {
        self.move_ad(
            id,
            AdActor::Member {
                member_id,
                person_id,
            },
            "('pending', 'approved', 'rejected')",
            "withdrawn",
            None,
            "",
        )
        .await
    }

    /// A new expiry for a current ad (pending or approved); the expiry notice may come again.
    pub async fn extend_ad(
        &self,
        id: i64,
        actor: AdActor,
        expires_on: NaiveDate,
    ) -> Result<AdChange> {
        let at = self.now();
        let scope = match actor {
            AdActor::Member { member_id, .. } => Some(member_id),
            AdActor::Staff { .. } => None,
        };
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(
                "update ads set expires_on = $2, updated_at = $3, expiry_warned_on = null \
                 where id = $1 and state in ('pending', 'approved') and ($4 is null or member_id = $4)",
            )
            .bind(id)
            .bind(expires_on)
            .bind(at)
            .bind(scope)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done > 0 {
                record_event!(tx, id, "extended", Some(actor), None::<&str>, at)?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        self.change_outcome(id, scope, done).await
    }

    /// No row changed: the ad is missing (or another organisation's), or not in a state
    /// that allows the change.
    async fn change_outcome(&self, id: i64, scope: Option<i64>, done: u64) -> Result<AdChange> {
        if done > 0 {
            return Ok(AdChange::Done);
        }
        match scope {
            Some(member_id) => self.member_ad(member_id, id).await?,
            None => self.ad(id).await?,
        };
        Ok(AdChange::NotNow)
    }

    /// Approved ads still current on `today`, newest approval first: the board and what a
    /// new issue of Les Échos du Réseau carries (the issue groups them by category).
    pub async fn board_ads(&self, today: NaiveDate, f: &BoardFilter) -> Result<Vec<AdRow>> {
        let sql = format!(
            "{AD} where a.state = 'approved' and a.expires_on >= $1 \
             and ($2 is null or a.category = $2) and ($3 is null or a.departement = $3) \
             order by a.approved_at desc, a.id desc"
        );
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(today)
            .bind(f.category.map(|c| c.as_str()))
            .bind(&f.departement)
            .fetch_all(p)
            .await)?)
    }

    /// The ads a new issue of Les Échos du Réseau starts with.
    pub async fn current_ads(&self, today: NaiveDate) -> Result<Vec<i64>> {
        Ok(self
            .board_ads(today, &BoardFilter::default())
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect())
    }

    /// Daily upkeep on `today`: approved ads past their date become `expired` (and leave the
    /// drafts that still hold them); members of ads expiring within `warn_days` get one
    /// notice each. Returns (expired, warned).
    pub async fn ads_upkeep(
        &self,
        today: NaiveDate,
        warn_days: i64,
        mail_domain: &str,
    ) -> Result<(u64, u64)> {
        let at = self.now();
        let warn_until = today + chrono::Duration::days(warn_days);
        let out = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let gone: Vec<i64> = sqlx::query_scalar(
                "select id from ads where state in ('approved', 'pending') and expires_on < $1",
            )
            .bind(today)
            .fetch_all(&mut *tx)
            .await?;
            // Each row changes only if it still needs to: two daemons' upkeep at once (on
            // PostgreSQL) neither expires an ad twice nor mails its member twice.
            let mut expired = 0;
            for id in &gone {
                let changed = sqlx::query(
                    "update ads set state = 'expired', updated_at = $2 \
                     where id = $1 and state in ('approved', 'pending')",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    continue;
                }
                expired += 1;
                record_event!(tx, *id, "expired", None::<AdActor>, None::<&str>, at)?;
                sqlx::query(
                    "delete from issue_entries where ad_id = $1 and issue_id in \
                     (select id from issues where status in ('draft', 'approved'))",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            let warn: Vec<(i64, String)> = sqlx::query_as(
                "select a.id, coalesce(p.email, m.email) from ads a \
                 join members m on m.id = a.member_id \
                 left join member_people p on p.id = a.posted_by \
                 where a.state = 'approved' and a.expiry_warned_on is null \
                 and a.expires_on >= $1 and a.expires_on <= $2",
            )
            .bind(today)
            .bind(warn_until)
            .fetch_all(&mut *tx)
            .await?;
            let mut warned = 0;
            for (id, email) in &warn {
                let changed = sqlx::query(
                    "update ads set expiry_warned_on = $2 where id = $1 and expiry_warned_on is null",
                )
                .bind(id)
                .bind(today)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    continue;
                }
                warned += 1;
                sqlx::query(
                    "insert into mails (kind, ad_id, email, state, next_attempt_at, message_id, \
                       created_at, updated_at) values ('ad_expiring', $1, $2, 'queued', $3, $4, $3, $3)",
                )
                .bind(id)
                .bind(email)
                .bind(at)
                .bind(mail_message_id(mail_domain))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>((expired, warned))
        })?;
        Ok(out)
    }
}
