//! The desk through the API, for staff: search the watch items (each with the other items of
//! its story), create issues, add items and approved ads to them. The `///` lines of the
//! handlers and of the types they exchange are published in the OpenAPI document: French.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiErrorBody, ApiJson, InvalidBody, StaffOnly};
use super::{ApiError, Caller};
use crate::desk::{EntryError, EntrySource};
use crate::domain::{search, Newsletter, KNOWN_NEWSLETTERS};
use crate::store::InboxFilter;
use crate::web::AppState;

/// Un élément de veille, avec le texte de la rédaction s'il a été modifié.
#[derive(Debug, Serialize, ToSchema)]
pub struct Item {
    pub id: i64,
    pub title: String,
    /// Le nom court de la source (celui de `sources.toml`).
    pub source: String,
    pub source_name: String,
    pub url: Option<String>,
    /// Le résumé, en texte brut.
    pub summary: String,
    pub published_at: Option<DateTime<Utc>>,
    pub fetched_at: DateTime<Utc>,
    pub deadline: Option<NaiveDate>,
    /// `new` (nouveau), `selected` (retenu), `dismissed` (écarté) ou `published` (publié).
    #[schema(example = "new")]
    pub status: String,
    /// Les numéros des autres éléments jugés la même histoire (racontée par d'autres sources).
    pub similar: Vec<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// Les mots cherchés dans les titres et les textes, tous requis, chacun comme début de mot.
    pub q: Option<String>,
    /// Combien d'éléments au plus (50 par défaut, 200 au plus).
    pub limit: Option<i64>,
    /// Seulement les éléments plus anciens que ce numéro (la page suivante).
    pub before: Option<i64>,
}

/// Un nouveau numéro.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewIssue {
    /// La lettre : `coopdev-info` ou `echos-du-reseau`.
    #[serde(default)]
    pub newsletter: String,
    /// L'objet ; absent : le nom de la lettre et la date du jour.
    #[serde(default)]
    pub subject: Option<String>,
}

/// Un numéro.
#[derive(Debug, Serialize, ToSchema)]
pub struct Issue {
    pub id: i64,
    pub newsletter: String,
    pub subject: String,
    /// `draft` (brouillon), `approved` (validé), `sending` (en cours d'envoi) ou `sent` (parti).
    #[schema(example = "draft")]
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Une entrée à ajouter : `item` ou `ad`, l'un des deux exactement.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewEntry {
    /// Un élément de veille.
    pub item: Option<i64>,
    /// Une annonce validée, dans Les Échos du Réseau seulement.
    pub ad: Option<i64>,
    /// La clé d'une rubrique de la lettre ; absente : la rubrique par défaut.
    pub section: Option<String>,
}

/// Une entrée ajoutée à un numéro.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    pub id: i64,
    pub issue: i64,
    /// La rubrique où elle est entrée.
    pub section: String,
    /// Sa place dans la rubrique, à partir de 1.
    pub position: i64,
    pub item: Option<i64>,
    pub ad: Option<i64>,
}

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Rédaction : les éléments de veille qui répondent à `q`, le plus récemment relevé d'abord.
#[utoipa::path(get, path = "/items", tag = "veille", params(ItemsQuery),
    responses(
        (status = 200, description = "Les éléments, chacun avec les autres de son histoire", body = Vec<Item>),
        StaffOnly,
    ))]
pub async fn items(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Vec<Item>>, ApiError> {
    caller.staff()?;
    let filter = InboxFilter {
        terms: search::terms(q.q.as_deref().unwrap_or("")),
        before_id: q.before,
        limit: q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        ..InboxFilter::default()
    };
    let (found, _) = app.store.inbox(&filter).await?;
    let mut stories: Vec<i64> = found.iter().map(|i| i.story_id).collect();
    stories.sort_unstable();
    stories.dedup();
    let mut by_story: HashMap<i64, Vec<i64>> = HashMap::new();
    for m in app.store.story_members(&stories).await? {
        by_story.entry(m.story_id).or_default().push(m.id);
    }
    Ok(Json(
        found
            .into_iter()
            .map(|i| Item {
                similar: by_story
                    .get(&i.story_id)
                    .map(|ids| ids.iter().copied().filter(|id| *id != i.id).collect())
                    .unwrap_or_default(),
                id: i.id,
                title: i.title,
                source: i.source,
                source_name: i.source_name,
                url: i.url,
                summary: i.summary_text,
                published_at: i.published_at,
                fetched_at: i.fetched_at,
                deadline: i.deadline,
                status: i.status.as_str().to_string(),
            })
            .collect(),
    ))
}

/// Rédaction : créer un numéro.
///
/// Le brouillon commence avec les éléments retenus pour la lettre et, pour Les Échos du Réseau,
/// les annonces validées en cours.
#[utoipa::path(post, path = "/issues", tag = "numéros", request_body = NewIssue,
    responses(
        (status = 201, description = "Le numéro créé", body = Issue),
        StaffOnly,
        (status = 422, description = "Lettre inconnue", body = InvalidBody),
    ))]
