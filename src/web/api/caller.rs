//! Who calls the API: the bearer token, resolved by the store, then counted against the token's
//! rate limit. Every API handler takes a `Caller`; role checks are `member()` and `staff()`.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::ApiError;
use crate::store::AdActor;
use crate::web::AppState;

pub struct Caller {
    pub actor: AdActor,
}

/// A member token's organisation and person.
pub struct MemberCaller {
    pub member_id: i64,
    pub person_id: i64,
}

impl Caller {
    pub fn member(&self) -> Result<MemberCaller, ApiError> {
        match self.actor {
            AdActor::Member {
                member_id,
                person_id,
            } => Ok(MemberCaller {
                member_id,
                person_id,
            }),
            AdActor::Staff { .. } => Err(ApiError::Forbidden(
                "Réservé aux jetons des membres : un jeton de la rédaction ne publie pas d'annonce.",
            )),
        }
    }

    /// The staff account's id.
    pub fn staff(&self) -> Result<i64, ApiError> {
        match self.actor {
            AdActor::Staff { user_id } => Ok(user_id),
            AdActor::Member { .. } => Err(ApiError::Forbidden(
                "Réservé à la rédaction : ce jeton est celui d'un membre.",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized(
                "Jeton manquant : envoyez l'en-tête « Authorization: Bearer JETON » (relais token create).",
            ))?;
        let caller = app
            .store
            .api_caller(token)
            .await?
            .ok_or(ApiError::Unauthorized(
            "Ce jeton n'est pas valide : il est inconnu, révoqué, ou son compte ne peut plus agir.",
        ))?;
        app.limits
            .allow_api(caller.token_id)
            .map_err(ApiError::TooManyRequests)?;
        Ok(Caller {
            actor: caller.actor,
        })
    }
}
