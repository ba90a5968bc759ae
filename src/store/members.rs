//! Member organisations, the people who sign in for them, their sign-in links and sessions.

use chrono::{DateTime, Utc};

use super::mails::mail_message_id;
use super::{with_pool, BeginWrite, Result, Store, StoreError};

/// An organisation, as staff and its own people see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MemberRow {
    pub id: i64,
    pub email: String,
    pub org_name: String,
    pub contact_name: String,
    pub college: Option<String>,
    pub departement: Option<String>,
    /// `pending` (asked for through the public form), `active`, `disabled`.
    pub state: String,
    pub created_at: DateTime<Utc>,
}

/// What a new organisation is made of (staff or the public form).
#[derive(Debug, Clone)]
pub struct NewMember<'a> {
    pub email: &'a str,
    pub org_name: &'a str,
    pub contact_name: &'a str,
    pub college: Option<&'a str>,
    pub departement: Option<&'a str>,
}

/// Someone who may sign in for an organisation.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MemberPerson {
    pub id: i64,
    pub member_id: i64,
    pub email: String,
    pub name: String,
    pub org_name: String,
    pub member_state: String,
}

/// A signed-in member.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberSession {
    pub person_id: i64,
    pub member_id: i64,
    pub email: String,
    pub name: String,
    pub org_name: String,
    pub csrf_token: String,
}

/// A sign-in link's row, as the sender needs it to write the link.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginLink {
    pub id: i64,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a sign-in link does not open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown, already used or expired.
    Spent,
    /// Opened in another browser than the one that asked.
    OtherBrowser,
}

const PERSON: &str =
    "select p.id, p.member_id, p.email, p.name, m.org_name, m.state as member_state \
     from member_people p join members m on m.id = p.member_id";

