//! Staff accounts and API tokens.

use super::{now, with_pool, Result, Store, StoreError};

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
            .bind(now())
            .fetch_one(p)
            .await
        })
        .map_err(StoreError::from_write)?;
        Ok(id)
    }
}
