//! Ads through the API: members post, list, read, edit and withdraw their own; staff list by
//! state and moderate. A member never sees another organisation's ad: it is a 404, as if it
//! did not exist. Checks are the web form's (`domain::ad::validate`). The `///` lines of the
//! handlers and of the types they exchange are published in the OpenAPI document: French.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiErrorBody, ApiJson, InvalidBody, MembersOnly, NoSuchAd, Refused, StaffOnly};
use super::{ApiError, Caller};
use crate::domain::ad::{self, AdInput};
use crate::store::{AdActor, AdChange, AdRow};
use crate::web::AppState;

/// Une annonce.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ad {
    pub id: i64,
    pub member_id: i64,
    /// Le nom de l'organisation, tel qu'il paraît sur l'annonce.
    pub organisation: String,
    pub category: String,
    pub title: String,
    /// Le texte du membre, en Markdown.
    pub body: String,
    /// Le texte en HTML nettoyé, tel qu'il paraît.
    pub body_html: String,
    pub departement: Option<String>,
    pub country: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    /// `pending` (en attente), `approved` (validée), `rejected` (refusée), `withdrawn`
    /// (retirée) ou `expired` (échue).
    #[schema(example = "pending")]
    pub state: String,
    /// La raison du refus par la rédaction, s'il y en a un.
    pub reject_reason: Option<String>,
    pub expires_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<AdRow> for Ad {
    fn from(a: AdRow) -> Self {
        Ad {
            id: a.id,
            member_id: a.member_id,
            organisation: a.org_name,
            category: a.category,
            title: a.title,
            body: a.body,
            body_html: a.body_html,
            departement: a.departement,
            country: a.country,
            contact_email: a.contact_email,
            contact_phone: a.contact_phone,
            state: a.state,
            reject_reason: a.reject_reason,
            expires_on: a.expires_on,
            created_at: a.created_at,
            approved_at: a.approved_at,
            updated_at: a.updated_at,
        }
    }
}

/// Une annonce et chaque décision prise à son sujet.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdDetail {
    #[serde(flatten)]
    pub ad: Ad,
    pub events: Vec<AdEventView>,
}

/// Une décision : `submitted`, `edited`, `approved`, `rejected`, `withdrawn`, `extended` ou
/// `expired`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdEventView {
    pub action: String,
    /// Qui a agi (montré à la rédaction seulement).
    pub by: Option<String>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdsQuery {
    /// `pending` (par défaut), `approved`, `rejected`, `withdrawn` ou `expired`.
    pub state: Option<String>,
}

/// Un refus.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RejectInput {
    /// La raison, envoyée au membre par courriel ; obligatoire, 1 000 caractères au plus.
    #[serde(default)]
    pub reason: String,
}

const STATES: [&str; 5] = ["pending", "approved", "rejected", "withdrawn", "expired"];
const MAX_REASON_CHARS: usize = 1000;

/// An ad the caller may see: a member's own organisation's, any for staff.
async fn visible_ad(app: &AppState, caller: &Caller, id: i64) -> Result<AdRow, ApiError> {
    Ok(match caller.actor {
        AdActor::Member { member_id, .. } => app.store.member_ad(member_id, id).await?,
        AdActor::Staff { .. } => app.store.ad(id).await?,
    })
}

/// The ad after a change; a change its state refused is a 409 that names the state.
async fn changed(
    app: &AppState,
    id: i64,
    change: AdChange,
    what: &str,
) -> Result<Json<Ad>, ApiError> {
    let ad = app.store.ad(id).await?;
    match change {
        AdChange::Done => Ok(Json(ad.into())),
        AdChange::NotNow => Err(ApiError::Conflict(format!(
            "Cette annonce est dans l'état « {} » : elle ne peut plus être {what}.",
            ad.state
        ))),
    }
}

