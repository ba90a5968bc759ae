//! The JSON API under `/api/v1`, for members' scripts and staff tools: bearer tokens made by
//! `relais token create`, a rate limit per token, JSON in and out, errors in French. Its
//! OpenAPI 3.1 description (`/api/v1/openapi.json`) is built from the handlers' own
//! annotations and types as the router registers them, so the two cannot drift apart.

mod ads;
mod caller;
mod desk;
mod error;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use caller::Caller;
pub use error::{json_errors, ApiError};

use super::AppState;

pub const PREFIX: &str = "/api/v1";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "relais",
        description = "L'API JSON de relais : les annonces des membres, leur modération, la veille et les numéros. \
            Chaque demande porte l'en-tête « Authorization: Bearer JETON » (relais token create).",
    ),
    security(("bearer" = [])),
    components(schemas(error::ApiErrorBody, error::InvalidBody)),
    tags(
        (name = "annonces", description = "Les annonces d'un membre (jeton de membre)"),
        (name = "modération", description = "La file des annonces (jeton de la rédaction)"),
        (name = "veille", description = "Les éléments de veille (jeton de la rédaction)"),
        (name = "numéros", description = "Composer les numéros (jeton de la rédaction)"),
    )
)]
struct ApiDoc;

/// The API's routes and, at `/api/v1/openapi.json`, their description.
pub fn router() -> Router<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(ads::list_ads, ads::create_ad))
        .routes(routes!(ads::my_ads))
        .routes(routes!(ads::show_ad, ads::edit_ad))
        .routes(routes!(ads::withdraw_ad))
        .routes(routes!(ads::extend_ad))
        .routes(routes!(ads::approve_ad))
        .routes(routes!(ads::reject_ad))
        .routes(routes!(desk::items))
        .routes(routes!(desk::create_issue))
        .routes(routes!(desk::add_entry));
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(PREFIX, routes)
        .split_for_parts();
    describe_common_answers(&mut doc);
    router.route(
        &format!("{PREFIX}/openapi.json"),
        get(move || {
            let doc = doc.clone();
            async move { Json(doc) }
        }),
    )
}

/// The answers every route may give, because every handler takes a `Caller` (401, 429), every
/// body goes through `ApiJson` (400, 413, 415) and a path or query parameter may not parse
/// (400); 500 stays undocumented.
fn describe_common_answers(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("Un jeton créé par « relais token create »."))
                .build(),
        ),
    );
    let error = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            let mut add = |status: &str, response: ResponseBuilder| {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(response.build()));
            };
            add(
                "401",
                error("Jeton manquant, inconnu ou révoqué")
                    .header("WWW-Authenticate", Default::default()),
            );
            add(
                "429",
                error("Trop de demandes avec ce jeton ; Retry-After dit dans combien de secondes")
                    .header("Retry-After", Default::default()),
            );
            let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if operation.request_body.is_some() || has_parameters {
                add(
                    "400",
                    error("Demande illisible : JSON mal formé ou pas en UTF-8, ou paramètre qui n'a pas le type attendu"),
                );
            }
            if operation.request_body.is_some() {
                add(
                    "413",
                    error("Corps de la demande trop volumineux (64 Kio au plus)"),
                );
                add("415", error("Content-Type autre que application/json"));
            }
        }
    }
}
