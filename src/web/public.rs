//! Public pages: the subscribe form, confirmation, one-click unsubscribe, issues on the web.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use super::pages::Action;
use super::{AppState, ClientIp, WebError};
use crate::audience::{self, Scope};
use crate::domain::{self, KNOWN_NEWSLETTERS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/confidentialite", get(privacy))
        .route("/subscribe", post(subscribe))
        .route("/confirmer/{token}", get(confirm_page).post(confirm))
        .route(
            "/desinscription/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .merge(super::preferences::router())
}

#[derive(Serialize)]
pub(super) struct Choice {
    value: String,
    label: String,
    checked: bool,
}

pub(super) fn theme_label(slug: &str) -> String {
    match slug {
        "sante" => "Santé",
        "eau-assainissement" => "Eau et assainissement",
        "education-citoyennete" => "Éducation à la citoyenneté (ECSI)",
        "jeunesse-volontariat" => "Jeunesse et volontariat",
        "formation" => "Formation",
        "financement" => "Financements",
        "migrations-accueil" => "Migrations et accueil",
        "agriculture" => "Agriculture",
        "economie-mecenat" => "Économie et mécénat",
        "urgence" => "Urgence",
        other => other,
    }
    .to_string()
}

pub(super) fn college_label(slug: &str) -> String {
    match slug {
        "collectivite" => "Collectivité territoriale",
        "entreprise" => "Entreprise",
        "association" => "Association",
        "recherche" => "Recherche et enseignement",
        "etablissement-public" => "Établissement public",
        other => other,
    }
    .to_string()
}

/// The interest fields shared by the subscribe form and the preferences centre, with the
/// person's current choices ticked.
pub(super) fn interest_fields(
    themes: &[String],
    countries: &[String],
    departements: &[String],
    college: Option<&str>,
) -> serde_json::Value {
    let choices = |values: &[&str],
                   label: fn(&str) -> String,
                   chosen: &dyn Fn(&str) -> bool|
     -> Vec<Choice> {
        values
            .iter()
            .map(|v| Choice {
                value: v.to_string(),
                label: label(v),
                checked: chosen(v),
            })
            .collect()
    };
    serde_json::json!({
        "themes": choices(domain::THEMES, theme_label, &|v| themes.iter().any(|t| t == v)),
        "countries": domain::COUNTRIES
            .iter()
            .map(|(code, name)| Choice {
                value: code.to_string(),
                label: name.to_string(),
                checked: countries.iter().any(|c| c.eq_ignore_ascii_case(code)),
            })
            .collect::<Vec<_>>(),
        "departements": choices(domain::DEPARTEMENTS, domain::departement_label, &|v| departements.iter().any(|d| d == v)),
        "colleges": choices(domain::COLLEGES, college_label, &|v| college == Some(v)),
    })
}

/// Who processes the data, why, how long, and how to exercise one's rights.
async fn privacy(State(app): State<AppState>) -> Result<Html<String>, WebError> {
    let contact = match &app.config.privacy_contact {
        Some(address) => address.clone(),
        None => crate::dispatch::message::parse_mailbox(&app.config.from)
            .map(|m| m.email.to_string())
            .unwrap_or_default(),
    };
    let data = serde_json::json!({
        "org": app.config.organisation,
        "address": app.config.postal_address,
        "contact": contact,
        "ip_days": app.config.consent_ip_retention.as_secs() / 86_400,
    });
    Ok(Html(app.pages.render(
        "privacy",
        "Vos données personnelles",
        &data,
    )?))
}

async fn home(State(app): State<AppState>) -> Result<Html<String>, WebError> {
    Ok(Html(subscribe_form(&app, &[], None)?))
}

/// The subscribe form, filled with what the visitor sent and the reason it was refused, if any.
fn subscribe_form(
    app: &AppState,
    fields: &[(String, String)],
    error: Option<&str>,
) -> Result<String, WebError> {
    let values = |name: &str| {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| audience::request::clean_text(v.trim()))
            .collect::<Vec<_>>()
    };
    let first = |name: &str| values(name).into_iter().next().unwrap_or_default();
    let chosen_titles = values("newsletter");
    let college = first("college");
    // Scripts and old forms may send several codes in one field.
    let countries: Vec<String> = values("country")
        .iter()
        .flat_map(|v| v.split([',', ';', ' ']))
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut data = interest_fields(
        &values("theme"),
        &countries,
        &values("departement"),
        Some(college.as_str()).filter(|c| !c.is_empty()),
    );
    data["newsletters"] = KNOWN_NEWSLETTERS
        .iter()
        .map(|n| {
            let checked = fields.is_empty() || chosen_titles.iter().any(|t| t == n.slug);
            serde_json::json!({ "slug": n.slug, "name": n.name, "tagline": n.tagline, "checked": checked })
        })
        .collect();
    data["email"] = first("email").into();
    data["name"] = first("name").into();
    data["error"] = error.into();
    Ok(app.pages.render("home", "S'abonner", &data)?)
}

