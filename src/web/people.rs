//! Subscribers at the desk (`/admin/abonnes`): search by address or name; one person's
//! titles, interests, consent history and deliveries; the segments with their live counts,
//! and a new segment made from filters.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::composer::french_moment;
use super::desk::{check_csrf, Staff};
use super::{AppState, WebError};
use crate::domain::{self, Newsletter, KNOWN_NEWSLETTERS};
use crate::render::printable_line;
use crate::store::{ExportStatus, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/abonnes", get(list))
        .route("/admin/abonnes/{id}", get(person))
        .route("/admin/segments", post(add_segment))
}

fn status_label(status: ExportStatus) -> &'static str {
    match status {
        ExportStatus::Pending => "en attente de confirmation",
        ExportStatus::Active => "abonné·e",
        ExportStatus::Unsubscribed => "désabonné·e",
        ExportStatus::Bounced => "adresse en échec",
        ExportStatus::Complained => "a signalé un indésirable",
    }
}

fn delivery_label(state: &str) -> &'static str {
    match domain::DeliveryState::parse(state) {
        Some(domain::DeliveryState::Queued) => "en file",
        Some(domain::DeliveryState::Sending) => "en cours",
        Some(domain::DeliveryState::Sent) => "remis",
        Some(domain::DeliveryState::Deferred) => "différé",
        Some(domain::DeliveryState::Failed) => "échec",
        Some(domain::DeliveryState::Unknown) => "incertain",
        Some(domain::DeliveryState::Skipped) => "écarté",
        None => "?",
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    q: String,
}

