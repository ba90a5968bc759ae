//! The scheduler's leadership lease.

use std::time::Duration;

use super::{with_pool, Result, Store};

impl Store {
    /// Takes or renews the named lease for `holder`. True while `holder` leads.
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let at = self.now();
        let expires = at + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
        let done = with_pool!(self, |p| {
            sqlx::query(
                "insert into leases (name, holder, expires_at) values ($1, $2, $3) \
                 on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at \
                 where leases.holder = excluded.holder or leases.expires_at < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(expires)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        with_pool!(self, |p| {
            sqlx::query("delete from leases where name = $1 and holder = $2")
                .bind(name)
                .bind(holder)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
