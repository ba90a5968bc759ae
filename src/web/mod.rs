//! HTTP: public pages, one-click unsubscribe, the archive and its feeds, the editors' desk,
//! health and metrics. Handlers are thin: they parse
//! the request, call a stage or the store, and render a page. No SQL here.

mod archive;
mod desk;
mod limits;
mod pages;
mod preferences;
mod public;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::App;
pub use limits::Limits;
pub use pages::Pages;

pub type AppState = Arc<App>;

/// The whole site.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(public::router())
        .merge(archive::router())
        .merge(desk::router())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .with_state(app)
}

async fn healthz(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!("health check: database does not answer: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn metrics() -> Response {
    let leader = crate::schedule::IS_LEADER.load(std::sync::atomic::Ordering::SeqCst) as u8;
    let body = format!(
        "# HELP relais_scheduler_leader 1 when this process runs the schedule.\n\
         # TYPE relais_scheduler_leader gauge\nrelais_scheduler_leader {leader}\n"
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

/// Errors shown to visitors: a page in French, never internals. 5xx are logged.
#[derive(Debug)]
pub enum WebError {
    NotFound,
    BadRequest(String),
    TooManyRequests,
    /// A signed link that is tampered with, cut or expired.
    BadLink(crate::audience::TokenError),
    Internal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for WebError {
    fn from(e: E) -> Self {
        WebError::Internal(e.into())
    }
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
        let body = format!(
            "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{heading}</title></head>\
             <body><main><h1>{heading}</h1><p>{}</p><p><a href=\"/\">Retour à l'accueil</a></p></main></body></html>",
            html_escape::encode_text(&text)
        );
        (status, Html(body)).into_response()
    }
}
