//! The API's errors and JSON bodies: every refusal is JSON with a French `error`, and a 422
//! names each faulty field. 5xx are logged and never show their cause. The `///` lines of the
//! two bodies are published in the OpenAPI document: French.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ad::FieldError;
use crate::store::StoreError;

/// Un refus (sauf 422).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// Ce qui ne va pas et que faire.
    pub error: String,
}

/// Des champs refusés (422) : rien n'a été enregistré.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidBody {
    pub error: String,
    /// Chaque champ refusé, avec son message.
    pub fields: Vec<FieldError>,
}

// Answers several routes give, described once for their `#[utoipa::path]`s. They are never
// built: the handlers answer through `ApiError`.

/// Réservé à la rédaction : ce jeton est celui d'un membre.
#[derive(utoipa::IntoResponses)]
#[response(status = 403)]
#[allow(dead_code)]
pub struct StaffOnly(ApiErrorBody);

/// Réservé aux jetons des membres.
#[derive(utoipa::IntoResponses)]
#[response(status = 403)]
#[allow(dead_code)]
pub struct MembersOnly(ApiErrorBody);

/// Aucune annonce de ce numéro (pour un membre : ni celle d'un autre membre).
#[derive(utoipa::IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)]
pub struct NoSuchAd(ApiErrorBody);

/// Des champs refusés, chacun nommé ; rien n'est enregistré.
#[derive(utoipa::IntoResponses)]
#[response(status = 422)]
#[allow(dead_code)]
pub struct Refused(InvalidBody);

#[derive(Debug)]
pub enum ApiError {
    /// No token, or one that is unknown, revoked or whose owner may no longer act.
    Unauthorized(&'static str),
    /// The token's role does not allow this route.
    Forbidden(&'static str),
    NotFound,
    BadRequest(String),
    UnsupportedMediaType,
    Invalid(Vec<FieldError>),
    /// The thing exists but is not in a state that allows the change.
    Conflict(String),
    /// The token's quota is spent; come back after this long.
    TooManyRequests(Duration),
    Internal(anyhow::Error),
}

impl ApiError {
    /// One faulty field.
    pub fn field(field: &'static str, message: &str) -> Self {
        ApiError::Invalid(vec![FieldError {
            field,
            message: message.to_string(),
        }])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(_) => ApiError::Conflict("Cet élément existe déjà.".into()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<StoreError>() {
            Ok(store) => store.into(),
            Err(e) => ApiError::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            ApiError::Invalid(fields) => {
                let body = InvalidBody {
                    error: "Certains champs sont refusés : rien n'a été enregistré.".into(),
                    fields,
                };
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
            ApiError::Unauthorized(why) => {
                let mut response = error_body(StatusCode::UNAUTHORIZED, why.to_string());
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            ApiError::TooManyRequests(wait) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut response = error_body(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Trop de demandes avec ce jeton : réessayez dans {seconds} seconde(s)."
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
                return response;
            }
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, why.to_string()),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Introuvable : cet élément n'existe pas ou ne vous est pas accessible.".into(),
            ),
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Envoyez du JSON, avec l'en-tête Content-Type: application/json.".into(),
            ),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why),
            ApiError::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Une erreur est survenue de notre côté. Réessayez plus tard.".into(),
                )
            }
        };
        error_body(status, error)
    }
}

fn error_body(status: StatusCode, error: String) -> Response {
    (status, Json(ApiErrorBody { error })).into_response()
}

/// Error answers under `/api/` that no API handler wrote (unknown routes and methods, the
/// body limit) become JSON with the same status and headers.
pub fn json_errors(response: Response, french: &str) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let (json_parts, body) = error_body(status, french.to_string()).into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, body)
}

/// A JSON request body: `Content-Type: application/json`, valid UTF-8, well-formed JSON of the
/// expected shape; each refusal is a 4xx in French.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType.into_response());
        }
        // The body limit's refusal (413) passes through and becomes JSON on the way out.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            ApiError::BadRequest(format!(
                "Le corps de la demande n'est pas de l'UTF-8 valide (octet {}).",
                e.valid_up_to() + 1
            ))
            .into_response()
        })?;
        serde_json::from_str(text)
            .map(ApiJson)
            .map_err(|e| ApiError::BadRequest(json_problem(&e)).into_response())
    }
}

/// serde_json's error, said in French with its place.
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let place = format!("ligne {}, colonne {}", e.line(), e.column());
    match e.classify() {
        Category::Data => format!(
            "Un champ n'a pas le type attendu ({place}) : les champs sont du texte, les numéros \
             des entiers ; voir /api/v1/openapi.json."
        ),
        Category::Eof => format!("Le JSON est incomplet ({place})."),
        Category::Syntax | Category::Io => format!("Le JSON est mal formé ({place})."),
    }
}
