//! Staff accounts and their sessions.

use super::{with_pool, BeginWrite, Result, Store, StoreError};

impl Store {
    pub async fn add_user(&self, email: &str, password_hash: &str, role: &str) -> Result<i64> {
        let id = with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into users (email, password_hash, role, created_at) values ($1, $2, $3, $4) \
                 returning id",
            )
            .bind(email)
            .bind(password_hash)
            .bind(role)
            .bind(self.now())
            .fetch_one(p)
            .await
        })
        .map_err(StoreError::from_write)?;
        Ok(id)
    }
}

/// A staff account as the team page lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub disabled: bool,
}

/// A signed-in staff member, as a session cookie resolves.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffSession {
    pub user_id: i64,
    pub email: String,
    pub role: String,
    pub csrf_token: String,
}

impl Store {
    /// (id, password hash) of a staff account.
    pub async fn user_credentials(&self, email: &str) -> Result<Option<(i64, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, password_hash from users where email = $1 and disabled_at is null",
            )
            .bind(email)
            .fetch_optional(p)
            .await
        })?)
    }

    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        csrf_token: &str,
        lifetime: chrono::Duration,
    ) -> Result<()> {
        let at = self.now();
        with_pool!(self, |p| {
            sqlx::query(
                "insert into staff_sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                 values ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf_token)
            .bind(at)
            .bind(at + lifetime)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The live session with this token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<StaffSession>> {
        let at = self.now();
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select u.id as user_id, u.email, u.role, s.csrf_token from staff_sessions s \
                 join users u on u.id = s.user_id \
                 where s.token_hash = $1 and s.expires_at > $2 and u.disabled_at is null",
            )
            .bind(token_hash)
            .bind(at)
            .fetch_optional(p)
            .await
        })?)
    }

    /// Deletes sessions past their expiry (housekeeping); returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        let at = self.now();
        Ok(with_pool!(self, |p| {
            sqlx::query("delete from staff_sessions where expires_at <= $1")
                .bind(at)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    pub async fn end_session(&self, token_hash: &str) -> Result<()> {
        with_pool!(self, |p| {
            sqlx::query("delete from staff_sessions where token_hash = $1")
                .bind(token_hash)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Every staff account, admins first.
    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, email, role, (disabled_at is not null) as disabled from users \
                 order by role, email",
            )
            .fetch_all(p)
            .await
        })?)
    }

    /// The password hash of an active account, by id.
    pub async fn password_hash(&self, user: i64) -> Result<String> {
        let hash: Option<String> = with_pool!(self, |p| {
            sqlx::query_scalar(
                "select password_hash from users where id = $1 and disabled_at is null",
            )
            .bind(user)
            .fetch_optional(p)
            .await
        })?;
        hash.ok_or(StoreError::NotFound)
    }

    /// Disables an account (ending its sessions) or enables it again.
    pub async fn set_user_disabled(&self, user: i64, disabled: bool) -> Result<()> {
        let at = self.now();
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(
                "update users set disabled_at = case when $2 then $3 else null end where id = $1",
            )
            .bind(user)
            .bind(disabled)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if disabled {
                sqlx::query("delete from staff_sessions where user_id = $1")
                    .bind(user)
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

    /// Replaces an account's password; every session of the account but `keep` ends.
    pub async fn set_password(&self, user: i64, hash: &str, keep: Option<&str>) -> Result<()> {
        let done = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query("update users set password_hash = $2 where id = $1")
                .bind(user)
                .bind(hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "delete from staff_sessions where user_id = $1 and ($2 is null or token_hash <> $2)",
            )
            .bind(user)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
