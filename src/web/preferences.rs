//! The preferences centre, reached by the signed link in every message: titles and
//! interests, unsubscribe from everything, download or erase one's data.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::pages::Action;
use super::public::{interest_fields, notice, verify};
use super::{AppState, ClientIp, WebError};
use crate::audience::{self, Scope};
use crate::domain::KNOWN_NEWSLETTERS;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/preferences/{token}", get(show).post(save))
        .route("/preferences/{token}/donnees", get(download))
        .route("/preferences/{token}/effacer", get(erase_page).post(erase))
}

async fn page(
    app: &AppState,
    token: &str,
    subscriber_id: i64,
    saved: Option<&str>,
) -> Result<Response, WebError> {
    let Some(person) = app
        .store
        .export_subscribers(Some(subscriber_id))
        .await?
        .pop()
    else {
        return gone(app);
    };
    let statuses = app.store.subscription_statuses(subscriber_id).await?;
    let status_of = |slug: &str| {
        statuses
            .iter()
            .find(|(s, _)| s == slug)
            .map(|(_, st)| st.as_str())
    };
    let mut data = interest_fields(
        &person.themes,
        &person.countries,
        &person.departements,
        person.college.as_deref(),
    );
    data["newsletters"] = KNOWN_NEWSLETTERS
        .iter()
        .map(|n| {
            serde_json::json!({
                "value": n.slug,
                "label": n.name,
                "checked": matches!(status_of(n.slug), Some("active") | Some("pending")),
                "pending": status_of(n.slug) == Some("pending"),
            })
        })
        .collect();
    data["email"] = person.email.into();
    data["name"] = person.name.into();
    data["action"] = format!("/preferences/{token}").into();
    data["saved"] = saved.into();
    Ok(Html(app.pages.render("preferences", "Vos préférences", &data)?).into_response())
}

/// The subscriber a preferences link names: (id, address), or `None` when nobody holds its
/// key any more (erased, or came back and was given new links).
async fn person(app: &AppState, token: &str) -> Result<Option<(i64, String)>, WebError> {
    let claims = verify(app, Scope::Preferences, token)?;
    Ok(app.store.subscriber_by_key(&claims.key).await?)
}

fn gone(app: &AppState) -> Result<Response, WebError> {
    notice(
        app,
        "Aucune donnée",
        &["Nous n'avons plus aucune donnée liée à ce lien."],
        None,
    )
}

async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let Some((id, _)) = person(&app, &token).await? else {
        return gone(&app);
    };
    page(&app, &token, id, None).await
}

async fn save(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some((subscriber_id, email)) = person(&app, &token).await? else {
        return gone(&app);
    };
    let everything_off = audience::form::leaves_everything(&fields);
    let current = match everything_off {
        true => app
            .store
            .export_subscribers(Some(subscriber_id))
            .await?
            .pop(),
        false => None,
    };
    let wanted =
        audience::form::preferences_request(&fields, &email, current.as_ref()).map_err(|why| {
            WebError::BadRequest(format!("Vos choix n'ont pas pu être enregistrés : {why}."))
        })?;
    let ip = client.to_string();
    let change = app
        .store
        .update_preferences(subscriber_id, &wanted, Some(&ip))
        .await?;
    let message = if !change.pending.is_empty() {
        // The same per-address limit as the subscribe form: this form sends mail too.
        if app.limits.allow_address(&email) {
            app.store
                .queue_confirmation(subscriber_id, &app.config.mail_domain())
                .await?;
            app.dispatcher.wake();
            "Vos choix sont enregistrés. Pour recevoir à nouveau une lettre quittée, confirmez votre adresse par le lien que nous venons de vous envoyer."
        } else {
            "Vos choix sont enregistrés. Nous vous avons déjà envoyé plusieurs liens de confirmation aujourd'hui : utilisez le plus récent, ou réessayez demain."
        }
    } else if everything_off {
        "Vous êtes désabonné·e de toutes nos lettres."
    } else {
        "Vos choix sont enregistrés."
    };
    page(&app, &token, subscriber_id, Some(message)).await
}

/// Everything we hold about the person, as a JSON file (a GET that changes nothing).
async fn download(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let Some((id, _)) = person(&app, &token).await? else {
        return gone(&app);
    };
    let Some(person) = app.store.export_subscribers(Some(id)).await?.pop() else {
        return gone(&app);
    };
    let body = serde_json::to_string_pretty(&person)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"mes-donnees-occitanie-cooperation.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

async fn erase_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    verify(&app, Scope::Preferences, &token)?;
    let action = Action {
        url: format!("/preferences/{token}/effacer"),
        label: "Effacer définitivement mes données".into(),
    };
    notice(
        &app,
        "Effacer vos données",
        &[
            "Votre adresse, votre nom, vos choix et vos abonnements seront supprimés. Nous ne gardons qu'une empreinte chiffrée de l'adresse, pour qu'un import de fichier ne vous réinscrive pas à votre insu.",
            "Vous pourrez toujours vous réabonner vous-même plus tard.",
        ],
        Some(action),
    )
}

async fn erase(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if let Some((id, _)) = person(&app, &token).await? {
        app.store.erase_subscriber(id).await?;
    }
    notice(
        &app,
        "Données effacées",
        &["Vos données ont été effacées. Vous ne recevrez plus rien de notre part."],
        None,
    )
}