/// Publier une annonce pour l'organisation du jeton ; elle attend la validation.
#[utoipa::path(post, path = "/ads", tag = "annonces", request_body = AdInput,
    responses(
        (status = 201, description = "L'annonce, en attente de validation", body = Ad),
        MembersOnly,
        Refused,
    ))]
pub async fn create_ad(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<AdInput>,
) -> Result<(StatusCode, Json<Ad>), ApiError> {
    let member = caller.member()?;
    let draft = ad::validate(&input, app.today()).map_err(ApiError::Invalid)?;
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    let id = app
        .store
        .create_ad(member.member_id, member.person_id, &draft, &html)
        .await?;
    Ok((StatusCode::CREATED, Json(app.store.ad(id).await?.into())))
}

/// Les annonces de l'organisation du jeton, la plus récente d'abord.
#[utoipa::path(get, path = "/ads/mine", tag = "annonces",
    responses(
        (status = 200, description = "Les annonces de l'organisation", body = Vec<Ad>),
        MembersOnly,
    ))]
pub async fn my_ads(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Ad>>, ApiError> {
    let member = caller.member()?;
    let ads = app.store.member_ads(member.member_id).await?;
    Ok(Json(ads.into_iter().map(Ad::from).collect()))
}

/// Rédaction : les annonces dans un état (par défaut, la file de modération).
///
/// La plus anciennement changée d'abord.
#[utoipa::path(get, path = "/ads", tag = "modération", params(AdsQuery),
    responses(
        (status = 200, description = "Les annonces dans cet état", body = Vec<Ad>),
        StaffOnly,
        (status = 422, description = "État inconnu", body = InvalidBody),
    ))]
pub async fn list_ads(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<AdsQuery>,
) -> Result<Json<Vec<Ad>>, ApiError> {
    caller.staff()?;
    let state = q.state.as_deref().unwrap_or("pending");
    if !STATES.contains(&state) {
        return Err(ApiError::field(
            "state",
            "État inconnu : pending, approved, rejected, withdrawn ou expired.",
        ));
    }
    let ads = app.store.ads_in_state(state).await?;
    Ok(Json(ads.into_iter().map(Ad::from).collect()))
}

/// Une annonce et son historique : un membre ne lit que celles de son organisation.
#[utoipa::path(get, path = "/ads/{id}", tag = "annonces",
    params(("id" = i64, Path, description = "Le numéro de l'annonce")),
    responses(
        (status = 200, description = "L'annonce et ses décisions", body = AdDetail),
        NoSuchAd,
    ))]
pub async fn show_ad(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AdDetail>, ApiError> {
    let ad = visible_ad(&app, &caller, id).await?;
    let staff = matches!(caller.actor, AdActor::Staff { .. });
    let events = app.store.ad_events(id).await?;
    Ok(Json(AdDetail {
        ad: ad.into(),
        events: events
            .into_iter()
            .map(|e| AdEventView {
                action: e.action,
                by: e.by.filter(|_| staff),
                reason: e.reason,
                at: e.at,
            })
            .collect(),
    }))
}

/// Modifier une annonce qui attend la validation ou a été refusée.
///
/// Son membre la modifie tant qu'elle attend ou après un refus (elle attend alors de nouveau) ;
/// la rédaction, tant qu'elle attend.
#[utoipa::path(put, path = "/ads/{id}", tag = "annonces", request_body = AdInput,
    params(("id" = i64, Path, description = "Le numéro de l'annonce")),
    responses(
        (status = 200, description = "L'annonce modifiée, en attente de validation", body = Ad),
        NoSuchAd,
        (status = 409, description = "L'annonce ne se modifie plus (validée, retirée ou échue)", body = ApiErrorBody),
        Refused,
    ))]
pub async fn edit_ad(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<AdInput>,
) -> Result<Json<Ad>, ApiError> {
    let draft = ad::validate(&input, app.today()).map_err(ApiError::Invalid)?;
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    let change = app.store.edit_ad(id, caller.actor, &draft, &html).await?;
    changed(&app, id, change, "modifiée").await
}

