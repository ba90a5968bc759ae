//! Signing in by a mailed link, signing out, and asking to become a member.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::*;

// ---- Sign-in ----------------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct AskForm {
    email: String,
}

pub(super) async fn ask_page(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if app
            .store
            .member_session(&hash_token(&token))
            .await?
            .is_some()
        {
            return Ok(Redirect::to("/espace-membre").into_response());
        }
    }
    let html = page(
        &app,
        "member-ask",
        "Espace membre",
        &serde_json::json!({ "email": "", "error": null, "minutes": MEMBER_LINK_MINUTES }),
    )?;
    Ok(Html(html).into_response())
}

/// Mails a sign-in link when the address is a member's. The answer is the same whether it
/// is or not; only the browser that asked can use the link.
pub(super) async fn ask(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Form(form): Form<AskForm>,
) -> Result<Response, WebError> {
    let Ok(email) = EmailAddress::parse(&form.email) else {
        let html = page(
            &app,
            "member-ask",
            "Espace membre",
            &serde_json::json!({
                "email": form.email.trim(),
                "error": "Cette adresse n'est pas valide : vérifiez-la.",
                "minutes": MEMBER_LINK_MINUTES,
            }),
        )?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    };
    if !app.limits.allow_ip(client) || !app.limits.allow_member_link(email.as_str()) {
        return Err(WebError::TooManyRequests);
    }
    let browser = random_token();
    if let Some(person) = app.store.person_by_email(email.as_str()).await? {
        if person.member_state == "active" {
            app.store
                .create_member_login(
                    person.id,
                    email.as_str(),
                    &hash_token(&browser),
                    chrono::Duration::minutes(i64::from(MEMBER_LINK_MINUTES)),
                    &app.config.mail_domain(),
                )
                .await?;
            app.dispatcher.wake();
        }
    }
    let cookie = format!(
        "{ASK_COOKIE}={browser}; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age={}{}",
        MEMBER_LINK_MINUTES * 60,
        secure(&app)
    );
    let html = page(
        &app,
        "member-sent",
        "Vérifiez votre messagerie",
        &serde_json::json!({ "email": email.as_str(), "minutes": MEMBER_LINK_MINUTES }),
    )?;
    Ok(([(header::SET_COOKIE, cookie)], Html(html)).into_response())
}

/// The link's row and nonce, if its signature holds and it has not expired.
fn read_link(app: &AppState, token: &str) -> Result<(i64, String), WebError> {
    let claims = app
        .links
        .signer
        .verify(Scope::MemberLogin, token, chrono::Utc::now())
        .map_err(|e| {
            // Tampered or expired: the member is told the same (ask for a new link).
            tracing::debug!("member sign-in link refused: {e}");
            spent_link()
        })?;
    Ok((claims.newsletter_id, claims.key))
}

fn spent_link() -> WebError {
    WebError::BadRequest(
        "Ce lien de connexion a déjà servi, a été remplacé par un plus récent ou a expiré (il vaut 15 minutes). \
         Demandez-en un nouveau depuis la page « Espace membre »."
            .into(),
    )
}

/// A page with one button: mail scanners that open links must not spend a single-use link.
pub(super) async fn enter_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    read_link(&app, &token)?;
    let html = page(
        &app,
        "member-enter",
        "Entrer dans l'espace membre",
        &serde_json::json!({ "token": token }),
    )?;
    Ok(Html(html).into_response())
}

pub(super) async fn enter(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (id, nonce) = read_link(&app, &token)?;
    let browser = cookie(&headers, ASK_COOKIE).map(|b| hash_token(&b));
    let person = match app
        .store
        .use_member_login(id, &nonce, browser.as_deref())
        .await?
    {
        Ok(person) => person,
        Err(LoginRefusal::Spent) => return Err(spent_link()),
        Err(LoginRefusal::OtherBrowser) => {
            return Err(WebError::BadRequest(
                "Ce lien ne s'ouvre que dans le navigateur où vous l'avez demandé. \
                 Ouvrez-le là, ou demandez un nouveau lien depuis ce navigateur-ci (page « Espace membre »)."
                    .into(),
            ))
        }
    };
    let token = random_token();
    app.store
        .create_member_session(
            person,
            &hash_token(&token),
            &random_token(),
            chrono::Duration::hours(SESSION_HOURS),
        )
        .await?;
    let secure = secure(&app);
    let session = format!(
        "{SESSION_COOKIE}={token}; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    );
    let spent = format!("{ASK_COOKIE}=; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age=0");
    let mut response = Redirect::to("/espace-membre").into_response();
    for c in [session, spent] {
        response.headers_mut().append(
            header::SET_COOKIE,
            c.parse()
                .map_err(|e: header::InvalidHeaderValue| WebError::Internal(e.into()))?,
        );
    }
    Ok(response)
}

pub(super) async fn logout(
    State(app): State<AppState>,
    member: Member,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf)?;
    app.store.end_member_session(&member.token_hash).await?;
    let expired =
        format!("{SESSION_COOKIE}=; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((
        [(header::SET_COOKIE, expired)],
        Redirect::to("/espace-membre/connexion"),
    )
        .into_response())
}

