//! The member area (`/espace-membre`): sign-in by a single-use link mailed through the
//! ledger and bound to the browser that asked; a member's ads (post, preview, edit while
//! waiting, withdraw, extend); the public request to become a member.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

mod ads;
mod signin;

use super::desk::{cookie, hash_token, random_token};
use super::{AppState, ClientIp, Policy, WebError};
use crate::audience::{Scope, MEMBER_LINK_MINUTES};
use crate::domain::ad::{self, AdDraft, AdInput, FieldError};
use crate::domain::{self, AdCategory, EmailAddress};
use crate::render::french_date;
use crate::store::{AdActor, AdChange, AdRow, LoginRefusal, MemberSession, NewMember};

const SESSION_COOKIE: &str = "relais_membre";
/// The random value kept by the browser that asked for a link; the link works only there.
const ASK_COOKIE: &str = "relais_membre_demande";
const SESSION_HOURS: i64 = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/espace-membre", get(ads::area))
        .route(
            "/espace-membre/connexion",
            get(signin::ask_page).post(signin::ask),
        )
        .route(
            "/espace-membre/entrer/{token}",
            get(signin::enter_page).post(signin::enter),
        )
        .route("/espace-membre/deconnexion", post(signin::logout))
        .route(
            "/espace-membre/adhesion",
            get(signin::join_page).post(signin::join),
        )
        .route(
            "/espace-membre/annonces/nouvelle",
            get(ads::new_ad_page).post(ads::new_ad),
        )
        .route(
            "/espace-membre/annonces/{id}",
            get(ads::ad_page).post(ads::edit_ad),
        )
        .route("/espace-membre/annonces/{id}/retirer", post(ads::withdraw))
        .route("/espace-membre/annonces/{id}/prolonger", post(ads::extend))
        .route(
            "/espace-membre/prolonger/{token}",
            get(ads::extend_link_page).post(ads::extend_link),
        )
        .route("/espace-membre/apercu", get(ads::preview))
}

/// A signed-in member; pages that take one send others to the sign-in form.
pub struct Member {
    session: MemberSession,
    token_hash: String,
}

impl Member {
    fn actor(&self) -> AdActor {
        AdActor::Member {
            member_id: self.session.member_id,
            person_id: self.session.person_id,
        }
    }

    fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        use subtle::ConstantTimeEq;
        if bool::from(self.session.csrf_token.as_bytes().ct_eq(sent.as_bytes())) {
            Ok(())
        } else {
            Err(WebError::BadRequest(
                "Ce formulaire a expiré : rechargez la page et recommencez.".into(),
            ))
        }
    }

    fn chrome(&self) -> serde_json::Value {
        serde_json::json!({
            "org": self.session.org_name,
            "email": self.session.email,
            "csrf": self.session.csrf_token,
        })
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/espace-membre/connexion").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let token_hash = hash_token(&token);
        match app.store.member_session(&token_hash).await {
            Ok(Some(session)) => Ok(Member {
                session,
                token_hash,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

fn secure(app: &AppState) -> &'static str {
    if app.config.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

fn page(
    app: &AppState,
    template: &str,
    title: &str,
    data: &serde_json::Value,
) -> Result<String, WebError> {
    Ok(app.pages.render(template, title, data)?)
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

// ---- The member's ads -----------------------------------------------------------------------

pub(super) fn college_label(code: &str) -> &'static str {
    match code {
        "collectivite" => "Collectivité territoriale",
        "entreprise" => "Entreprise",
        "association" => "Association",
        "recherche" => "Recherche et enseignement",
        "etablissement-public" => "Établissement public",
        _ => "Autre",
    }
}

/// The category's name for one ad (the newsletter's headings are plural).
pub(super) fn category_label(code: &str) -> &'static str {
    match AdCategory::parse(code) {
        Some(AdCategory::DonMateriel) => "Don de matériel",
        Some(AdCategory::RechercheMateriel) => "Recherche de matériel",
        Some(AdCategory::TransportPartage) => "Transport partagé",
        Some(AdCategory::MissionVolontariat) => "Mission de volontariat",
        Some(AdCategory::RecherchePartenaires) => "Recherche de partenaires",
        Some(AdCategory::Evenement) => "Événement",
        Some(AdCategory::Autre) | None => "Autre",
    }
}

/// Where an ad stands, in the member's words.
pub(super) fn state_label(ad: &AdRow) -> String {
    match ad.state.as_str() {
        "pending" => "En attente de validation".into(),
        "approved" => format!(
            "Publiée jusqu'au {} — elle paraît sur le site et dans les prochains numéros des Échos du Réseau",
            french_date(ad.expires_on)
        ),
        "rejected" => "Refusée".into(),
        "withdrawn" => "Retirée".into(),
        _ => format!("Échue le {}", french_date(ad.expires_on)),
    }
}

pub(super) fn departement_options(chosen: &str) -> Vec<serde_json::Value> {
    domain::DEPARTEMENTS
        .iter()
        .map(|d| {
            serde_json::json!({
                "value": d, "label": domain::departement_label(d), "selected": *d == chosen,
            })
        })
        .collect()
}

/// Every field's refusal, `null` where there is none (templates are strict: a key they name
/// must exist).
pub(super) fn errors_by_field(errors: &[FieldError]) -> serde_json::Value {
    const FIELDS: &[&str] = &[
        "category",
        "title",
        "body",
        "departement",
        "country",
        "contact_email",
        "contact_phone",
        "expires_on",
        "org_name",
        "contact_name",
        "email",
        "college",
        "reason",
    ];
    let mut map: serde_json::Map<String, serde_json::Value> = FIELDS
        .iter()
        .map(|f| (f.to_string(), serde_json::Value::Null))
        .collect();
    for e in errors {
        if !map[e.field].is_null() {
            continue;
        }
        map.insert(e.field.into(), serde_json::Value::String(e.message.clone()));
    }
    serde_json::Value::Object(map)
}

/// The ad form as posted: the fields of [`AdInput`], the two « show » boxes and the button.
#[derive(Deserialize, Default, Clone)]
pub(super) struct AdForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub departement: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub show_email: Option<String>,
    #[serde(default)]
    pub contact_email: String,
    #[serde(default)]
    pub show_phone: Option<String>,
    #[serde(default)]
    pub contact_phone: String,
    #[serde(default)]
    pub expires_on: String,
    /// `apercu` or `envoyer`.
    #[serde(default)]
    pub action: String,
}

impl AdForm {
    pub(super) fn input(&self) -> AdInput {
        AdInput {
            category: self.category.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            departement: self.departement.clone(),
            country: Some(self.country.clone()),
            contact_email: self
                .show_email
                .is_some()
                .then(|| self.contact_email.clone()),
            contact_phone: self
                .show_phone
                .is_some()
                .then(|| self.contact_phone.clone()),
            expires_on: Some(self.expires_on.clone()),
        }
    }

    pub(super) fn from_ad(ad: &AdRow) -> Self {
        Self {
            category: ad.category.clone(),
            title: ad.title.clone(),
            body: ad.body.clone(),
            departement: ad.departement.clone().unwrap_or_default(),
            country: ad.country.clone().unwrap_or_default(),
            show_email: ad.contact_email.as_ref().map(|_| "oui".into()),
            contact_email: ad.contact_email.clone().unwrap_or_default(),
            show_phone: ad.contact_phone.as_ref().map(|_| "oui".into()),
            contact_phone: ad.contact_phone.clone().unwrap_or_default(),
            expires_on: ad.expires_on.to_string(),
            ..Self::default()
        }
    }

    /// The preview's address: the same fields as a query string.
    fn preview_query(&self) -> String {
        let input = self.input();
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("category", &input.category)
            .append_pair("title", &input.title)
            .append_pair("body", &input.body)
            .append_pair("departement", &input.departement)
            .append_pair("country", input.country.as_deref().unwrap_or(""))
            .append_pair(
                "contact_email",
                input.contact_email.as_deref().unwrap_or(""),
            )
            .append_pair(
                "contact_phone",
                input.contact_phone.as_deref().unwrap_or(""),
            )
            .append_pair("expires_on", input.expires_on.as_deref().unwrap_or(""));
        q.finish()
    }
}

/// The form's data: the fields as typed, the lists, the errors next to their fields.
pub(super) fn ad_form_view(
    form: &AdForm,
    errors: &[FieldError],
    today: chrono::NaiveDate,
) -> serde_json::Value {
    serde_json::json!({
        "category": form.category,
        "categories": AdCategory::ALL.iter().map(|c| serde_json::json!({
            "value": c.as_str(), "label": category_label(c.as_str()), "selected": c.as_str() == form.category,
        })).collect::<Vec<_>>(),
        "title": form.title,
        "body": form.body,
        "departements": departement_options(&form.departement),
        "countries": domain::COUNTRIES.iter().map(|(code, name)| serde_json::json!({
            "value": code, "label": name, "selected": *code == form.country,
        })).collect::<Vec<_>>(),
        "show_email": form.show_email.is_some(),
        "contact_email": form.contact_email,
        "show_phone": form.show_phone.is_some(),
        "contact_phone": form.contact_phone,
        "expires_on": if form.expires_on.is_empty() {
            (today + chrono::Duration::days(ad::DEFAULT_DAYS)).to_string()
        } else {
            form.expires_on.clone()
        },
        "min_date": (today + chrono::Duration::days(1)).to_string(),
        "max_date": (today + chrono::Duration::days(ad::MAX_DAYS)).to_string(),
        "max_title": ad::MAX_TITLE_CHARS,
        "max_body": ad::MAX_BODY_CHARS,
        "errors": errors_by_field(errors),
        "error_list": errors,
    })
}

pub(super) fn event_label(action: &str) -> &'static str {
    match action {
        "submitted" => "Envoyée pour validation",
        "edited" => "Modifiée",
        "approved" => "Validée par la rédaction",
        "rejected" => "Refusée par la rédaction",
        "withdrawn" => "Retirée",
        "extended" => "Prolongée",
        _ => "Échue",
    }
}