/// Retirer une annonce, définitivement (son membre seulement).
#[utoipa::path(post, path = "/ads/{id}/withdraw", tag = "annonces",
    params(("id" = i64, Path, description = "Le numéro de l'annonce")),
    responses(
        (status = 200, description = "L'annonce, retirée", body = Ad),
        MembersOnly,
        NoSuchAd,
        (status = 409, description = "L'annonce est déjà retirée ou échue", body = ApiErrorBody),
    ))]
pub async fn withdraw_ad(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Ad>, ApiError> {
    let member = caller.member()?;
    let change = app
        .store
        .withdraw_ad(id, member.member_id, member.person_id)
        .await?;
    changed(&app, id, change, "retirée").await
}

/// Prolonger une annonce en cours de 30 jours, sans dépasser 90 jours à partir d'aujourd'hui.
#[utoipa::path(post, path = "/ads/{id}/extend", tag = "annonces",
    params(("id" = i64, Path, description = "Le numéro de l'annonce")),
    responses(
        (status = 200, description = "L'annonce, avec sa nouvelle date de fin", body = Ad),
        NoSuchAd,
        (status = 409, description = "L'annonce est refusée, retirée ou échue, ou déjà prolongée au plus loin", body = ApiErrorBody),
    ))]
pub async fn extend_ad(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Ad>, ApiError> {
    let ad = visible_ad(&app, &caller, id).await?;
    let to = ad::extended(ad.expires_on, app.today());
    if to <= ad.expires_on {
        return Err(ApiError::Conflict(format!(
            "Cette annonce court déjà jusqu'au {} : elle ne va pas plus loin.",
            crate::render::french_date(ad.expires_on)
        )));
    }
    let change = app.store.extend_ad(id, caller.actor, to).await?;
    changed(&app, id, change, "prolongée").await
}

/// Rédaction : valider une annonce.
///
/// Elle paraît sur le site et dans les prochains numéros des Échos du Réseau.
#[utoipa::path(post, path = "/ads/{id}/approve", tag = "modération",
    params(("id" = i64, Path, description = "Le numéro de l'annonce")),
    responses(
        (status = 200, description = "L'annonce, validée", body = Ad),
        StaffOnly,
        NoSuchAd,
        (status = 409, description = "L'annonce n'attend plus de validation", body = ApiErrorBody),
    ))]
pub async fn approve_ad(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Ad>, ApiError> {
    let user = caller.staff()?;
    let change = app.store.approve_ad(id, user).await?;
    changed(&app, id, change, "validée").await
}

/// Rédaction : refuser une annonce, avec une raison envoyée au membre.
///
/// Une annonce en attente, ou déjà validée.
#[utoipa::path(post, path = "/ads/{id}/reject", tag = "modération", request_body = RejectInput,
    params(("id" = i64, Path, description = "Le numéro de l'annonce")),
    responses(
        (status = 200, description = "L'annonce, refusée ; le courriel au membre est en file", body = Ad),
        StaffOnly,
        NoSuchAd,
        (status = 409, description = "L'annonce est déjà refusée, retirée ou échue", body = ApiErrorBody),
        (status = 422, description = "Raison manquante ou trop longue", body = InvalidBody),
    ))]
pub async fn reject_ad(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<RejectInput>,
) -> Result<Json<Ad>, ApiError> {
    let user = caller.staff()?;
    let reason = crate::render::printable_text(input.reason.trim());
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::field(
            "reason",
            "Écrivez la raison du refus (1 000 caractères au plus) : elle est envoyée au membre.",
        ));
    }
    let domain = app.config.mail_domain();
    let change = app.store.reject_ad(id, user, &reason, &domain).await?;
    if change == AdChange::Done {
        app.dispatcher.wake();
    }
    changed(&app, id, change, "refusée").await
}