// ---- Becoming a member --------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub(super) struct JoinForm {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    college: String,
    #[serde(default)]
    departement: String,
    /// A honeypot: people leave it empty.
    #[serde(default)]
    website: String,
}

fn join_view(form: &JoinForm, errors: &[FieldError]) -> serde_json::Value {
    serde_json::json!({
        "org_name": form.org_name.trim(),
        "contact_name": form.contact_name.trim(),
        "email": form.email.trim(),
        "colleges": domain::COLLEGES.iter().map(|c| serde_json::json!({
            "value": c, "label": college_label(c), "selected": *c == form.college,
        })).collect::<Vec<_>>(),
        "departements": departement_options(&form.departement),
        "errors": errors_by_field(errors),
        "error_list": errors,
    })
}

pub(super) async fn join_page(State(app): State<AppState>) -> Result<Response, WebError> {
    let html = page(
        &app,
        "member-join",
        "Devenir membre",
        &join_view(&JoinForm::default(), &[]),
    )?;
    Ok(Html(html).into_response())
}

pub(super) async fn join(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Form(form): Form<JoinForm>,
) -> Result<Response, WebError> {
    if !app.limits.allow_ip(client) {
        return Err(WebError::TooManyRequests);
    }
    let mut errors = Vec::new();
    let mut refuse = |field: &'static str, message: &str| {
        errors.push(FieldError {
            field,
            message: message.into(),
        })
    };
    let org_name = crate::render::printable_line(form.org_name.trim());
    if org_name.is_empty() || org_name.chars().count() > 200 {
        refuse(
            "org_name",
            "Indiquez le nom de votre structure (200 caractères au plus).",
        );
    }
    let contact_name = crate::render::printable_line(form.contact_name.trim());
    if contact_name.is_empty() || contact_name.chars().count() > 200 {
        refuse(
            "contact_name",
            "Indiquez le nom de la personne à contacter.",
        );
    }
    let email = EmailAddress::parse(&form.email);
    if email.is_err() {
        refuse("email", "Cette adresse n'est pas valide : vérifiez-la.");
    }
    if !domain::COLLEGES.contains(&form.college.as_str()) {
        refuse(
            "college",
            "Choisissez le type de votre structure dans la liste.",
        );
    }
    if !domain::DEPARTEMENTS.contains(&form.departement.as_str()) {
        refuse(
            "departement",
            "Choisissez un département d'Occitanie dans la liste.",
        );
    }
    let (Ok(email), true) = (email, errors.is_empty()) else {
        let html = page(
            &app,
            "member-join",
            "Devenir membre",
            &join_view(&form, &errors),
        )?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    };
    if form.website.is_empty() {
        let added = app
            .store
            .add_member(
                &NewMember {
                    email: email.as_str(),
                    org_name: &org_name,
                    contact_name: &contact_name,
                    college: Some(&form.college),
                    departement: Some(&form.departement),
                },
                "pending",
            )
            .await;
        // An address already known gets the same answer: the form tells nobody who is a
        // member.
        match added {
            Ok(_) | Err(crate::store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let html = app.pages.notice(
        "Demande enregistrée",
        &[
            "Merci ! La rédaction examine votre demande.",
            "Dès qu'elle est acceptée, vous publiez vos annonces depuis l'espace membre : vous vous y connectez avec cette adresse, par un lien reçu par courriel.",
        ],
        None,
    )?;
    Ok(Html(html).into_response())
}