async fn list(
    State(app): State<AppState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, WebError> {
    render_list(&app, &staff, &q.q, None, None).await
}

/// The segment form as the person filled it, kept when it is refused.
#[derive(Default)]
struct SegmentDraft {
    slug: String,
    newsletter: String,
    themes: Vec<String>,
    countries: Vec<String>,
    departements: Vec<String>,
    colleges: Vec<String>,
}

async fn render_list(
    app: &AppState,
    staff: &Staff,
    query: &str,
    notice: Option<String>,
    refused: Option<(String, SegmentDraft)>,
) -> Result<Html<String>, WebError> {
    let found = if query.trim().is_empty() {
        Vec::new()
    } else {
        app.store.search_subscribers(query, 100).await?
    };
    let segments = app.store.list_segments().await?;
    let (error, draft) = match refused {
        Some((e, d)) => (Some(e), d),
        None => (None, SegmentDraft::default()),
    };
    let ticked = |list: &[String], v: &str| list.iter().any(|x| x == v);
    let html = app.pages.render_desk(
        "people",
        "Abonné·es",
        &staff.chrome("abonnes"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "q": query,
            "searched": !query.trim().is_empty(),
            "found": found.iter().map(|(id, email, name, status)| serde_json::json!({
                "id": id, "email": email, "name": printable_line(name), "status": status_label(match status {
                    domain::SubscriberStatus::Pending => ExportStatus::Pending,
                    domain::SubscriberStatus::Active => ExportStatus::Active,
                    domain::SubscriberStatus::Bounced => ExportStatus::Bounced,
                    domain::SubscriberStatus::Complained => ExportStatus::Complained,
                }),
            })).collect::<Vec<_>>(),
            "segments": segments.iter().map(|s| serde_json::json!({
                "slug": s.slug,
                "newsletter": Newsletter::find(&s.newsletter).map_or(s.newsletter.as_str(), |n| n.name),
                "subscribers": s.subscribers,
            })).collect::<Vec<_>>(),
            "notice": notice,
            "error": error,
            "slug": draft.slug,
            "newsletters": KNOWN_NEWSLETTERS.iter().map(|n| serde_json::json!({
                "slug": n.slug, "name": n.name, "selected": draft.newsletter == n.slug,
            })).collect::<Vec<_>>(),
            "themes": domain::THEMES.iter().map(|t| serde_json::json!({
                "value": t, "label": super::public::theme_label(t), "checked": ticked(&draft.themes, t),
            })).collect::<Vec<_>>(),
            "countries": domain::COUNTRIES.iter().map(|(c, n)| serde_json::json!({
                "value": c, "label": n, "selected": ticked(&draft.countries, c),
            })).collect::<Vec<_>>(),
            "departements": domain::DEPARTEMENTS.iter().map(|d| serde_json::json!({
                "value": d, "label": domain::departement_label(d), "checked": ticked(&draft.departements, d),
            })).collect::<Vec<_>>(),
            "colleges": domain::COLLEGES.iter().map(|c| serde_json::json!({
                "value": c, "label": super::public::college_label(c), "checked": ticked(&draft.colleges, c),
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html))
}

/// One person: status, titles, interests, consent history, deliveries.
async fn person(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let person = app
        .store
        .export_subscribers(Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or(WebError::NotFound)?;
    let zone = app.config.timezone;
    let deliveries = app.store.person_deliveries(id).await?;
    let html = app.pages.render_desk(
        "person",
        &person.email,
        &staff.chrome("abonnes"),
        &serde_json::json!({
            "email": person.email,
            "name": printable_line(&person.name),
            "status": status_label(person.status),
            "since": french_moment(person.created_at, zone),
            "newsletters": person.newsletters.iter()
                .map(|n| Newsletter::find(n).map_or(n.clone(), |n| n.name.to_string()))
                .collect::<Vec<_>>(),
            "themes": person.themes.iter().map(|t| super::public::theme_label(t)).collect::<Vec<_>>(),
            "countries": person.countries.iter()
                .map(|c| domain::country_name(c).unwrap_or(c).to_string())
                .collect::<Vec<_>>(),
            "departements": person.departements.iter().map(|d| domain::departement_label(d)).collect::<Vec<_>>(),
            "college": person.college.as_deref().map(super::public::college_label),
            "consents": person.consents.iter().map(|c| serde_json::json!({
                "when": french_moment(c.at, zone),
                "action": match c.action.as_str() {
                    "subscribe" => "demande d'abonnement",
                    "confirm" => "confirmation",
                    "unsubscribe" => "désabonnement",
                    "erase" => "effacement",
                    _ => "autre",
                },
                "method": match c.method.as_str() {
                    "form" => "formulaire",
                    "import" => "import",
                    "staff" => "rédaction",
                    "one-click" => "désabonnement en un clic",
                    "preferences" => "préférences",
                    _ => "autre",
                },
                "newsletter": c.newsletter.as_deref().and_then(Newsletter::find).map(|n| n.name),
                "ip": c.ip,
            })).collect::<Vec<_>>(),
            "deliveries": deliveries.iter().map(|(issue, subject, newsletter, state, at, reply)| serde_json::json!({
                "issue": issue,
                "title_line": Newsletter::find(newsletter)
                    .map(|n| crate::render::title_line(n, &printable_line(subject)))
                    .unwrap_or_else(|| printable_line(subject)),
                "state": delivery_label(state),
                "when": french_moment(*at, zone),
                "reply": reply.as_deref().map(printable_line),
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html))
}

/// Creates a segment from the filters ticked; refused values are said next to the form.
async fn add_segment(
    State(app): State<AppState>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let all = |k: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    let one = |k: &str| all(k).into_iter().next().unwrap_or_default();
    check_csrf(&staff, &one("csrf"))?;
    let draft = SegmentDraft {
        slug: one("nom"),
        newsletter: one("lettre"),
        themes: all("theme"),
        countries: all("country"),
        departements: all("departement"),
        colleges: all("college"),
    };
    let refuse = |e: String, draft: SegmentDraft| async {
        let page = render_list(&app, &staff, "", None, Some((e, draft))).await?;
        Ok::<_, WebError>((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let Some(n) = Newsletter::find(&draft.newsletter) else {
        return refuse("Choisissez la lettre du segment.".into(), draft).await;
    };
    let filters = match crate::audience::segment_filters(
        &draft.slug,
        &draft.themes,
        &draft.countries,
        &draft.departements,
        &draft.colleges,
    ) {
        Ok(f) => f,
        Err(e) => return refuse(format!("Segment refusé : {e}."), draft).await,
    };
    match app.store.add_segment(&draft.slug, n.slug, &filters).await {
        Ok(_) => Ok(Redirect::to("/admin/abonnes").into_response()),
        Err(StoreError::Conflict(_)) => {
            refuse(
                format!("Un segment s'appelle déjà « {} ».", draft.slug),
                draft,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
