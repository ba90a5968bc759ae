//! The editors' desk: staff sign-in (Argon2id passwords, a session cookie whose token is
//! stored hashed, CSRF tokens on forms), the desk's home, and issue previews.

use std::sync::OnceLock;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AppState, ClientIp, Policy, WebError};
use crate::domain::{EmailAddress, IssueStatus, Newsletter, SafeUrl};
use crate::render::printable_line;
use crate::store::{IssueRow, ItemFilter, StaffSession};

const COOKIE: &str = "relais_staff";
const SESSION_HOURS: i64 = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", axum::routing::post(logout))
        .route("/admin", get(home))
        .route("/admin/programmation", get(schedule_page))
        .route("/admin/numeros/{id}/apercu", get(preview_page))
        .route("/admin/numeros/{id}/apercu.html", get(preview_html))
        .route("/admin/numeros/{id}/apercu.txt", get(preview_text))
}

/// A signed-in editor or admin; pages that take one send others to the sign-in form.
pub struct Staff {
    pub(super) session: StaffSession,
    token_hash: String,
}

impl Staff {
    /// What the layout shows around a desk page in `section`.
    pub(super) fn chrome(&self, section: &'static str) -> super::pages::DeskChrome {
        super::pages::DeskChrome {
            email: self.session.email.clone(),
            csrf: self.session.csrf_token.clone(),
            section,
            refresh: None,
            admin: self.is_admin(),
        }
    }

    pub(super) fn is_admin(&self) -> bool {
        self.session.role == "admin"
    }

