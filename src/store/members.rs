//! Member organisations and their classified ads.

use chrono::NaiveDate;

use super::{with_pool, Result, Store, StoreError};

impl Store {
    pub async fn add_member(
        &self,
        email: &str,
        org_name: &str,
        college: Option<&str>,
        departement: Option<&str>,
    ) -> Result<i64> {
        let id = with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into members (email, org_name, college, departement, created_at) \
                 values ($1, $2, $3, $4, $5) returning id",
            )
            .bind(email)
            .bind(org_name)
            .bind(college)
            .bind(departement)
            .bind(self.now())
            .fetch_one(p)
            .await
        })
        .map_err(StoreError::from_write)?;
        Ok(id)
    }

    /// Ads approved and not yet expired on `today`, oldest first: what a new issue of
    /// Les Échos du Réseau carries.
    pub async fn current_ads(&self, today: NaiveDate) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_scalar(
                "select id from ads where state = 'approved' and expires_on >= $1 order by approved_at, id",
            )
            .bind(today)
            .fetch_all(p)
            .await
        })?)
    }
}
