//! API tokens: made for a staff account or for one person of a member organisation, shown
//! once, stored only as a SHA-256 hash, revocable. A token stops working when it is revoked,
//! when its staff account is disabled or when its organisation is no longer active.

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{with_pool, AdActor, Result, Store, StoreError};

/// Who a valid token speaks for.
#[derive(Debug, Clone, Copy)]
pub struct ApiCaller {
    pub token_id: i64,
    pub actor: AdActor,
}

/// A token as `relais token list` shows it (never the token itself).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ApiTokenRow {
    pub id: i64,
    pub label: String,
    /// `editor` (a staff account) or `member` (a person of an organisation).
    pub kind: String,
    /// The staff account's or the person's address.
    pub email: String,
    pub org_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `last_used_at` is written at most once a minute per token: a busy script should not turn
/// every read into a write.
const LAST_USED_STEP_SECONDS: i64 = 60;

/// A token row's (id, user_id, member_id, person_id).
type TokenOwners = (i64, Option<i64>, Option<i64>, Option<i64>);

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// A new token for `owner`; returns its id and the token, which is stored nowhere.
    pub async fn create_api_token(&self, owner: AdActor, label: &str) -> Result<(i64, String)> {
        let token = format!(
            "relais_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
        );
        let (user, member, person) = match owner {
            AdActor::Staff { user_id } => (Some(user_id), None, None),
            AdActor::Member {
                member_id,
                person_id,
            } => (None, Some(member_id), Some(person_id)),
        };
        let id = with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into api_tokens (token_hash, user_id, member_id, person_id, label, created_at) \
                 values ($1, $2, $3, $4, $5, $6) returning id",
            )
            .bind(hash(&token))
            .bind(user)
            .bind(member)
            .bind(person)
            .bind(label)
            .bind(self.now())
            .fetch_one(p)
            .await
        })
        .map_err(StoreError::from_write)?;
        Ok((id, token))
    }

    /// Who `token` speaks for, if it is known, not revoked and its owner may still act.
    pub async fn api_caller(&self, token: &str) -> Result<Option<ApiCaller>> {
        let now = self.now();
        let row: Option<TokenOwners> = with_pool!(self, |p| {
            sqlx::query_as(
                "select t.id, t.user_id, t.member_id, t.person_id from api_tokens t \
                 left join users u on u.id = t.user_id \
                 left join members m on m.id = t.member_id \
                 where t.token_hash = $1 and t.revoked_at is null \
                 and (t.user_id is null or u.disabled_at is null) \
                 and (t.member_id is null or (m.state = 'active' and t.person_id is not null))",
            )
            .bind(hash(token))
            .fetch_optional(p)
            .await
        })?;
        let caller = match row {
            Some((token_id, Some(user_id), _, _)) => ApiCaller {
                token_id,
                actor: AdActor::Staff { user_id },
            },
            Some((token_id, None, Some(member_id), Some(person_id))) => ApiCaller {
                token_id,
                actor: AdActor::Member {
                    member_id,
                    person_id,
                },
            },
            _ => return Ok(None),
        };
        let stale = now - chrono::Duration::seconds(LAST_USED_STEP_SECONDS);
        with_pool!(self, |p| {
            sqlx::query(
                "update api_tokens set last_used_at = $2 \
                 where id = $1 and (last_used_at is null or last_used_at < $3)",
            )
            .bind(caller.token_id)
            .bind(now)
            .bind(stale)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(Some(caller))
    }

    /// Every token, newest first, revoked ones included.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenRow>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select t.id, t.label, \
                   case when t.user_id is not null then 'editor' else 'member' end as kind, \
                   coalesce(u.email, mp.email, m.email) as email, m.org_name, \
                   t.created_at, t.last_used_at, t.revoked_at \
                 from api_tokens t left join users u on u.id = t.user_id \
                 left join members m on m.id = t.member_id \
                 left join member_people mp on mp.id = t.person_id \
                 order by t.id desc",
            )
            .fetch_all(p)
            .await
        })?)
    }

    /// Revokes a token for good. `Ok(false)`: it was already revoked.
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool> {
        let done = with_pool!(self, |p| {
            sqlx::query(
                "update api_tokens set revoked_at = $2 where id = $1 and revoked_at is null",
            )
            .bind(id)
            .bind(self.now())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done > 0 {
            return Ok(true);
        }
        let exists: Option<i64> = with_pool!(self, |p| {
            sqlx::query_scalar("select id from api_tokens where id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
        })?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }
}
