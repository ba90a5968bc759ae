//! Subscriptions through the public form: pending until confirmed (double opt-in). People are
//! found by the random keys their links carry, never by a row id taken from outside.

use chrono::{DateTime, Utc};

use crate::domain::{optin, SubscriberStatus};

use super::mails::{mail_message_id, QUEUE_CONFIRMATION, SUPERSEDE_CONFIRMATIONS};
use super::{with_pool, BeginWrite, NewSubscriber, Result, Store};

/// What the form did, for the caller only: the visitor always sees the same page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormOutcome {
    /// A confirmation message is queued (in the same transaction), carrying a new key: the
    /// only one that confirms now.
    ConfirmationQueued,
    /// Nothing to send: already subscribed, suppressed, or a confirmation went out recently.
    Quiet,
}

impl Store {
    /// Records a pending subscription with its consent (when, from where, which text) and
    /// queues a confirmation when `optin::confirmation_due` says so. Who may subscribe is
    /// `optin::form_may_subscribe`. Titles the person is already active on are left alone.
    pub async fn subscribe_from_form(
        &self,
        s: &NewSubscriber,
        ip: Option<&str>,
        text_version: &str,
        mail_domain: &str,
    ) -> Result<FormOutcome> {
        let Some(email) = s.email.as_ref() else {
            return Ok(FormOutcome::Quiet);
        };
        let suppression = self.suppression_reason(&email.hash()).await?;
        if !optin::form_may_subscribe(suppression.as_deref(), None) {
            return Ok(FormOutcome::Quiet);
        }
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let existing: Option<(i64, SubscriberStatus, Option<DateTime<Utc>>)> = sqlx::query_as(
                "select id, status, confirmation_sent_at from subscribers \
                 where email = $1 and erased_at is null",
            )
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let (id, last_sent) = match existing {
                Some((_, status, _))
                    if !optin::form_may_subscribe(suppression.as_deref(), Some(status)) =>
                {
                    return Ok(FormOutcome::Quiet)
                }
                Some((id, _, last_sent)) => (id, last_sent),
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "insert into subscribers (email, name, status, college, created_at, updated_at, link_key, email_hash) \
                         values ($1, $2, 'pending', $3, $4, $4, $5, $6) returning id",
                    )
                    .bind(email.as_str())
                    .bind(&s.name)
                    .bind(&s.college)
                    .bind(at)
                    .bind(new_key())
                    .bind(email.hash())
                    .fetch_one(&mut *tx)
                    .await?;
                    for (kind, values) in [
                        ("theme", &s.themes),
                        ("country", &s.countries),
                        ("departement", &s.departements),
                    ] {
                        for value in values {
                            sqlx::query("insert into subscriber_interests (subscriber_id, kind, value) values ($1, $2, $3)")
                                .bind(id)
                                .bind(kind)
                                .bind(value)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    (id, None)
                }
            };
            let mut wants_confirmation = false;
            for slug in &s.newsletters {
                // A new or previously ended subscription becomes pending; an active one stays.
                let changed = sqlx::query(
                    "insert into subscriptions (subscriber_id, newsletter_id, status, created_at) \
                     select $1, id, 'pending', $3 from newsletters where slug = $2 \
                     on conflict (subscriber_id, newsletter_id) do update set status = 'pending', \
                       confirmed_at = null, unsubscribed_at = null, created_at = excluded.created_at \
                     where subscriptions.status <> 'active'",
                )
                .bind(id)
                .bind(slug)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() > 0 {
                    wants_confirmation = true;
                    sqlx::query(
                        "insert into consents (subscriber_id, email_hash, newsletter_id, action, method, ip, text_version, created_at) \
                         select $1, $2, id, 'subscribe', 'form', $4, $5, $6 from newsletters where slug = $3",
                    )
                    .bind(id)
                    .bind(email.hash())
                    .bind(slug)
                    .bind(ip)
                    .bind(text_version)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let outcome = if optin::confirmation_due(wants_confirmation, last_sent, at) {
                let confirm_key = new_key();
                sqlx::query(
                    "update subscribers set confirmation_sent_at = $2, confirm_key = $3 where id = $1",
                )
                .bind(id)
                .bind(at)
                .bind(&confirm_key)
                .execute(&mut *tx)
                .await?;
                sqlx::query(SUPERSEDE_CONFIRMATIONS)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(QUEUE_CONFIRMATION)
                    .bind(id)
                    .bind(email.as_str())
                    .bind(at)
                    .bind(mail_message_id(mail_domain))
                    .execute(&mut *tx)
                    .await?;
                FormOutcome::ConfirmationQueued
            } else {
                FormOutcome::Quiet
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// A new confirmation for the subscriber, queued with its key in one transaction: the key
    /// replaces the previous one, so only the newest link confirms, and older messages not
    /// yet sent are skipped.
    pub async fn queue_confirmation(&self, subscriber_id: i64, mail_domain: &str) -> Result<()> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let email: Option<String> = sqlx::query_scalar(
                "update subscribers set confirmation_sent_at = $2, confirm_key = $3 \
                 where id = $1 and erased_at is null returning email",
            )
            .bind(subscriber_id)
            .bind(at)
            .bind(new_key())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(email) = email else {
                return Err(super::StoreError::NotFound);
            };
            sqlx::query(SUPERSEDE_CONFIRMATIONS)
                .bind(subscriber_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(QUEUE_CONFIRMATION)
                .bind(subscriber_id)
                .bind(&email)
                .bind(at)
                .bind(mail_message_id(mail_domain))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Confirms every pending subscription of the subscriber whose newest confirmation link
    /// carries `confirm_key`, if it was sent less than `validity` ago. Returns the titles
    /// confirmed now (empty when already done: confirming twice is harmless), or `None` when
    /// no such confirmation stands (replaced, too old, or the person erased).
    pub async fn confirm_subscriber(
        &self,
        confirm_key: &str,
        validity: chrono::Duration,
    ) -> Result<Option<Vec<String>>> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let found: Option<(i64, Option<String>)> = sqlx::query_as(
                "select id, email_hash from subscribers where confirm_key = $1 \
                 and confirmation_sent_at > $2 and erased_at is null",
            )
            .bind(confirm_key)
            .bind(at - validity)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((subscriber_id, hash)) = found else {
                return Ok(None);
            };
            let titles: Vec<(i64, String)> = sqlx::query_as(
                "select n.id, n.slug from subscriptions s join newsletters n on n.id = s.newsletter_id \
                 where s.subscriber_id = $1 and s.status = 'pending' order by n.slug",
            )
            .bind(subscriber_id)
            .fetch_all(&mut *tx)
            .await?;
            if !titles.is_empty() {
                // Someone with no active title who comes back starts afresh: links from the
                // earlier relationship stop working. Done on proof of the address, so a stranger
                // who only knows it cannot break the person's links.
                sqlx::query(
                    "update subscribers set link_key = $2 where id = $1 and not exists \
                     (select 1 from subscriptions where subscriber_id = $1 and status = 'active')",
                )
                .bind(subscriber_id)
                .bind(new_key())
                .execute(&mut *tx)
                .await?;
                sqlx::query("update subscriptions set status = 'active', confirmed_at = $2 where subscriber_id = $1 and status = 'pending'")
                    .bind(subscriber_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("update subscribers set status = 'active', updated_at = $2 where id = $1 and status = 'pending'")
                    .bind(subscriber_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                // The consent is proven now: stamp the pending form records and log the step.
                sqlx::query(
                    "update consents set confirmed_at = $2 where subscriber_id = $1 and action = 'subscribe' \
                     and confirmed_at is null",
                )
                .bind(subscriber_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("delete from suppressions where email_hash = $1 and reason = 'erased'")
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                for (newsletter_id, _) in &titles {
                    sqlx::query(
                        "insert into consents (subscriber_id, email_hash, newsletter_id, action, method, created_at, confirmed_at) \
                         values ($1, $2, $3, 'confirm', 'form', $4, $4)",
                    )
                    .bind(subscriber_id)
                    .bind(&hash)
                    .bind(newsletter_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(Some(titles.into_iter().map(|t| t.1).collect()))
        })
    }

    /// (id, address) of the subscriber whose links carry `link_key`; erased people have none.
    pub async fn subscriber_by_key(&self, link_key: &str) -> Result<Option<(i64, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, email from subscribers where link_key = $1 and erased_at is null",
            )
            .bind(link_key)
            .fetch_optional(p)
            .await
        })?)
    }
}

/// A fresh subscriber key: 32 bytes from the operating system's generator, as hex.
pub(super) fn new_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Clock;

    async fn store_at(dir: &tempfile::TempDir, clock: &Clock) -> Store {
        let url = format!("sqlite://{}", dir.path().join("relais.db").display());
        Store::open(&url).await.unwrap().with_clock(clock.clone())
    }

    fn request(email: &str) -> NewSubscriber {
        let fields = [("email", email), ("newsletter", "coopdev-info")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        crate::audience::form::parse_subscription(&fields).unwrap()
    }

    #[tokio::test]
    async fn confirmations_are_spaced_a_day_apart_and_expire_after_seven_days() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::fixed("2026-11-30T08:00:00Z".parse().unwrap());
        let store = store_at(&dir, &clock).await;
        let nadia = request("nadia@example.org");
        let ask = || store.subscribe_from_form(&nadia, None, "v1", "example.org");
        assert_eq!(ask().await.unwrap(), FormOutcome::ConfirmationQueued);
        let id = store
            .subscriber_by_email("nadia@example.org")
            .await
            .unwrap()
            .unwrap()
            .0;
        let first = store
            .confirmation_data(id)
            .await
            .unwrap()
            .unwrap()
            .confirm_key;

        // Asked again within the day: nothing new is sent, the first link stands.
        clock.advance(chrono::Duration::hours(23));
        assert_eq!(ask().await.unwrap(), FormOutcome::Quiet);
        // Seven days after it was sent, the link no longer confirms.
        clock.advance(chrono::Duration::hours(7 * 24 - 23));
        let validity = crate::audience::CONFIRMATION_VALIDITY;
        assert_eq!(
            store.confirm_subscriber(&first, validity).await.unwrap(),
            None
        );
        // A new request sends a new link, which works; the old one stays dead.
        assert_eq!(ask().await.unwrap(), FormOutcome::ConfirmationQueued);
        let second = store
            .confirmation_data(id)
            .await
            .unwrap()
            .unwrap()
            .confirm_key;
        assert_ne!(first, second);
        assert_eq!(
            store.confirm_subscriber(&first, validity).await.unwrap(),
            None
        );
        clock.advance(chrono::Duration::days(6));
        assert_eq!(
            store.confirm_subscriber(&second, validity).await.unwrap(),
            Some(vec!["coopdev-info".to_string()])
        );
    }
}