impl Store {
    /// Registers an organisation with its contact person, who may sign in at once when
    /// `active`; a `pending` one waits for staff.
    pub async fn add_member(&self, m: &NewMember<'_>, state: &str) -> Result<i64> {
        let at = self.now();
        let id = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "insert into members (email, org_name, contact_name, college, departement, state, created_at) \
                 values ($1, $2, $3, $4, $5, $6, $7) returning id",
            )
            .bind(m.email)
            .bind(m.org_name)
            .bind(m.contact_name)
            .bind(m.college)
            .bind(m.departement)
            .bind(state)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "insert into member_people (member_id, email, name, created_at) values ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(m.email)
            .bind(m.contact_name)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })
        .map_err(StoreError::from_write)?;
        Ok(id)
    }

    /// Another person who may sign in for the organisation.
    pub async fn add_member_person(&self, member_id: i64, email: &str, name: &str) -> Result<i64> {
        let id = with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into member_people (member_id, email, name, created_at) \
                 values ($1, $2, $3, $4) returning id",
            )
            .bind(member_id)
            .bind(email)
            .bind(name)
            .bind(self.now())
            .fetch_one(p)
            .await
        })
        .map_err(StoreError::from_write)?;
        Ok(id)
    }

    pub async fn members(&self) -> Result<Vec<MemberRow>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, email, org_name, contact_name, college, departement, state, created_at \
                 from members order by case state when 'pending' then 0 else 1 end, org_name, id",
            )
            .fetch_all(p)
            .await
        })?)
    }

    pub async fn member(&self, id: i64) -> Result<MemberRow> {
        let row = with_pool!(self, |p| {
            sqlx::query_as(
                "select id, email, org_name, contact_name, college, departement, state, created_at \
                 from members where id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await
        })?;
        row.ok_or(StoreError::NotFound)
    }

    /// The people of an organisation.
    pub async fn member_people(&self, member_id: i64) -> Result<Vec<MemberPerson>> {
        let sql = format!("{PERSON} where p.member_id = $1 order by p.id");
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(member_id)
            .fetch_all(p)
            .await)?)
    }

    pub async fn person_by_email(&self, email: &str) -> Result<Option<MemberPerson>> {
        let sql = format!("{PERSON} where p.email = $1");
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(p)
            .await)?)
    }

    pub async fn person(&self, id: i64) -> Result<MemberPerson> {
        let sql = format!("{PERSON} where p.id = $1");
        let row = with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)
    }

    /// Staff's decision on an organisation: `active` (approved or enabled again) or
    /// `disabled` (refused or stopped: its people can no longer sign in).
    pub async fn set_member_state(&self, id: i64, state: &str, by: i64) -> Result<()> {
        let at = self.now();
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(
                "update members set state = $2, decided_by = $3, decided_at = $4 where id = $1",
            )
            .bind(id)
            .bind(state)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if state != "active" {
                sqlx::query(
                    "delete from member_sessions where person_id in \
                     (select id from member_people where member_id = $1)",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A sign-in link for `person`, bound to the browser whose cookie hashes to
    /// `browser_hash`, and its mail queued in the same transaction. Older links of the person
    /// not yet used stop working: only the newest opens a session.
    pub async fn create_member_login(
        &self,
        person_id: i64,
        email: &str,
        browser_hash: &str,
        validity: chrono::Duration,
        mail_domain: &str,
    ) -> Result<i64> {
        let at = self.now();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let id = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "update member_logins set used_at = $2 where person_id = $1 and used_at is null",
            )
            .bind(person_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let id: i64 = sqlx::query_scalar(
                "insert into member_logins (person_id, nonce, browser_hash, created_at, expires_at) \
                 values ($1, $2, $3, $4, $5) returning id",
            )
            .bind(person_id)
            .bind(&nonce)
            .bind(browser_hash)
            .bind(at)
            .bind(at + validity)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "insert into mails (kind, login_id, email, state, next_attempt_at, message_id, \
                   created_at, updated_at) values ('member_link', $1, $2, 'queued', $3, $4, $3, $3)",
            )
            .bind(id)
            .bind(email)
            .bind(at)
            .bind(mail_message_id(mail_domain))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        Ok(id)
    }

    /// The link row a queued sign-in mail writes, while it can still be used.
    pub async fn login_link(&self, id: i64) -> Result<Option<LoginLink>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, nonce, expires_at from member_logins \
                 where id = $1 and used_at is null and expires_at > $2",
            )
            .bind(id)
            .bind(self.now())
            .fetch_optional(p)
            .await
        })?)
    }

    /// Spends a sign-in link: once, before it expires, from the browser that asked. Returns
    /// the person it signs in. `nonce` must already be checked against the link's signature.
    pub async fn use_member_login(
        &self,
        id: i64,
        nonce: &str,
        browser_hash: Option<&str>,
    ) -> Result<std::result::Result<i64, LoginRefusal>> {
        let at = self.now();
        let row: Option<(i64, String)> = with_pool!(self, |p| {
            sqlx::query_as(
                "select person_id, browser_hash from member_logins \
                 where id = $1 and nonce = $2 and used_at is null and expires_at > $3",
            )
            .bind(id)
            .bind(nonce)
            .bind(at)
            .fetch_optional(p)
            .await
        })?;
        let Some((person_id, expected)) = row else {
            return Ok(Err(LoginRefusal::Spent));
        };
        if browser_hash != Some(expected.as_str()) {
            return Ok(Err(LoginRefusal::OtherBrowser));
        }
        // Two clicks at once: only one update finds the link unused.
        let spent = with_pool!(self, |p| {
            sqlx::query(
                "update member_logins set used_at = $2 where id = $1 and used_at is null \
                 and person_id in (select p.id from member_people p \
                   join members m on m.id = p.member_id where m.state = 'active')",
            )
            .bind(id)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if spent == 0 {
            return Ok(Err(LoginRefusal::Spent));
        }
        Ok(Ok(person_id))
    }

    pub async fn create_member_session(
        &self,
        person_id: i64,
        token_hash: &str,
        csrf_token: &str,
        ttl: chrono::Duration,
    ) -> Result<()> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query("delete from member_sessions where expires_at < $1")
                .bind(at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "insert into member_sessions (token_hash, person_id, csrf_token, created_at, expires_at) \
                 values ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(person_id)
            .bind(csrf_token)
            .bind(at)
            .bind(at + ttl)
            .execute(&mut *tx)
            .await?;
            sqlx::query("update member_people set last_login_at = $2 where id = $1")
                .bind(person_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// The session of this token, if it is current and its organisation still active.
    pub async fn member_session(&self, token_hash: &str) -> Result<Option<MemberSession>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select p.id as person_id, p.member_id, p.email, p.name, m.org_name, s.csrf_token \
                 from member_sessions s join member_people p on p.id = s.person_id \
                 join members m on m.id = p.member_id \
                 where s.token_hash = $1 and s.expires_at > $2 and m.state = 'active'",
            )
            .bind(token_hash)
            .bind(self.now())
            .fetch_optional(p)
            .await
        })?)
    }

    pub async fn end_member_session(&self, token_hash: &str) -> Result<()> {
        with_pool!(self, |p| {
            sqlx::query("delete from member_sessions where token_hash = $1")
                .bind(token_hash)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}