pub async fn create_issue(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<NewIssue>,
) -> Result<(StatusCode, Json<Issue>), ApiError> {
    caller.staff()?;
    let Some(n) = Newsletter::find(input.newsletter.trim()) else {
        let known: Vec<&str> = KNOWN_NEWSLETTERS.iter().map(|n| n.slug).collect();
        return Err(ApiError::field(
            "newsletter",
            &format!("Lettre inconnue : {}.", known.join(" ou ")),
        ));
    };
    let subject = input
        .subject
        .as_deref()
        .map(|s| crate::render::printable_line(s.trim()))
        .filter(|s| !s.is_empty());
    let id = crate::desk::create_issue(
        &app.store,
        &app.config.sections,
        n.slug,
        subject.as_deref(),
        app.today(),
    )
    .await?;
    let issue = app.store.issue(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(Issue {
            id,
            newsletter: issue.newsletter,
            subject: issue.subject,
            status: issue.status.as_str().to_string(),
            created_at: issue.created_at,
        }),
    ))
}

/// Rédaction : ajouter un élément de veille ou une annonce validée à un numéro.
///
/// Le numéro ne doit pas être parti ; une annonce ne va que dans Les Échos du Réseau.
#[utoipa::path(post, path = "/issues/{id}/entries", tag = "numéros", request_body = NewEntry,
    params(("id" = i64, Path, description = "Le numéro (identifiant) du numéro")),
    responses(
        (status = 201, description = "L'entrée ajoutée", body = Entry),
        StaffOnly,
        (status = 404, description = "Aucun numéro de cet identifiant", body = ApiErrorBody),
        (status = 409, description = "Déjà dans le numéro, ou numéro parti", body = ApiErrorBody),
        (status = 422, description = "Élément, annonce ou rubrique refusés", body = InvalidBody),
    ))]
pub async fn add_entry(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewEntry>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    caller.staff()?;
    let entry = match (input.item, input.ad) {
        (Some(item), None) => EntrySource::Item(item),
        (None, Some(ad)) => EntrySource::Ad(ad),
        _ => {
            return Err(ApiError::field(
                "item",
                "Indiquez soit « item » (un élément de veille), soit « ad » (une annonce).",
            ))
        }
    };
    let section = input.section.as_deref().filter(|s| !s.trim().is_empty());
    let added =
        crate::desk::add_to_issue(&app.store, &app.config.sections, id, entry, section).await;
    let added = added.map_err(|e| {
        let text = sentence(&e.to_string());
        match e {
            EntryError::NoIssue(_) => ApiError::NotFound,
            EntryError::Frozen(..) | EntryError::AlreadyThere(_) => ApiError::Conflict(text),
            EntryError::UnknownSection { .. } => ApiError::field("section", &text),
            EntryError::NoItem(_) => ApiError::field("item", &text),
            EntryError::NoAd(_) | EntryError::AdNotApproved(_) | EntryError::AdOutsideEchos => {
                ApiError::field("ad", &text)
            }
            EntryError::Store(e) => e.into(),
            EntryError::Other(e) => ApiError::Internal(e),
        }
    })?;
    Ok((
        StatusCode::CREATED,
        Json(Entry {
            id: added.id,
            issue: id,
            section: added.section,
            position: added.position,
            item: input.item,
            ad: input.ad,
        }),
    ))
}

/// The CLI's lower-case message as a sentence.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
