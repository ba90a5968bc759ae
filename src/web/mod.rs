//! HTTP: public pages, one-click unsubscribe, the archive and its feeds, the editors' desk,
//! health and metrics. Handlers are thin: they parse
//! the request, call a stage or the store, and render a page. No SQL here.

mod api;
mod archive;
mod board;
mod client_ip;
mod composer;
mod control;
mod desk;
mod headers;
mod health;
mod inbox;
mod limits;
mod members;
mod moderation;
mod pages;
mod people;
mod preferences;
mod public;
mod sources;
mod staff;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::App;
pub use client_ip::{client_ip, ClientIp};
pub use headers::Policy;
pub use limits::Limits;
pub use pages::Pages;

pub type AppState = Arc<App>;

/// The whole site. Every answer, whichever layer or extractor wrote it, leaves through
/// `error_pages` (an error is a French page) and then `headers::secure`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/static/site.css", get(stylesheet))
        .route("/static/desk.js", get(desk_script))
        .merge(public::router())
        .merge(archive::router())
        .merge(board::router())
        .merge(desk::router())
        .merge(inbox::router())
        .merge(composer::router())
        .merge(control::router())
        .merge(staff::router())
        .merge(sources::router())
        .merge(people::router())
        .merge(members::router())
        .merge(moderation::router())
        .merge(api::router())
        .fallback(not_found)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(middleware::from_fn(error_pages))
        .layer(middleware::from_fn(headers::secure))
        // One span per request (method, route, status, latency at debug level). The route's
        // pattern, never the path itself: paths carry personal tokens.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| "(aucune route)".into());
                tracing::info_span!("request", method = %request.method(), route)
            }),
        )
        .with_state(app)
}

/// A form page answers 422 when it shows a refusal, 200 otherwise.
pub(crate) fn form_status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

async fn not_found() -> WebError {
    WebError::NotFound
}

/// The pages' stylesheet: a file, so that no page needs inline styles.
async fn stylesheet(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        app.pages.stylesheet().to_string(),
    )
        .into_response()
}

/// The desk's script: a file, so that the Content-Security-Policy allows no inline script.
async fn desk_script(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        app.pages.desk_script().to_string(),
    )
        .into_response()
}

/// Error answers that no handler wrote as a page (axum's extractor rejections in English
/// plain text, unknown methods, the body limit) become the French error page, same status
/// and headers; under `/api/v1`, French JSON. Their own text only goes to the log.
async fn error_pages(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with(api::PREFIX);
    let response = next.run(request).await;
    let status = response.status();
    if is_api {
        return api::json_errors(response, status_text(status).1);
    }
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || is_page {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(text) => tracing::debug!(
            status = status.as_u16(),
            "answered with the error page: {}",
            String::from_utf8_lossy(&text)
        ),
        Err(e) => tracing::debug!(
            status = status.as_u16(),
            "answered with the error page ({e})"
        ),
    }
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let (heading, text) = status_text(status);
    let page = error_page(status, heading, text);
    let (page_parts, page_body) = page.into_parts();
    parts.headers.extend(page_parts.headers);
    Response::from_parts(parts, page_body)
}

/// What the error page says for a status no handler explained.
fn status_text(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("Page introuvable", "Cette page n'existe pas ou plus."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Demande incorrecte",
            "Cette adresse ne s'utilise pas ainsi : revenez à la page précédente et utilisez ses liens et boutons.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Demande trop volumineuse",
            "Ce que vous avez envoyé dépasse la taille permise.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "Format non pris en charge",
            "Ce formulaire n'a pas été envoyé dans le format attendu. Rechargez la page et recommencez.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "Service indisponible",
            "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
        ),
        s if s.is_server_error() => (
            "Erreur",
            "Une erreur est survenue de notre côté. Réessayez plus tard.",
        ),
        _ => (
            "Demande incorrecte",
            "Cette demande est incomplète ou mal formée. Rechargez la page et recommencez.",
        ),
    }
}

/// The error page: a heading and one paragraph, in French, linking home.
fn error_page(status: StatusCode, heading: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{heading}</title><link rel=\"stylesheet\" href=\"/static/site.css\"></head>\
         <body><main><h1>{heading}</h1><p>{}</p><p><a href=\"/\">Retour à l'accueil</a></p></main></body></html>",
        html_escape::encode_text(text)
    );
    (status, Html(body)).into_response()
}

