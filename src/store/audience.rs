//! Subscribers, their subscriptions, interests and consent records; suppressions; segments.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::import::{Known, Round, NEWSLETTERS};
use super::{push_list, with_pool, BeginWrite, Result, Store, StoreError};
use crate::domain::{EmailAddress, Interests, SubscriberStatus};

/// Who a delivery is for, as read just before sending.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    /// The key their unsubscribe and preferences links carry.
    pub link_key: String,
    pub interests: Interests,
}

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

pub use crate::domain::optin::ImportOutcome;

/// A person's state as the export shows it: the stored status, except that an active person
/// who left every title is shown as unsubscribed (they receive nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Pending,
    Active,
    Unsubscribed,
    Bounced,
    Complained,
}

impl ExportStatus {
    fn of(status: SubscriberStatus, no_title: bool) -> Self {
        match status {
            SubscriberStatus::Active if no_title => ExportStatus::Unsubscribed,
            SubscriberStatus::Active => ExportStatus::Active,
            SubscriberStatus::Pending => ExportStatus::Pending,
            SubscriberStatus::Bounced => ExportStatus::Bounced,
            SubscriberStatus::Complained => ExportStatus::Complained,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Pending => "pending",
            ExportStatus::Active => "active",
            ExportStatus::Unsubscribed => "unsubscribed",
            ExportStatus::Bounced => "bounced",
            ExportStatus::Complained => "complained",
        }
    }
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
    pub status: ExportStatus,
    pub newsletters: Vec<String>,
    pub themes: Vec<String>,
    pub countries: Vec<String>,
    pub departements: Vec<String>,
    pub college: Option<String>,
    pub created_at: DateTime<Utc>,
    pub consents: Vec<ConsentExport>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct SegmentSummary {
    pub slug: String,
    pub newsletter: String,
    pub subscribers: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFilter {
    pub kind: &'static str,
    pub value: String,
}

/// Interests as (kind, value) pairs, the shape of `subscriber_interests`.
pub(super) fn interests(s: &NewSubscriber) -> BTreeSet<(String, String)> {
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
    /// Why an address is suppressed (hard-bounce, complaint, erased, staff), if it is.
    pub async fn suppression_reason(&self, email_hash: &str) -> Result<Option<String>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar("select reason from suppressions where email_hash = $1")
                .bind(email_hash)
                .fetch_optional(p)
                .await
        })?)
    }

    /// Refreshes PostgreSQL's statistics of the audience's tables after a bulk import, as
    /// after any bulk load: planned on none (autovacuum comes later, or not at all), a
    /// million-recipient freeze probed the subscribers' primary key once per subscription
    /// (14.6 s for its insert, on a loaded machine); with them it hashes both tables (7.8 to
    /// 9.8 s, same indexes). ANALYZE reads a sample. SQLite's planner does not need them here.
    pub async fn analyze_audience(&self) -> Result<()> {
        if let super::Pool::Postgres(p) = &self.pool {
            sqlx::query("analyze subscribers, subscriptions, subscriber_interests")
                .execute(p)
                .await?;
        }
        Ok(())
    }

    /// Adds or updates subscribers from an import, all in one transaction: active at once,
    /// with a consent record whose method is `import`. Titles a person unsubscribed from stay
    /// unsubscribed (that needs a new opt-in), and suppressed addresses are refused.
    /// Set-based (a few statements per batch, not per person), so large files go in fast.
    pub async fn import_subscribers(&self, batch: &[NewSubscriber]) -> Result<Vec<ImportOutcome>> {
        // An address twice in one batch: the later line is applied in a second round.
        let mut seen = HashSet::new();
        let (first, again): (Vec<usize>, Vec<usize>) = (0..batch.len()).partition(|&i| {
            batch[i]
                .email
                .as_ref()
                .is_some_and(|e| seen.insert(e.as_str().to_string()))
        });
        let mut outcomes = vec![ImportOutcome::Unchanged; batch.len()];
        let round: Vec<&NewSubscriber> = first.iter().map(|&i| &batch[i]).collect();
        for (i, outcome) in first.iter().zip(self.import_round(&round).await?) {
            outcomes[*i] = outcome;
        }
        if !again.is_empty() {
            let rest: Vec<NewSubscriber> = again.iter().map(|&i| batch[i].clone()).collect();
            for (i, outcome) in again
                .iter()
                .zip(Box::pin(self.import_subscribers(&rest)).await?)
            {
                outcomes[*i] = outcome;
            }
        }
        Ok(outcomes)
    }

    async fn import_round(&self, batch: &[&NewSubscriber]) -> Result<Vec<ImportOutcome>> {
        const ROWS: usize = 500;
        let at = self.now();
        let emails: Vec<&str> = batch
            .iter()
            .filter_map(|s| s.email.as_ref().map(|e| e.as_str()))
            .collect();
        if emails.len() != batch.len() {
            return Err(StoreError::NotFound);
        }
        let hashes: Vec<String> = batch
            .iter()
            .filter_map(|s| s.email.as_ref().map(|e| e.hash()))
            .collect();
        let round = Round {
            batch,
            emails: &emails,
            hashes: &hashes,
        };
        if let super::Pool::Postgres(pool) = &self.pool {
            return Ok(round.run_postgres(pool, at).await?);
        }
        with_pool!(self, |p, Db| {
            let mut tx = p.begin_write().await?;
            let newsletters: HashMap<String, i64> = sqlx::query_as(NEWSLETTERS)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();

            let mut suppressed = HashSet::new();
            let mut existing: HashMap<String, Known> = HashMap::new();
            for part in (0..batch.len()).collect::<Vec<_>>().chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "select email_hash from suppressions where email_hash in ",
                );
                push_list(&mut qb, part.iter().map(|&i| hashes[i].as_str()));
                let found: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                suppressed.extend(found);
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "select email, id, name, college, status from subscribers where email in ",
                );
                push_list(&mut qb, part.iter().map(|&i| emails[i]));
                let rows: Vec<(String, i64, String, Option<String>, SubscriberStatus)> =
                    qb.build_query_as().fetch_all(&mut *tx).await?;
                existing.extend(
                    rows.into_iter()
                        .map(|(e, id, n, c, st)| (e, (id, n, c, st))),
                );
            }

            let mut plan = round.decide(&suppressed, &existing);
            for &(i, id) in &plan.updated {
                sqlx::query("update subscribers set name = $2, college = $3, status = 'active', updated_at = $4 where id = $1")
                    .bind(id)
                    .bind(&batch[i].name)
                    .bind(&batch[i].college)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            for part in std::mem::take(&mut plan.fresh).chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("insert into subscribers (email, name, status, college, created_at, updated_at, link_key, email_hash) ");
                qb.push_values(part, |mut row, &i| {
                    row.push_bind(emails[i])
                        .push_bind(&batch[i].name)
                        .push_bind("active")
                        .push_bind(&batch[i].college)
                        .push_bind(at)
                        .push_bind(at)
                        .push_bind(super::subscribe::new_key())
                        .push_bind(&hashes[i]);
                });
                qb.push(" returning email, id");
                let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                plan.found_ids(&emails, part, rows);
            }

            // Interests: replace those that differ (new people have none yet).
            let people = plan.people();
            let mut current = Vec::new();
            for part in people.chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("select subscriber_id, kind, value from subscriber_interests where subscriber_id in ");
                push_list(&mut qb, part.iter().map(|&i| plan.id(i)));
                let rows: Vec<(i64, String, String)> =
                    qb.build_query_as().fetch_all(&mut *tx).await?;
                current.extend(rows);
            }
            let (to_clear, to_write) = plan.interest_changes(batch, &people, current);
            for part in to_clear.chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "delete from subscriber_interests where subscriber_id in ",
                );
                push_list(&mut qb, part.iter().copied());
                qb.build().execute(&mut *tx).await?;
            }
            for part in to_write.chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "insert into subscriber_interests (subscriber_id, kind, value) ",
                );
                qb.push_values(part, |mut row, (id, kind, value)| {
                    row.push_bind(*id)
                        .push_bind(kind.as_str())
                        .push_bind(value.as_str());
                });
                qb.build().execute(&mut *tx).await?;
            }

            // Subscriptions: only missing ones are added (an ended one stays ended); each new
            // one gets its consent record.
            let wanted = plan.wanted_titles(batch, &people, &newsletters);
            let mut added: HashSet<(i64, i64)> = HashSet::new();
            for part in wanted.chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("insert into subscriptions (subscriber_id, newsletter_id, status, created_at, confirmed_at) ");
                qb.push_values(part, |mut row, (_, id, newsletter)| {
                    row.push_bind(*id)
                        .push_bind(*newsletter)
                        .push_bind("active")
                        .push_bind(at)
                        .push_bind(at);
                });
                qb.push(" on conflict (subscriber_id, newsletter_id) do nothing returning subscriber_id, newsletter_id");
                let rows: Vec<(i64, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                added.extend(rows);
            }
            let consents = plan.consents(&wanted, &added);
            for part in consents.chunks(ROWS) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "insert into consents (subscriber_id, email_hash, newsletter_id, action, method, text_version, created_at, confirmed_at) ",
                );
                qb.push_values(part, |mut row, (i, id, newsletter)| {
                    row.push_bind(*id)
                        .push_bind(hashes[*i].as_str())
                        .push_bind(*newsletter)
                        .push_bind("subscribe")
                        .push_bind("import")
                        .push_bind("import")
                        .push_bind(at)
                        .push_bind(at);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(plan.outcomes)
        })
    }

    /// Every subscriber (or only one) with interests, titles and consent records, by address.
    pub async fn export_subscribers(&self, only: Option<i64>) -> Result<Vec<SubscriberExport>> {
        type Base = (
            i64,
            String,
            String,
            SubscriberStatus,
            Option<String>,
            DateTime<Utc>,
        );
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
                 where erased_at is null and ($1 is null or id = $1) order by email",
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
                let newsletters = titles.remove(&id).unwrap_or_default();
                SubscriberExport {
                    themes: values("theme"),
                    countries: values("country"),
                    departements: values("departement"),
                    email,
                    name,
                    status: ExportStatus::of(status, newsletters.is_empty()),
                    newsletters,
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
        let at = self.now();
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
                let hash: Option<String> =
                    sqlx::query_scalar("select email_hash from subscribers where id = $1")
                        .bind(subscriber_id)
                        .fetch_one(&mut *tx)
                        .await?;
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

    /// Who the deliveries of one claim are for, as read just before sending: two statements
    /// whatever their number; subscribers no longer to be sent to (unsubscribed, suppressed,
    /// erased, an address stored before a rule tightened) are absent from the map.
    pub async fn receivers(
        &self,
        subscriber_ids: &[i64],
        newsletter_id: i64,
    ) -> Result<HashMap<i64, Receiver>> {
        if subscriber_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String, String, Option<String>)> = with_pool!(self, |p, Db| {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "select s.id, s.email, s.name, s.link_key from subscribers s \
                 join subscriptions u on u.subscriber_id = s.id \
                 where u.newsletter_id = ",
            );
            qb.push_bind(newsletter_id).push(
                " and s.status = 'active' and u.status = 'active' and s.erased_at is null \
                 and s.email_hash is not null and not exists \
                 (select 1 from suppressions x where x.email_hash = s.email_hash) and s.id in ",
            );
            push_list(&mut qb, subscriber_ids.iter().copied());
            qb.build_query_as().fetch_all(p).await
        })?;
        let pairs: Vec<(i64, String, String)> = with_pool!(self, |p, Db| {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "select subscriber_id, kind, value from subscriber_interests where subscriber_id in ",
            );
            push_list(&mut qb, subscriber_ids.iter().copied());
            qb.build_query_as().fetch_all(p).await
        })?;
        let mut interests: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        for (id, kind, value) in pairs {
            interests.entry(id).or_default().push((kind, value));
        }
        Ok(rows
            .into_iter()
            // An address stored before a rule tightened (a non-ASCII local part) is not sent to.
            .filter(|(_, email, _, _)| EmailAddress::parse(email).is_ok())
            .filter_map(|(id, _, name, link_key)| {
                let pairs = interests.remove(&id).unwrap_or_default();
                Some((
                    id,
                    Receiver {
                        name,
                        link_key: link_key?,
                        interests: Interests::from_pairs(
                            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        ),
                    },
                ))
            })
            .collect())
    }

    pub async fn subscriber_interests(&self, subscriber_id: i64) -> Result<Interests> {
        self.interests(
            "select kind, value from subscriber_interests where subscriber_id = $1",
            subscriber_id,
        )
        .await
    }

    /// The interests a segment selects on (its college filter says nothing about content).
    pub async fn segment_interests(&self, segment_id: i64) -> Result<Interests> {
        self.interests(
            "select kind, value from segment_filters where segment_id = $1",
            segment_id,
        )
        .await
    }

    async fn interests(&self, sql: &'static str, id: i64) -> Result<Interests> {
        let rows: Vec<(String, String)> = with_pool!(self, |p| {
            sqlx::query_as(sql).bind(id).fetch_all(p).await
        })?;
        Ok(Interests::from_pairs(
            rows.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }

    pub async fn add_segment(
        &self,
        slug: &str,
        newsletter: &str,
        filters: &[SegmentFilter],
    ) -> Result<i64> {
        let at = self.now();
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

    /// Every saved segment with the number of subscribers it holds right now.
    pub async fn list_segments(&self) -> Result<Vec<SegmentSummary>> {
        // The condition uses the aliases s, u, f, g and i: the outer query must not.
        let sql = format!(
            "select seg.slug, nl.slug as newsletter, \
               (select count(*) from subscribers s join subscriptions u on u.subscriber_id = s.id \
                where {}) as subscribers \
             from segments seg join newsletters nl on nl.id = seg.newsletter_id order by seg.slug",
            super::deliveries::audience_condition("seg.newsletter_id", "seg.id")
        );
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await)?)
    }

    /// How many people a send of the title (or of one of its segments) would reach now: what
    /// the confirmation before sending shows.
    pub async fn audience_size(&self, newsletter: &str, segment: Option<i64>) -> Result<i64> {
        let sql = format!(
            "select count(*) from subscribers s join subscriptions u on u.subscriber_id = s.id \
             where {}",
            super::deliveries::audience_condition(
                "(select id from newsletters where slug = $1)",
                "$2"
            )
        );
        Ok(with_pool!(self, |p| sqlx::query_scalar(&sql)
            .bind(newsletter)
            .bind(segment)
            .fetch_one(p)
            .await)?)
    }

    /// People whose address or name contains `text` (any case), by address: (id, email, name,
    /// status). Erased people are not found.
    pub async fn search_subscribers(
        &self,
        text: &str,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, SubscriberStatus)>> {
        let pattern = format!(
            "%{}%",
            text.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, email, name, status from subscribers where erased_at is null \
                 and (lower(email) like $1 escape '\\' or lower(name) like $1 escape '\\') \
                 order by email limit $2",
            )
            .bind(&pattern)
            .bind(limit)
            .fetch_all(p)
            .await
        })?)
    }

    /// A person's last deliveries: (issue id, subject, newsletter, state, when, last reply).
    pub async fn person_deliveries(
        &self,
        subscriber: i64,
    ) -> Result<Vec<(i64, String, String, String, DateTime<Utc>, Option<String>)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, i.subject, n.slug, d.state, d.updated_at, d.last_reply \
                 from deliveries d join dispatches x on x.id = d.dispatch_id \
                 join issues i on i.id = x.issue_id join newsletters n on n.id = i.newsletter_id \
                 where d.subscriber_id = $1 order by d.id desc limit 50",
            )
            .bind(subscriber)
            .fetch_all(p)
            .await
        })?)
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
        let at = self.now();
        let hash: Option<Option<String>> = with_pool!(self, |p| {
            sqlx::query_scalar("update subscribers set status = 'bounced', updated_at = $2 where id = $1 returning email_hash")
                .bind(subscriber_id)
                .bind(at)
                .fetch_optional(p)
                .await
        })?;
        if let Some(hash) = hash.flatten() {
            with_pool!(self, |p| {
                sqlx::query("insert into suppressions (email_hash, reason, created_at) values ($1, 'hard-bounce', $2) on conflict do nothing")
                    .bind(hash)
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
    /// (id, name, link key) of the subscriber with this normalised address.
    pub async fn subscriber_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(i64, String, Option<String>)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, name, link_key from subscribers where email = $1 and erased_at is null",
            )
            .bind(email)
            .fetch_optional(p)
            .await
        })?)
    }
}

impl Store {
    /// Consent records older than `before` keep only the network part of their IP address
    /// (`/24` for IPv4, `/48` for IPv6). Returns how many were truncated.
    pub async fn truncate_consent_ips(&self, before: DateTime<Utc>) -> Result<u64> {
        let rows: Vec<(i64, String)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select id, ip from consents where created_at < $1 and ip is not null and ip not like '%/%'",
            )
            .bind(super::ts(before))
            .fetch_all(p)
            .await
        })?;
        let mut done = 0;
        for (id, ip) in rows {
            let truncated = crate::domain::truncate_ip(&ip);
            done += with_pool!(self, |p| {
                sqlx::query("update consents set ip = $2 where id = $1")
                    .bind(id)
                    .bind(&truncated)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(done)
    }
}
