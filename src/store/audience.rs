//! Subscribers, their subscriptions, interests and consent records; suppressions; segments.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::{now, with_pool, BeginWrite, Result, Store, StoreError};
use crate::domain::EmailAddress;

/// A subscriber as given by an import line or a form.
#[derive(Debug, Clone, Default)]
pub struct NewSubscriber {
    pub email: Option<EmailAddress>,
    pub name: String,
    pub newsletters: BTreeSet<String>,
    pub themes: BTreeSet<String>,
    pub countries: BTreeSet<String>,
    pub departements: BTreeSet<String>,
    pub college: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Added,
    Updated,
    Unchanged,
    /// Erased, bounced or complained: never re-added silently.
    Suppressed,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsentExport {
    pub newsletter: Option<String>,
    pub action: String,
    pub method: String,
    pub ip: Option<String>,
    pub text_version: Option<String>,
    pub at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriberExport {
    pub email: String,
    pub name: String,
    pub status: String,
    pub newsletters: Vec<String>,
    pub themes: Vec<String>,
    pub countries: Vec<String>,
    pub departements: Vec<String>,
    pub college: Option<String>,
    pub created_at: DateTime<Utc>,
    pub consents: Vec<ConsentExport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFilter {
    pub kind: &'static str,
    pub value: String,
}

/// Interests as (kind, value) pairs, the shape of `subscriber_interests`.
fn interests(s: &NewSubscriber) -> BTreeSet<(String, String)> {
    let tagged = |kind: &str, values: &BTreeSet<String>| {
        values
            .iter()
            .map(|v| (kind.to_string(), v.clone()))
            .collect::<Vec<_>>()
    };
    tagged("theme", &s.themes)
        .into_iter()
        .chain(tagged("country", &s.countries))
        .chain(tagged("departement", &s.departements))
        .collect()
}

impl Store {
    pub async fn is_suppressed(&self, email_hash: &str) -> Result<bool> {
        Ok(self.suppression_reason(email_hash).await?.is_some())
    }

    /// Why an address is suppressed (hard-bounce, complaint, erased, staff), if it is.
    pub async fn suppression_reason(&self, email_hash: &str) -> Result<Option<String>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar("select reason from suppressions where email_hash = $1")
                .bind(email_hash)
                .fetch_optional(p)
                .await
        })?)
    }

    /// Adds or updates subscribers from an import, all in one transaction: active at once,
    /// with a consent record whose method is `import`. Titles a person unsubscribed from stay
    /// unsubscribed (that needs a new opt-in), and suppressed addresses are refused.
    pub async fn import_subscribers(&self, batch: &[NewSubscriber]) -> Result<Vec<ImportOutcome>> {
        let at = now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut outcomes = Vec::with_capacity(batch.len());
            for s in batch {
                let email = s.email.as_ref().ok_or(StoreError::NotFound)?;
                let suppressed: Option<String> =
                    sqlx::query_scalar("select reason from suppressions where email_hash = $1")
                        .bind(email.hash())
                        .fetch_optional(&mut *tx)
                        .await?;
                if suppressed.is_some() {
                    outcomes.push(ImportOutcome::Suppressed);
                    continue;
                }
                let wanted_interests = interests(s);
                let existing: Option<(i64, String, Option<String>, String)> = sqlx::query_as(
                    "select id, name, college, status from subscribers where email = $1",
                )
                .bind(email.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let (id, mut changed, added) = match existing {
                    Some((_, _, _, status)) if status == "bounced" || status == "complained" => {
                        outcomes.push(ImportOutcome::Suppressed);
                        continue;
                    }
                    Some((id, name, college, status)) => {
                        let differs = name != s.name || college != s.college || status != "active";
                        if differs {
                            sqlx::query(
                            "update subscribers set name = $2, college = $3, status = 'active', \
                             updated_at = $4 where id = $1",
                        )
                        .bind(id)
                        .bind(&s.name)
                        .bind(&s.college)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                        }
                        (id, differs, false)
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(
                        "insert into subscribers (email, name, status, college, created_at, updated_at) \
                         values ($1, $2, 'active', $3, $4, $4) returning id",
                    )
                    .bind(email.as_str())
                    .bind(&s.name)
                    .bind(&s.college)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                        (id, true, true)
                    }
                };

                let current: Vec<(String, String)> = sqlx::query_as(
                    "select kind, value from subscriber_interests where subscriber_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                let current: BTreeSet<(String, String)> = current.into_iter().collect();
                if current != wanted_interests {
                    changed = true;
                    sqlx::query("delete from subscriber_interests where subscriber_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for (kind, value) in &wanted_interests {
                        sqlx::query(
                        "insert into subscriber_interests (subscriber_id, kind, value) values ($1, $2, $3)",
                    )
                    .bind(id)
                    .bind(kind)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                    }
                }

                for newsletter in &s.newsletters {
                    let inserted = sqlx::query(
                    "insert into subscriptions (subscriber_id, newsletter_id, status, created_at, confirmed_at) \
                     select $1, id, 'active', $3, $3 from newsletters where slug = $2 \
                     on conflict (subscriber_id, newsletter_id) do nothing",
                )
                .bind(id)
                .bind(newsletter)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                    if inserted.rows_affected() > 0 {
                        changed = true;
                        sqlx::query(
                        "insert into consents (subscriber_id, email_hash, newsletter_id, action, method, \
                           text_version, created_at, confirmed_at) \
                         select $1, $2, id, 'subscribe', 'import', 'import', $4, $4 from newsletters where slug = $3",
                    )
                    .bind(id)
                    .bind(email.hash())
                    .bind(newsletter)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    }
                }
                outcomes.push(match (added, changed) {
                    (true, _) => ImportOutcome::Added,
                    (false, true) => ImportOutcome::Updated,
                    (false, false) => ImportOutcome::Unchanged,
                });
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    /// Every subscriber (or only one) with interests, titles and consent records, by address.
    pub async fn export_subscribers(&self, only: Option<i64>) -> Result<Vec<SubscriberExport>> {
        type Base = (i64, String, String, String, Option<String>, DateTime<Utc>);
        type Consent = (
            i64,
            Option<String>,
            String,
            String,
            Option<String>,
            Option<String>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
        );
        let (base, subs, tags, consents) = with_pool!(self, |p| {
            let base: Vec<Base> = sqlx::query_as(
                "select id, email, name, status, college, created_at from subscribers \
                 where ($1 is null or id = $1) order by email",
            )
            .bind(only)
            .fetch_all(p)
            .await?;
            let subs: Vec<(i64, String)> = sqlx::query_as(
                "select s.subscriber_id, n.slug from subscriptions s \
                 join newsletters n on n.id = s.newsletter_id \
                 where s.status = 'active' and ($1 is null or s.subscriber_id = $1) order by n.slug",
            )
            .bind(only)
            .fetch_all(p)
            .await?;
            let tags: Vec<(i64, String, String)> = sqlx::query_as(
                "select subscriber_id, kind, value from subscriber_interests \
                 where ($1 is null or subscriber_id = $1) order by value",
            )
            .bind(only)
            .fetch_all(p)
            .await?;
            let consents: Vec<Consent> = sqlx::query_as(
                "select c.subscriber_id, n.slug, c.action, c.method, c.ip, c.text_version, \
                   c.created_at, c.confirmed_at from consents c \
                 left join newsletters n on n.id = c.newsletter_id \
                 where c.subscriber_id is not null and ($1 is null or c.subscriber_id = $1) order by c.id",
            )
            .bind(only)
            .fetch_all(p)
            .await?;
            Ok::<_, sqlx::Error>((base, subs, tags, consents))
        })?;
        let mut titles: HashMap<i64, Vec<String>> = HashMap::new();
        for (id, slug) in subs {
            titles.entry(id).or_default().push(slug);
        }
        let mut interests: HashMap<(i64, String), Vec<String>> = HashMap::new();
        for (id, kind, value) in tags {
            interests.entry((id, kind)).or_default().push(value);
        }
        let mut proofs: HashMap<i64, Vec<ConsentExport>> = HashMap::new();
        for (id, newsletter, action, method, ip, text_version, at, confirmed_at) in consents {
            proofs.entry(id).or_default().push(ConsentExport {
                newsletter,
                action,
                method,
                ip,
                text_version,
                at,
                confirmed_at,
            });
        }
        let out = base
            .into_iter()
            .map(|(id, email, name, status, college, created_at)| {
                let mut values = |kind: &str| {
                    interests
                        .remove(&(id, kind.to_string()))
                        .unwrap_or_default()
                };
                SubscriberExport {
                    themes: values("theme"),
                    countries: values("country"),
                    departements: values("departement"),
                    email,
                    name,
                    status,
                    newsletters: titles.remove(&id).unwrap_or_default(),
                    college,
                    created_at,
                    consents: proofs.remove(&id).unwrap_or_default(),
                }
            })
            .collect();
        Ok(out)
    }

    /// Ends one subscription at once and records it. Repeating it changes nothing.
    pub async fn unsubscribe(
        &self,
        subscriber_id: i64,
        newsletter_id: i64,
        method: &str,
    ) -> Result<bool> {
        let at = now();
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(
                "update subscriptions set status = 'unsubscribed', unsubscribed_at = $3 \
                 where subscriber_id = $1 and newsletter_id = $2 and status <> 'unsubscribed'",
            )
            .bind(subscriber_id)
            .bind(newsletter_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                let email: String =
                    sqlx::query_scalar("select email from subscribers where id = $1")
                        .bind(subscriber_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let hash = EmailAddress::parse(&email)
                    .map(|e| e.hash())
                    .unwrap_or_default();
                sqlx::query(
                    "insert into consents (subscriber_id, email_hash, newsletter_id, action, method, created_at) \
                     values ($1, $2, $3, 'unsubscribe', $4, $5)",
                )
                .bind(subscriber_id)
                .bind(hash)
                .bind(newsletter_id)
                .bind(method)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected() > 0)
        })?;
        Ok(done)
    }

    /// Whether the subscriber may receive this title right now: active, subscribed, not
    /// suppressed. Checked again just before each send.
    pub async fn is_receiving(&self, subscriber_id: i64, newsletter_id: i64) -> Result<bool> {
        let row: Option<String> = with_pool!(self, |p| {
            sqlx::query_scalar(
                "select s.email from subscribers s join subscriptions u on u.subscriber_id = s.id \
                 where s.id = $1 and u.newsletter_id = $2 and s.status = 'active' and u.status = 'active'",
            )
            .bind(subscriber_id)
            .bind(newsletter_id)
            .fetch_optional(p)
            .await
        })?;
        match row.and_then(|e| EmailAddress::parse(&e).ok()) {
            Some(email) => Ok(!self.is_suppressed(&email.hash()).await?),
            None => Ok(false),
        }
    }

    pub async fn subscriber_name(&self, subscriber_id: i64) -> Result<String> {
        let name: Option<String> = with_pool!(self, |p| {
            sqlx::query_scalar("select name from subscribers where id = $1")
                .bind(subscriber_id)
                .fetch_optional(p)
                .await
        })?;
        name.ok_or(StoreError::NotFound)
    }

    pub async fn add_segment(
        &self,
        slug: &str,
        newsletter: &str,
        filters: &[SegmentFilter],
    ) -> Result<i64> {
        let at = now();
        let id = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "insert into segments (slug, newsletter_id, created_at) \
                 select $1, id, $3 from newsletters where slug = $2 returning id",
            )
            .bind(slug)
            .bind(newsletter)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            for f in filters {
                sqlx::query(
                    "insert into segment_filters (segment_id, kind, value) values ($1, $2, $3) \
                     on conflict do nothing",
                )
                .bind(id)
                .bind(f.kind)
                .bind(&f.value)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })
        .map_err(StoreError::from_write)?;
        Ok(id)
    }

    /// (segment id, newsletter slug) of a saved segment.
    pub async fn segment(&self, slug: &str) -> Result<(i64, String)> {
        let row = with_pool!(self, |p| {
            sqlx::query_as(
                "select g.id, n.slug from segments g join newsletters n on n.id = g.newsletter_id \
                 where g.slug = $1",
            )
            .bind(slug)
            .fetch_optional(p)
            .await
        })?;
        row.ok_or(StoreError::NotFound)
    }
}

impl Store {
    /// A hard bounce: the address is marked and suppressed, so no later send reaches it.
    pub async fn mark_bounced(&self, subscriber_id: i64) -> Result<()> {
        let at = now();
        let email: Option<String> = with_pool!(self, |p| {
            sqlx::query_scalar("update subscribers set status = 'bounced', updated_at = $2 where id = $1 returning email")
                .bind(subscriber_id)
                .bind(at)
                .fetch_optional(p)
                .await
        })?;
        if let Some(email) = email.and_then(|e| EmailAddress::parse(&e).ok()) {
            with_pool!(self, |p| {
                sqlx::query("insert into suppressions (email_hash, reason, created_at) values ($1, 'hard-bounce', $2) on conflict do nothing")
                    .bind(email.hash())
                    .bind(at)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }
}

impl Store {
    /// (id, name) of the subscriber with this normalised address.
    pub async fn subscriber_by_email(&self, email: &str) -> Result<Option<(i64, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as("select id, name from subscribers where email = $1")
                .bind(email)
                .fetch_optional(p)
                .await
        })?)
    }
}