/// Errors shown to visitors: a page in French, never internals. 5xx are logged with their
/// cause. Conversions are explicit: a store's "not found" is a 404 and a unique constraint a
/// 409, anything else from below is internal.
#[derive(Debug)]
pub enum WebError {
    NotFound,
    /// Signed in, but the role does not allow it.
    Forbidden,
    /// The request cannot be served as sent; the text says which field and why, in French.
    BadRequest(String),
    /// A unique constraint refused the write; the text says what already exists.
    Conflict(String),
    TooManyRequests,
    /// A signed link that is tampered with, cut or expired.
    BadLink(crate::audience::TokenError),
    Internal(anyhow::Error),
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => WebError::NotFound,
            StoreError::Conflict(constraint) => WebError::Conflict(conflict_text(&constraint)),
            other => WebError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<crate::store::StoreError>() {
            Ok(store) => store.into(),
            Err(e) => WebError::Internal(e),
        }
    }
}

impl From<crate::render::RenderError> for WebError {
    fn from(e: crate::render::RenderError) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<handlebars::RenderError> for WebError {
    fn from(e: handlebars::RenderError) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<tokio::task::JoinError> for WebError {
    fn from(e: tokio::task::JoinError) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<serde_json::Error> for WebError {
    fn from(e: serde_json::Error) -> Self {
        WebError::Internal(e.into())
    }
}

/// What already exists, by the name of the constraint that said so (the same names on both
/// databases).
fn conflict_text(constraint: &str) -> String {
    match constraint {
        c if c.starts_with("users_") => "Un compte existe déjà pour cette adresse.",
        c if c.starts_with("segments_") => "Un segment porte déjà ce nom.",
        c if c.starts_with("issue_entries_") => "Cette entrée figure déjà dans ce numéro.",
        crate::store::FROZEN => "Ce numéro est parti ou en cours d'envoi : il ne change plus.",
        c if c.starts_with("subscribers_") => "Cette adresse est déjà inscrite.",
        _ => "Cet élément existe déjà.",
    }
    .to_string()
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page introuvable",
                "Cette page n'existe pas ou plus.".to_string(),
            ),
            WebError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Demande incorrecte", why),
            WebError::Conflict(what) => (StatusCode::CONFLICT, "Déjà enregistré", what),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Accès réservé",
                "Cette page est réservée à l'administration de la rédaction.".to_string(),
            ),
            WebError::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "Trop de demandes",
                "Trop de demandes depuis votre connexion. Réessayez dans une heure.".to_string(),
            ),
            WebError::BadLink(crate::audience::TokenError::Expired) => (
                StatusCode::BAD_REQUEST,
                "Lien non valide",
                "Ce lien a expiré. Vous pouvez refaire votre demande depuis la page d'accueil.".to_string(),
            ),
            WebError::BadLink(crate::audience::TokenError::Invalid) => (
                StatusCode::BAD_REQUEST,
                "Lien non valide",
                "Ce lien n'est pas valide : il a peut-être été coupé ou modifié. Copiez-le en entier depuis le courriel reçu.".to_string(),
            ),
            WebError::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Erreur",
                    "Une erreur est survenue de notre côté. Réessayez plus tard.".to_string(),
                )
            }
        };
        error_page(status, heading, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    async fn answer(e: WebError) -> (StatusCode, String) {
        let response = e.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn store_errors_keep_their_meaning_and_internals_stay_hidden() {
        let (status, _) = answer(StoreError::NotFound.into()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let wrapped = anyhow::Error::from(StoreError::NotFound).context("loading the issue");
        assert_eq!(answer(wrapped.into()).await.0, StatusCode::NOT_FOUND);
        let (status, page) = answer(StoreError::Conflict("users_email_key".into()).into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(page.contains("Un compte existe déjà"), "{page}");
        let secret = StoreError::Database(sqlx::Error::Protocol(
            "relation \"subscribers\" password=hunter2".into(),
        ));
        let (status, page) = answer(secret.into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !page.contains("hunter2") && !page.contains("subscribers"),
            "{page}"
        );
        assert!(page.contains("Une erreur est survenue"), "{page}");
    }
}