async fn subscribe(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let same_answer = || -> Result<Response, WebError> {
        Ok(Html(app.pages.notice(
            "Vérifiez votre boîte de réception",
            &["Si l'adresse indiquée peut recevoir nos lettres, un courriel de confirmation vient de lui être envoyé. Cliquez sur le lien qu'il contient pour confirmer votre abonnement ; il reste valable 7 jours.",
              "Rien reçu ? Regardez dans les indésirables."],
            None,
        )?).into_response())
    };
    // Robots fill the hidden field; they get the same page and nothing happens.
    if fields
        .iter()
        .any(|(k, v)| k == "website" && !v.trim().is_empty())
    {
        return same_answer();
    }
    let request = match audience::form::parse_subscription(&fields) {
        Ok(r) => r,
        // The form again, as the visitor filled it, with the reason on top.
        Err(why) => {
            let page = subscribe_form(
                &app,
                &fields,
                Some(&format!(
                    "Votre demande n'a pas pu être prise en compte : {why}."
                )),
            )?;
            return Ok((axum::http::StatusCode::BAD_REQUEST, Html(page)).into_response());
        }
    };
    if !app.limits.allow_ip(client) {
        return Err(WebError::TooManyRequests);
    }
    // Over the per-address limit, the visitor sees the usual page and nothing is sent.
    let address = request
        .email
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_default();
    if !app.limits.allow_address(&address) {
        return same_answer();
    }
    let ip = client.to_string();
    // The confirmation is queued in the same transaction and sent by the workers: the page
    // never waits on the relay, and answers alike whether the address was new or not.
    let outcome = app
        .store
        .subscribe_from_form(
            &request,
            Some(&ip),
            crate::store::FORM_TEXT_VERSION,
            &app.config.mail_domain(),
        )
        .await?;
    if outcome == crate::store::FormOutcome::ConfirmationQueued {
        app.dispatcher.wake();
    }
    same_answer()
}

/// The claims of a signed link, or the page that says why the link does not work.
pub(super) fn verify(
    app: &AppState,
    scope: Scope,
    token: &str,
) -> Result<crate::audience::Claims, WebError> {
    app.links
        .signer
        .verify(scope, token, chrono::Utc::now())
        .map_err(WebError::BadLink)
}

pub(super) fn notice(
    app: &AppState,
    heading: &str,
    paragraphs: &[&str],
    action: Option<Action>,
) -> Result<Response, WebError> {
    Ok(Html(app.pages.notice(heading, paragraphs, action)?).into_response())
}

/// A GET never changes anything: link scanners and prefetchers follow links.
async fn confirm_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    verify(&app, Scope::Confirm, &token)?;
    let action = Action {
        url: format!("/confirmer/{token}"),
        label: "Confirmer mon abonnement".into(),
    };
    notice(
        &app,
        "Confirmer votre abonnement",
        &["Un dernier clic pour recevoir nos lettres."],
        Some(action),
    )
}

async fn confirm(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let claims = verify(&app, Scope::Confirm, &token)?;
    // Signed but no longer standing: a newer link was sent, or the person was erased.
    let Some(_) = app
        .store
        .confirm_subscriber(&claims.key, audience::CONFIRMATION_VALIDITY)
        .await?
    else {
        return Err(WebError::BadLink(audience::TokenError::Expired));
    };
    notice(
        &app,
        "Abonnement confirmé",
        &["Merci ! Vous recevrez nos prochaines lettres."],
        None,
    )
}

async fn unsubscribe_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    verify(&app, Scope::Unsubscribe, &token)?;
    let action = Action {
        url: format!("/desinscription/{token}"),
        label: "Me désabonner".into(),
    };
    notice(
        &app,
        "Se désabonner",
        &["Vous ne recevrez plus cette lettre. Confirmez en cliquant sur le bouton."],
        Some(action),
    )
}

/// RFC 8058 one-click: 200 with no redirect and no cookie, idempotent, effective at once.
/// The body (`List-Unsubscribe=One-Click`, or a browser's empty form) is not needed: the
/// signed token is the whole authorisation.
async fn unsubscribe(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let claims = verify(&app, Scope::Unsubscribe, &token)?;
    let subscriber_id = match claims.legacy_id() {
        Some(id) => Some(id),
        None => app.store.subscriber_by_key(&claims.key).await?.map(|s| s.0),
    };
    // A link whose person is gone has nothing left to stop: same answer, still idempotent.
    if let Some(id) = subscriber_id {
        app.store
            .unsubscribe(id, claims.newsletter_id, "one-click")
            .await?;
    }
    notice(
        &app,
        "Vous êtes désabonné·e",
        &["Votre désabonnement est pris en compte immédiatement."],
        None,
    )
}