    /// The session's token hash (one's own password change keeps this session).
    pub(super) fn token_hash(&self) -> &str {
        &self.token_hash
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/admin/login").into_response();
        let token = cookie(&parts.headers, COOKIE).ok_or_else(to_login)?;
        let token_hash = hash_token(&token);
        match app.store.session(&token_hash).await {
            Ok(Some(session)) => Ok(Staff {
                session,
                token_hash,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(super) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(super) fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Checking a password takes as long whether the account exists or not.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        argon2::Argon2::default()
            .hash_password(b"not a password", &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[derive(Serialize)]
struct LoginView<'a> {
    email: &'a str,
    error: Option<&'a str>,
}

fn login_form(app: &AppState, email: &str, error: Option<&str>) -> Result<String, WebError> {
    Ok(app
        .pages
        .render("login", "Connexion", &LoginView { email, error })?)
}

async fn login_page(State(app): State<AppState>) -> Result<Html<String>, WebError> {
    Ok(Html(login_form(&app, "", None)?))
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    if !app.limits.allow_login(client) {
        return Err(WebError::TooManyRequests);
    }
    let account = match EmailAddress::parse(&form.email) {
        Ok(email) => app.store.user_credentials(email.as_str()).await?,
        Err(_) => None,
    };
    let stored = account
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || {
        crate::desk::staff::verify_password(&stored, &password)
    })
    .await?;
    let Some((user_id, _)) = account.filter(|_| matches) else {
        let page = login_form(
            &app,
            form.email.trim(),
            Some("Adresse ou mot de passe incorrect."),
        )?;
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    };
    let token = random_token();
    app.store
        .create_session(
            user_id,
            &hash_token(&token),
            &random_token(),
            chrono::Duration::hours(SESSION_HOURS),
        )
        .await?;
    let secure = if app.config.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

pub(super) fn check_csrf(staff: &Staff, sent: &str) -> Result<(), WebError> {
    use subtle::ConstantTimeEq;
    if bool::from(staff.session.csrf_token.as_bytes().ct_eq(sent.as_bytes())) {
        Ok(())
    } else {
        Err(WebError::BadRequest(
            "Ce formulaire a expiré : rechargez la page et recommencez.".into(),
        ))
    }
}

async fn logout(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    app.store.end_session(&staff.token_hash).await?;
    let expired = format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((
        [(header::SET_COOKIE, expired)],
        Redirect::to("/admin/login"),
    )
        .into_response())
}

#[derive(Serialize)]
struct ItemLine {
    title: String,
    url: Option<SafeUrl>,
    source: String,
    date: String,
}

#[derive(Serialize)]
struct IssueLine {
    id: i64,
    /// The subject, with the title's name before it unless it already names it.
    title_line: String,
    status: &'static str,
}

fn status_label(status: IssueStatus) -> &'static str {
    match status {
        IssueStatus::Draft => "brouillon",
        IssueStatus::Approved => "approuvé",
        IssueStatus::Sending => "en cours d'envoi",
        IssueStatus::Sent => "envoyé",
    }
}

/// The desk's home: the new watch items to triage, and the issues in preparation.
async fn home(State(app): State<AppState>, staff: Staff) -> Result<Html<String>, WebError> {
    let items = app
        .store
        .list_items(&ItemFilter {
            source: None,
            status: Some("new".into()),
            limit: 100,
        })
        .await?;
    let items: Vec<ItemLine> = items
        .into_iter()
        .map(|i| ItemLine {
            title: printable_line(&i.title),
            url: SafeUrl::checked(i.url.as_deref()),
            source: printable_line(&i.source_name),
            date: crate::render::french_date(
                i.published_at
                    .unwrap_or(i.fetched_at)
                    .with_timezone(&app.config.timezone)
                    .date_naive(),
            ),
        })
        .collect();
    let issues: Vec<IssueLine> = app
        .store
        .open_issues()
        .await?
        .into_iter()
        .filter_map(|i| {
            Some(IssueLine {
                id: i.id,
                title_line: crate::render::title_line(
                    Newsletter::find(&i.newsletter)?,
                    &printable_line(&i.subject),
                ),
                status: status_label(i.status),
            })
        })
        .collect();
    let selected = app.store.selected_counts().await?;
    let failing = app
        .store
        .list_sources()
        .await?
        .into_iter()
        .filter(|s| s.state == crate::domain::SourceState::Failing)
        .count();
    let pending_ads = app.store.pending_ad_count().await?;
    let member_requests = app
        .store
        .members()
        .await?
        .iter()
        .filter(|m| m.state == "pending")
        .count();
    let html = app.pages.render_desk(
        "desk",
        "Rédaction",
        &staff.chrome("accueil"),
        &serde_json::json!({
            "email": staff.session.email,
            "role": staff.session.role,
            "new_count": items.len(),
            "items": items,
            "issues": issues,
            "selected": selected.iter().map(|(slug, n)| serde_json::json!({
                "name": Newsletter::find(slug).map_or(slug.as_str(), |n| n.name),
                "count": n,
            })).collect::<Vec<_>>(),
            "failing": failing,
            "pending_ads": pending_ads,
            "pending_ads_label": match pending_ads {
                1 => "1 annonce à valider".to_string(),
                n => format!("{n} annonces à valider"),
            },
            "member_requests": member_requests,
            "member_requests_label": match member_requests {
                1 => "1 demande d'adhésion à examiner".to_string(),
                n => format!("{n} demandes d'adhésion à examiner"),
            },
        }),
    )?;
    Ok(Html(html))
}

/// The schedules' next occurrences and their recorded runs.
async fn schedule_page(
    State(app): State<AppState>,
    staff: Staff,
) -> Result<Html<String>, WebError> {
    let zone = app.config.timezone;
    let lines: Vec<serde_json::Value> = crate::schedule::listing(&app, 100)
        .await?
        .into_iter()
        .map(|l| {
            serde_json::json!({
                "title": Newsletter::find(&l.newsletter).map_or(l.newsletter.clone(), |n| n.name.to_string()),
                "kind": l.kind.label(),
                "due": crate::schedule::local_time(l.due_at, zone),
                "ran": l.ran_at.map(|at| crate::schedule::local_time(at, zone)),
                "outcome": l.outcome.label(),
                "outcome_key": l.outcome.as_str(),
                "detail": printable_line(&l.detail),
                "issue": l.issue,
            })
        })
        .collect();
    let (next, past): (Vec<_>, Vec<_>) = lines.into_iter().partition(|l| l["ran"].is_null());
    let html = app.pages.render_desk(
        "schedule",
        "Programmation",
        &staff.chrome("accueil"),
        &serde_json::json!({
            "configured": !app.config.schedules.is_empty(),
            "next": next,
            "past": past,
        }),
    )?;
    Ok(Html(html))
}

#[derive(Deserialize)]
struct PreviewQuery {
    segment: Option<String>,
    largeur: Option<u32>,
}

impl PreviewQuery {
    fn segment(&self) -> Option<&str> {
        self.segment.as_deref().filter(|s| !s.is_empty())
    }

    /// `?segment=…` to carry to the raw parts.
    fn suffix(&self) -> String {
        self.segment()
            .map(|s| {
                format!(
                    "?segment={}",
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default()
    }
}

/// The issue and its preview; an unknown issue is a 404, an unknown segment a 400.
async fn preview(
    app: &AppState,
    id: i64,
    q: &PreviewQuery,
) -> Result<(IssueRow, crate::desk::Preview), WebError> {
    let issue = app.store.issue(id).await?;
    let preview = crate::desk::preview_issue(
        &app.store,
        &app.links,
        &app.renderer,
        &issue,
        q.segment(),
        &app.masthead,
    )
    .await
    .map_err(|e| WebError::BadRequest(e.to_string()))?;
    Ok((issue, preview))
}

/// The preview page: a frame at desktop width or at 375 px, a segment to see it as, and the
/// plain-text part.
async fn preview_page(
    State(app): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
    Query(q): Query<PreviewQuery>,
) -> Result<Html<String>, WebError> {
    let (issue, preview) = preview(&app, id, &q).await?;
    let width = match q.largeur {
        Some(375) => 375,
        _ => 600,
    };
    let segments: Vec<serde_json::Value> = app
        .store
        .list_segments()
        .await?
        .into_iter()
        .filter(|s| s.newsletter == issue.newsletter)
        .map(|s| {
            serde_json::json!({
                "slug": s.slug,
                "subscribers": s.subscribers,
                "selected": q.segment() == Some(s.slug.as_str()),
            })
        })
        .collect();
    let suffix = q.suffix();
    let html = app.pages.render(
        "preview",
        &format!("Aperçu — {}", preview.subject),
        &serde_json::json!({
            "id": id,
            "subject": preview.subject,
            "width": width,
            "narrow": width == 375,
            "segments": segments,
            "frame": format!("/admin/numeros/{id}/apercu.html{suffix}"),
            "text_url": format!("/admin/numeros/{id}/apercu.txt{suffix}"),
            "text": preview.text,
        }),
    )?;
    Ok(Html(html))
}

async fn preview_html(
    State(app): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, WebError> {
    let (_, preview) = preview(&app, id, &q).await?;
    Ok(Policy::FramedIssue.on(raw_part("text/html; charset=utf-8", preview.html)))
}

async fn preview_text(
    State(app): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, WebError> {
    let (_, preview) = preview(&app, id, &q).await?;
    Ok(raw_part("text/plain; charset=utf-8", preview.text))
}

/// One part of a preview, never cached (the HTML one may be framed by the desk's own pages).
fn raw_part(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
