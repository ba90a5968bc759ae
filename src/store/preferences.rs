//! The preferences centre: a subscriber changes titles and interests, or erases their data.

use super::{with_pool, BeginWrite, NewSubscriber, Result, Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferencesChange {
    pub unsubscribed: Vec<String>,
    /// Titles asked for again after an unsubscribe: pending until confirmed.
    pub pending: Vec<String>,
}

impl Store {
    /// Applies the preferences form. `wanted` holds the titles to receive: active ones not in
    /// it end now; others in it become pending (a new opt-in is needed to receive them).
    pub async fn update_preferences(
        &self,
        subscriber_id: i64,
        wanted: &NewSubscriber,
        ip: Option<&str>,
    ) -> Result<PreferencesChange> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let hash: Option<Option<String>> = sqlx::query_scalar(
                "select email_hash from subscribers where id = $1 and erased_at is null",
            )
            .bind(subscriber_id)
            .fetch_optional(&mut *tx)
            .await?;
            let hash = hash.ok_or(StoreError::NotFound)?;
            sqlx::query(
                "update subscribers set name = $2, college = $3, updated_at = $4 where id = $1",
            )
            .bind(subscriber_id)
            .bind(&wanted.name)
            .bind(&wanted.college)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("delete from subscriber_interests where subscriber_id = $1")
                .bind(subscriber_id)
                .execute(&mut *tx)
                .await?;
            for (kind, values) in [
                ("theme", &wanted.themes),
                ("country", &wanted.countries),
                ("departement", &wanted.departements),
            ] {
                for value in values {
                    sqlx::query("insert into subscriber_interests (subscriber_id, kind, value) values ($1, $2, $3)")
                        .bind(subscriber_id)
                        .bind(kind)
                        .bind(value)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let current: Vec<(i64, String, String)> = sqlx::query_as(
                "select n.id, n.slug, coalesce(s.status, '') from newsletters n \
                 left join subscriptions s on s.newsletter_id = n.id and s.subscriber_id = $1 order by n.slug",
            )
            .bind(subscriber_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut change = PreferencesChange::default();
            for (newsletter_id, slug, status) in current {
                let wants = wanted.newsletters.contains(&slug);
                let (new_status, action) = match (status.as_str(), wants) {
                    ("active", false) | ("pending", false) => ("unsubscribed", "unsubscribe"),
                    ("", true) | ("unsubscribed", true) => ("pending", "subscribe"),
                    _ => continue,
                };
                sqlx::query(
                    "insert into subscriptions (subscriber_id, newsletter_id, status, created_at, unsubscribed_at) \
                     values ($1, $2, $3, $4, case when $3 = 'unsubscribed' then $4 end) \
                     on conflict (subscriber_id, newsletter_id) do update set status = excluded.status, \
                       unsubscribed_at = excluded.unsubscribed_at, \
                       confirmed_at = case when excluded.status = 'pending' then null else subscriptions.confirmed_at end",
                )
                .bind(subscriber_id)
                .bind(newsletter_id)
                .bind(new_status)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "insert into consents (subscriber_id, email_hash, newsletter_id, action, method, ip, text_version, created_at) \
                     values ($1, $2, $3, $4, 'preferences', $5, $6, $7)",
                )
                .bind(subscriber_id)
                .bind(&hash)
                .bind(newsletter_id)
                .bind(action)
                .bind(ip)
                .bind((action == "subscribe").then_some(super::PREFERENCES_TEXT_VERSION))
                .bind(at)
                .execute(&mut *tx)
                .await?;
                match new_status {
                    "unsubscribed" => change.unsubscribed.push(slug),
                    _ => change.pending.push(slug),
                }
            }
            tx.commit().await?;
            Ok(change)
        })
    }

    /// Erases a person: interests and subscriptions go; the row stays as a tombstone with no
    /// personal data and no keys (so its id is never given to someone else and no link
    /// reaches it); consent records keep only the address hash (no IP); ledger rows (newsletters and
    /// transactional mail) stay, anonymised, and pending ones are skipped; a suppression entry keeps an import from
    /// re-adding them silently.
    pub async fn erase_subscriber(&self, subscriber_id: i64) -> Result<bool> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let hash: Option<Option<String>> = sqlx::query_scalar(
                "select email_hash from subscribers where id = $1 and erased_at is null",
            )
            .bind(subscriber_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(hash) = hash else { return Ok(false) };
            sqlx::query("insert into suppressions (email_hash, reason, created_at) values ($1, 'erased', $2) on conflict do nothing")
                .bind(&hash)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "update consents set subscriber_id = null, ip = null where subscriber_id = $1",
            )
            .bind(subscriber_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("insert into consents (email_hash, action, method, created_at) values ($1, 'erase', 'preferences', $2)")
                .bind(&hash)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            // Both ledgers: newsletters' deliveries and transactional mail. A delivery skipped
            // here is settled: it leaves the claim's index.
            for (table, settled) in [
                ("deliveries", ", settled_at = case when state in ('queued', 'deferred') then $2 else settled_at end"),
                ("mails", ""),
            ] {
                let sql = format!(
                    "update {table} set email = '', \
                     state = case when state in ('queued', 'deferred') then 'skipped' else state end, \
                     last_reply = case when state in ('queued', 'deferred') then 'données effacées' else last_reply end{settled} \
                     where subscriber_id = $1"
                );
                let query = sqlx::query(&sql).bind(subscriber_id);
                let query = if settled.is_empty() { query } else { query.bind(at) };
                query.execute(&mut *tx).await?;
            }
            // A bounce's diagnostic often quotes the address.
            sqlx::query("update bounces set diagnostic = null where subscriber_id = $1")
                .bind(subscriber_id)
                .execute(&mut *tx)
                .await?;
            for table in ["subscriptions", "subscriber_interests"] {
                sqlx::query(&format!("delete from {table} where subscriber_id = $1"))
                    .bind(subscriber_id)
                    .execute(&mut *tx)
                    .await?;
            }
            // The placeholder address keeps the column's unique constraint and can never be
            // typed in a form or a file (no @).
            sqlx::query(
                "update subscribers set email = 'erased-' || cast(id as text), name = '', \
                 college = null, status = 'pending', link_key = null, confirm_key = null, \
                 confirmation_sent_at = null, email_hash = null, erased_at = $2, updated_at = $2 where id = $1",
            )
            .bind(subscriber_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// (title, status) of each subscription the person has or had.
    pub async fn subscription_statuses(&self, subscriber_id: i64) -> Result<Vec<(String, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select n.slug, s.status from subscriptions s join newsletters n on n.id = s.newsletter_id \
                 where s.subscriber_id = $1 order by n.slug",
            )
            .bind(subscriber_id)
            .fetch_all(p)
            .await
        })?)
    }
}
