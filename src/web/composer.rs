//! Issues at the desk (`/admin/numeros`): the list, a new issue, the composer (texts,
//! sections and their entries, the editor's own text blocks, a live preview), a test sent to
//! oneself, approval, the send with its audience counted before the confirming click, and
//! the progress and report of a send.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde::Deserialize;

use super::desk::{check_csrf, Staff};
use super::pages::DeskChrome;
use super::{AppState, WebError};
use crate::desk::compose;
use crate::domain::{DispatchState, IssueStatus, Newsletter, KNOWN_NEWSLETTERS};
use crate::render::{french_date, printable_line, title_line};
use crate::store::{IssueRow, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/numeros", get(list).post(create))
        .route("/admin/numeros/{id}", get(composer))
        .route("/admin/numeros/{id}/textes", post(save_texts))
        .route(
            "/admin/numeros/{id}/entrees/{entry}/deplacer",
            post(move_entry),
        )
        .route(
            "/admin/numeros/{id}/entrees/{entry}/retirer",
            post(remove_entry),
        )
        .route("/admin/numeros/{id}/blocs", post(add_block))
        .route("/admin/numeros/{id}/blocs/{entry}", post(update_block))
        .route("/admin/numeros/{id}/retenus", post(add_selected))
        .route("/admin/numeros/{id}/annonces", post(add_ad))
        .route("/admin/numeros/{id}/essai", post(send_test))
        .route("/admin/numeros/{id}/valider", post(approve))
        .route("/admin/numeros/{id}/envoyer", get(confirm_send).post(send))
        .route("/admin/numeros/{id}/programmer", post(schedule))
        .route("/admin/numeros/{id}/suivi", get(progress))
        .route("/admin/numeros/{id}/suivi.json", get(progress_json))
        .route("/admin/numeros/{id}/suivi/flux", get(progress_events))
        .route(
            "/admin/numeros/{id}/renvoyer",
            get(confirm_resend).post(resend),
        )
}

fn chrome(staff: &Staff) -> DeskChrome {
    staff.chrome("numeros")
}

const WEEKDAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];

/// « jeudi 5 décembre 2026 à 9 h », « … à 9 h 30 », in the publisher's time zone.
pub(super) fn french_moment(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    let local = at.with_timezone(&zone);
    let day = WEEKDAYS[local.weekday().num_days_from_monday() as usize];
    let time = match local.minute() {
        0 => format!("{} h", local.hour()),
        m => format!("{} h {m:02}", local.hour()),
    };
    format!("{day} {} à {time}", french_date(local.date_naive()))
}

fn state_label(issue: &IssueRow, zone: chrono_tz::Tz) -> String {
    match (issue.status, issue.scheduled_at) {
        (IssueStatus::Draft, _) => "Brouillon".into(),
        (IssueStatus::Approved, Some(at)) => format!("Programmé le {}", french_moment(at, zone)),
        (IssueStatus::Approved, None) => "Validé".into(),
        (IssueStatus::Sending, _) => "Envoi en cours".into(),
        (IssueStatus::Sent, _) => "Envoyé".into(),
    }
}

fn newsletter_of(issue: &IssueRow) -> Result<&'static Newsletter, WebError> {
    Newsletter::find(&issue.newsletter).ok_or(WebError::NotFound)
}

fn to_composer(id: i64, notice: &str) -> Response {
    let target = if notice.is_empty() {
        format!("/admin/numeros/{id}")
    } else {
        format!("/admin/numeros/{id}?fait={notice}")
    };
    Redirect::to(&target).into_response()
}

/// The issues: those in preparation, and the last ones sent.
async fn list(State(app): State<AppState>, staff: Staff) -> Result<Html<String>, WebError> {
    let zone = app.config.timezone;
    let line = |i: &IssueRow| {
        let n = Newsletter::find(&i.newsletter)?;
        Some(serde_json::json!({
            "id": i.id,
            "title_line": title_line(n, &printable_line(&i.subject)),
            "state": state_label(i, zone),
            "sending": i.status == IssueStatus::Sending,
            "date": french_date(i.sent_at.unwrap_or(i.created_at).with_timezone(&zone).date_naive()),
        }))
    };
    let open: Vec<_> = app
        .store
        .open_issues()
        .await?
        .iter()
        .filter_map(line)
        .collect();
    let mut sent = Vec::new();
    for n in KNOWN_NEWSLETTERS {
        let (rows, _) = app.store.sent_issues(n.slug, 5, 0).await?;
        sent.extend(rows.iter().filter_map(line));
    }
    let html = app.pages.render_desk(
        "issues",
        "Numéros",
        &chrome(&staff),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "open": open,
            "sent": sent,
            "newsletters": KNOWN_NEWSLETTERS.iter().map(|n| serde_json::json!({"slug": n.slug, "name": n.name})).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html))
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    lettre: String,
    #[serde(default)]
    objet: String,
}

async fn create(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let n = Newsletter::find(&form.lettre)
        .ok_or_else(|| WebError::BadRequest("Choisissez une lettre.".into()))?;
    let subject = printable_line(form.objet.trim());
    let today = app
        .store
        .now()
        .with_timezone(&app.config.timezone)
        .date_naive();
    let id = crate::desk::create_issue(
        &app.store,
        &app.config.sections,
        n.slug,
        (!subject.is_empty()).then_some(subject.as_str()),
        today,
    )
    .await?;
    Ok(to_composer(id, "cree"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ComposerQuery {
    fait: String,
    largeur: String,
    segment: String,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "cree" => "Numéro créé, avec les éléments retenus pour ce titre.",
        "textes" => "Objet et textes enregistrés.",
        "bloc" => "Texte enregistré.",
        "deplace" => "Entrée déplacée.",
        "retire" => "Entrée retirée du numéro (l'élément reste retenu dans la veille).",
        "retenus" => "Éléments retenus ajoutés.",
        "annonce" => "Annonce ajoutée au numéro.",
        "essai" => "Essai envoyé à votre adresse : il arrive d'ici une minute.",
        "valide" => "Votre validation est enregistrée.",
        "programme" => "Envoi programmé.",
        "deprogramme" => "Programmation annulée.",
        _ => return None,
    })
}

/// The composer: everything about one issue on one page.
async fn composer(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(q): Query<ComposerQuery>,
) -> Result<Html<String>, WebError> {
    let issue = app.store.issue(id).await?;
    let n = newsletter_of(&issue)?;
    let zone = app.config.timezone;
    let open = matches!(issue.status, IssueStatus::Draft | IssueStatus::Approved);
    let entries = app.store.issue_entries(id).await?;
    let blocks = app.store.block_sources(id).await?;
    let layout = app.config.sections.of(n);
    let section_choices: Vec<serde_json::Value> = layout
        .iter()
        .map(|s| serde_json::json!({ "key": s.key, "heading": s.heading }))
        .collect();
    let sections: Vec<serde_json::Value> = layout
        .iter()
        .map(|s| {
            let list: Vec<_> = entries.iter().filter(|e| e.section == s.key).collect();
            let count = list.len();
            let rows: Vec<serde_json::Value> = list
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let markdown = blocks
                        .iter()
                        .find(|(b, _)| *b == e.id)
                        .map(|(_, m)| m.clone());
                    let kind = if markdown.is_some() {
                        "Texte"
                    } else if e.ad_id.is_some() {
                        "Annonce"
                    } else {
                        "Veille"
                    };
                    let label = if markdown.is_some() {
                        let text = printable_line(&e.summary);
                        match text.char_indices().nth(90) {
                            Some((cut, _)) => format!("{}…", &text[..cut]),
                            None => text,
                        }
                    } else {
                        printable_line(&e.title)
                    };
                    serde_json::json!({
                        "id": e.id,
                        "kind": kind,
                        "label": label,
                        "source": e.source_name.as_deref().map(printable_line),
                        "markdown": markdown,
                        "first": i == 0,
                        "last": i + 1 == count,
                        "index": i,
                        "others": layout.iter().filter(|o| o.key != s.key)
                            .map(|o| serde_json::json!({ "key": o.key, "heading": o.heading }))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::json!({ "key": s.key, "heading": s.heading, "entries": rows })
        })
        .collect();
    let waiting = app.store.selected_for(n.slug).await?;
    // Les Échos du Réseau: the approved ads still running that this issue does not hold (an
    // editor removed one, or it was approved after the issue was created).
    let ads: Vec<serde_json::Value> = if n.slug == "echos-du-reseau" {
        app.store
            .board_ads(app.today(), &Default::default())
            .await?
            .into_iter()
            .filter(|a| !entries.iter().any(|e| e.ad_id == Some(a.id)))
            .map(|a| {
                serde_json::json!({
                    "id": a.id,
                    "title": printable_line(&a.title),
                    "org": printable_line(&a.org_name),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let approvals: Vec<serde_json::Value> = app
        .store
        .approvals(id)
        .await?
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "email": a.email,
                "when": french_moment(a.created_at, zone),
                "mine": a.email == staff.session.email,
            })
        })
        .collect();
    let required = app.config.approvals_required(n.slug);
    let approved_by_me = approvals.iter().any(|a| a["mine"] == true);
    let segments: Vec<serde_json::Value> = app
        .store
        .list_segments()
        .await?
        .into_iter()
        .filter(|s| s.newsletter == n.slug)
        .map(|s| {
            serde_json::json!({
                "selected": s.slug == q.segment,
                "slug": s.slug,
                "subscribers": s.subscribers,
            })
        })
        .collect();
    let width = if q.largeur == "375" { 375 } else { 600 };
    let segment_suffix = if q.segment.is_empty() {
        String::new()
    } else {
        format!(
            "?segment={}",
            url::form_urlencoded::byte_serialize(q.segment.as_bytes()).collect::<String>()
        )
    };
    let html = app.pages.render_desk(
        "composer",
        &title_line(n, &printable_line(&issue.subject)),
        &chrome(&staff),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "id": id,
            "newsletter": n.name,
            "title_line": title_line(n, &printable_line(&issue.subject)),
            "subject": issue.subject,
            "preheader": issue.preheader,
            "intro": issue.intro,
            "state": state_label(&issue, zone),
            "open": open,
            "draft": issue.status == IssueStatus::Draft,
            "approved": issue.status == IssueStatus::Approved,
            "sending_or_sent": !open,
            "scheduled": issue.scheduled_at.map(|at| french_moment(at, zone)),
            "notice": notice_text(&q.fait),
            "sections": sections,
            "section_choices": section_choices,
            "ads": ads,
            "waiting": waiting.iter().map(|w| serde_json::json!({
                "title": printable_line(&w.title),
                "source": printable_line(&w.source_name),
            })).collect::<Vec<_>>(),
            "approvals": approvals,
            "required": required,
            "approved_by_me": approved_by_me,
            "missing": required.saturating_sub(approvals.len()),
            "segments": segments,
            "segment": q.segment,
            "width": width,
            "narrow": width == 375,
            "frame": format!("/admin/numeros/{id}/apercu.html{segment_suffix}"),
            "text_url": format!("/admin/numeros/{id}/apercu.txt{segment_suffix}"),
            "timezone": zone.name(),
        }),
    )?;
    Ok(Html(html))
}

#[derive(Deserialize)]
struct TextsForm {
    csrf: String,
    objet: String,
    #[serde(default)]
    apercu: String,
    #[serde(default)]
    intro: String,
}

async fn save_texts(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<TextsForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let subject = printable_line(form.objet.trim());
    if subject.is_empty() {
        return Err(WebError::BadRequest(
            "L'objet ne peut pas être vide : c'est ce que les abonnés lisent d'abord.".into(),
        ));
    }
    let subject: String = subject.chars().take(200).collect();
    let preheader: String = printable_line(form.apercu.trim())
        .chars()
        .take(200)
        .collect();
    let intro: String = crate::render::printable_text(form.intro.trim())
        .chars()
        .take(5_000)
        .collect();
    app.store
        .set_issue_texts(id, &subject, &preheader, &intro)
        .await?;
    Ok(to_composer(id, "textes"))
}

#[derive(Deserialize)]
struct MoveForm {
    csrf: String,
    /// `haut` or `bas` (buttons), or empty with `rubrique` and `position` (menu, script).
    #[serde(default)]
    vers: String,
    #[serde(default)]
    rubrique: String,
    #[serde(default)]
    position: Option<usize>,
}

async fn move_entry(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, entry)): Path<(i64, i64)>,
    Form(form): Form<MoveForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    let n = newsletter_of(&issue)?;
    let entries = app.store.issue_entries(id).await?;
    let current = entries
        .iter()
        .find(|e| e.id == entry)
        .ok_or(WebError::NotFound)?;
    let siblings: Vec<i64> = entries
        .iter()
        .filter(|e| e.section == current.section)
        .map(|e| e.id)
        .collect();
    let here = siblings.iter().position(|e| *e == entry).unwrap_or(0);
    let (section, index) = match form.vers.as_str() {
        "haut" => (current.section.clone(), here.saturating_sub(1)),
        "bas" => (current.section.clone(), here + 1),
        _ => {
            let key = app
                .config
                .sections
                .find(n, &form.rubrique)
                .map(|s| s.key.to_string())
                .ok_or_else(|| WebError::BadRequest("Rubrique inconnue.".into()))?;
            let index = form.position.unwrap_or(usize::MAX);
            (key, index)
        }
    };
    app.store.place_entry(id, entry, &section, index).await?;
    Ok(to_composer(id, "deplace"))
}

async fn remove_entry(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, entry)): Path<(i64, i64)>,
    Form(form): Form<super::desk::CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    app.store.remove_entry(id, entry).await?;
    Ok(to_composer(id, "retire"))
}

#[derive(Deserialize)]
struct BlockForm {
    csrf: String,
    #[serde(default)]
    rubrique: String,
    texte: String,
}

fn block_of(app: &AppState, markdown: &str) -> Result<(String, compose::Block), WebError> {
    let markdown = crate::render::printable_text(markdown.trim());
    if markdown.is_empty() {
        return Err(WebError::BadRequest("Le texte est vide.".into()));
    }
    if markdown.chars().count() > compose::MAX_BLOCK_CHARS {
        return Err(WebError::BadRequest(format!(
            "Texte trop long : au plus {} caractères.",
            compose::MAX_BLOCK_CHARS
        )));
    }
    let block = compose::markdown_block(&markdown, &app.config.base_url);
    Ok((markdown, block))
}

async fn add_block(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<BlockForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    let n = newsletter_of(&issue)?;
    let section = app
        .config
        .sections
        .find(n, &form.rubrique)
        .map(|s| s.key)
        .unwrap_or_else(|| app.config.sections.of(n).first().map_or("", |s| s.key));
    let (markdown, block) = block_of(&app, &form.texte)?;
    app.store
        .add_block(id, section, &markdown, &block.html, &block.text)
        .await?;
    Ok(to_composer(id, "bloc"))
}

async fn update_block(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, entry)): Path<(i64, i64)>,
    Form(form): Form<BlockForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let (markdown, block) = block_of(&app, &form.texte)?;
    app.store
        .update_block(id, entry, &markdown, &block.html, &block.text)
        .await?;
    Ok(to_composer(id, "bloc"))
}

async fn add_selected(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<super::desk::CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    if !matches!(issue.status, IssueStatus::Draft | IssueStatus::Approved) {
        return Err(StoreError::Conflict(crate::store::FROZEN.into()).into());
    }
    let n = newsletter_of(&issue)?;
    compose::add_selected(&app.store, &app.config.sections, id, n).await?;
    Ok(to_composer(id, "retenus"))
}

#[derive(Deserialize)]
struct AdForm {
    csrf: String,
    ad: i64,
}

/// Puts an approved ad back into (or first into) an issue of Les Échos du Réseau.
async fn add_ad(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<AdForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    let ad = app.store.ad(form.ad).await?;
    if issue.newsletter != "echos-du-reseau" || ad.state != "approved" {
        return Err(WebError::BadRequest(
            "Seules les annonces validées et en cours entrent dans Les Échos du Réseau.".into(),
        ));
    }
    match crate::desk::add_to_issue(
        &app.store,
        &app.config.sections,
        id,
        crate::desk::EntrySource::Ad(ad.id),
        None,
    )
    .await
    {
        Ok(_) => Ok(to_composer(id, "annonce")),
        Err(e) => Err(WebError::Conflict(e.to_string())),
    }
}

async fn send_test(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<super::desk::CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    app.store.issue(id).await?;
    app.store
        .queue_test_mail(id, &staff.session.email, app.dispatcher.mail_domain())
        .await?;
    app.dispatcher.wake();
    Ok(to_composer(id, "essai"))
}

async fn approve(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<super::desk::CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    let required = app.config.approvals_required(&issue.newsletter);
    app.store
        .approve_issue(id, staff.session.user_id, required)
        .await?;
    Ok(to_composer(id, "valide"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SendQuery {
    segment: String,
}

/// The audience of a send: the segment's id and label, checked against the issue's title.
async fn audience(
    app: &AppState,
    issue: &IssueRow,
    segment: &str,
) -> Result<(Option<i64>, String, i64), WebError> {
    let (segment_id, label) = if segment.is_empty() {
        (None, "tous".to_string())
    } else {
        let (sid, newsletter) = app.store.segment(segment).await.map_err(|e| match e {
            StoreError::NotFound => {
                WebError::BadRequest(format!("Segment « {segment} » introuvable."))
            }
            other => other.into(),
        })?;
        if newsletter != issue.newsletter {
            return Err(WebError::BadRequest(format!(
                "Le segment « {segment} » appartient à une autre lettre."
            )));
        }
        (Some(sid), segment.to_string())
    };
    let count = app
        .store
        .audience_size(&issue.newsletter, segment_id)
        .await?;
    Ok((segment_id, label, count))
}

/// The last step before a send: how many people it reaches, then one confirming click.
async fn confirm_send(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(q): Query<SendQuery>,
) -> Result<Html<String>, WebError> {
    let issue = app.store.issue(id).await?;
    let n = newsletter_of(&issue)?;
    let (_, label, count) = audience(&app, &issue, &q.segment).await?;
    let html = app.pages.render_desk(
        "send",
        "Confirmer l'envoi",
        &chrome(&staff),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "id": id,
            "title_line": title_line(n, &printable_line(&issue.subject)),
            "count": count,
            "segment": q.segment,
            "segment_label": label,
            "approved": issue.status == IssueStatus::Approved,
            "sending": issue.status == IssueStatus::Sending,
            "sent": issue.status == IssueStatus::Sent,
        }),
    )?;
    Ok(Html(html))
}

#[derive(Deserialize)]
struct SendForm {
    csrf: String,
    #[serde(default)]
    segment: String,
}

async fn send(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<SendForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    if issue.status == IssueStatus::Draft {
        return Err(WebError::BadRequest(
            "Ce numéro n'est pas encore validé : validez-le avant de l'envoyer.".into(),
        ));
    }
    audience(&app, &issue, &form.segment).await?;
    let segment = (!form.segment.is_empty()).then_some(form.segment.as_str());
    app.dispatcher.queue(id, segment).await.map_err(|e| {
        match e.downcast_ref::<crate::dispatch::control::DispatchCancelled>() {
            Some(cancelled) => WebError::BadRequest(format!("L{}", &cancelled.to_string()[1..])),
            None => e.into(),
        }
    })?;
    app.store.set_issue_schedule(id, None, None).await.ok();
    app.dispatcher.wake();
    Ok(Redirect::to(&format!("/admin/numeros/{id}/suivi")).into_response())
}

#[derive(Deserialize)]
struct ScheduleForm {
    csrf: String,
    #[serde(default)]
    quand: String,
    #[serde(default)]
    segment: String,
}

async fn schedule(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let issue = app.store.issue(id).await?;
    if form.quand.trim().is_empty() {
        app.store.set_issue_schedule(id, None, None).await?;
        return Ok(to_composer(id, "deprogramme"));
    }
    if issue.status != IssueStatus::Approved {
        return Err(WebError::BadRequest(
            "Seul un numéro validé peut être programmé : validez-le d'abord.".into(),
        ));
    }
    audience(&app, &issue, &form.segment).await?;
    let zone = app.config.timezone;
    let local = chrono::NaiveDateTime::parse_from_str(form.quand.trim(), "%Y-%m-%dT%H:%M")
        .map_err(|_| {
            WebError::BadRequest("Date et heure attendues, par exemple 2026-12-03 09:00.".into())
        })?;
    let at = zone
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| {
            WebError::BadRequest("Cette heure n'existe pas ce jour-là (changement d'heure).".into())
        })?
        .with_timezone(&Utc);
    if at <= app.store.now() {
        return Err(WebError::BadRequest(
            "Cette date est passée : choisissez un moment à venir.".into(),
        ));
    }
    let segment = (!form.segment.is_empty()).then_some(form.segment.as_str());
    app.store.set_issue_schedule(id, Some(at), segment).await?;
    Ok(to_composer(id, "programme"))
}

async fn progress_data(app: &AppState, id: i64) -> Result<serde_json::Value, WebError> {
    let issue = app.store.issue(id).await?;
    let counts = app.store.delivery_counts(id).await?;
    let total = counts.total();
    let settled = counts.sent + counts.failed + counts.skipped + counts.unknown;
    let done = issue.status == IssueStatus::Sent
        || (total > 0 && counts.queued + counts.sending + counts.deferred == 0);
    Ok(serde_json::json!({
        "status": issue.status,
        "total": total,
        "settled": settled,
        "done": done,
        "counts": counts,
    }))
}

/// While a send runs: its counts, refreshed; afterwards, its report.
async fn progress(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let issue = app.store.issue(id).await?;
    let n = newsletter_of(&issue)?;
    let data = progress_data(&app, id).await?;
    let failures = app.store.failure_reasons(id).await?;
    let bounces = app.store.issue_bounces(id).await?;
    let done = data["done"] == true;
    // What followed the issue: unsubscriptions until the title's next issue went out.
    let history = app.store.issue_history(n.slug, 8).await?;
    let unsubscribes = match issue.sent_at {
        Some(at) => {
            let next = app
                .store
                .sent_issues(n.slug, 50, 0)
                .await?
                .0
                .into_iter()
                .filter_map(|i| i.sent_at)
                .filter(|t| *t > at)
                .min();
            Some(app.store.unsubscribes_between(n.slug, at, next).await?)
        }
        None => None,
    };
    let dispatches = app.store.dispatch_controls(id).await?;
    let has = |state: DispatchState| dispatches.iter().any(|d| d.state == state);
    let (can_pause, can_resume) = (
        has(DispatchState::Active) && !done,
        has(DispatchState::Paused),
    );
    let mut chrome = chrome(&staff);
    chrome.refresh = (!done && !can_resume).then_some(3);
    let html = app.pages.render_desk(
        "report",
        &format!("Envoi — {}", title_line(n, &printable_line(&issue.subject))),
        &chrome,
        &serde_json::json!({
            "id": id,
            "title_line": title_line(n, &printable_line(&issue.subject)),
            "progress": data,
            "failures": failures.iter().map(|(reason, count)| serde_json::json!({"reason": reason, "count": count})).collect::<Vec<_>>(),
            "bounces": bounces.iter().map(|(kind, count)| serde_json::json!({"label": crate::bounces::report::Kind::label_of(kind), "count": count})).collect::<Vec<_>>(),
            "sent_on": issue.sent_at.map(|at| french_moment(at, app.config.timezone)),
            "unsubscribes": unsubscribes,
            "unknown": data["counts"]["unknown"],
            "chart": (history.len() > 1).then(|| history_chart(&history, id)),
            "csrf": staff.session.csrf_token,
            "dispatches": dispatches.iter().filter(|d| d.state != DispatchState::Active).map(|d| serde_json::json!({
                "state": d.state,
                "state_label": d.state.label(),
                "label": if d.segment.is_empty() { "à tous les abonné·es".to_string() } else { format!("au segment {}", d.segment) },
                "reason": d.reason,
            })).collect::<Vec<_>>(),
            "controls": can_pause || can_resume,
            "can_pause": can_pause,
            "can_resume": can_resume,
        }),
    )?;
    Ok(Html(html))
}

async fn progress_json(
    State(app): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let data = progress_data(&app, id).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(data),
    )
        .into_response())
}

/// The counts of a send pushed as they change (server-sent events), once a second at most,
/// until the send is over.
async fn progress_events(
    State(app): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    app.store.issue(id).await?;
    let stream = futures::stream::unfold(
        (app, None::<serde_json::Value>, false),
        move |(app, last, finished)| async move {
            if finished {
                return None;
            }
            loop {
                let data = match progress_data(&app, id).await {
                    Ok(d) => d,
                    Err(_) => return None,
                };
                if last.as_ref() != Some(&data) {
                    let done = data["done"] == true;
                    let event = Event::default().event("progres").data(data.to_string());
                    return Some((
                        Ok::<_, std::convert::Infallible>(event),
                        (app, Some(data), done),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The last issues of the title as a bar chart of messages delivered, oldest on the left, the
/// current issue marked; inline SVG with its figures in words for screen readers.
fn history_chart(history: &[(i64, String, i64, i64, i64)], current: i64) -> String {
    let bars: Vec<&(i64, String, i64, i64, i64)> = history.iter().rev().collect();
    let max = bars
        .iter()
        .map(|b| b.2 + b.3 + b.4)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (bar, gap, height) = (28.0, 8.0, 60.0);
    let width = bars.len() as f64 * (bar + gap);
    let mut shapes = String::new();
    let mut words = Vec::new();
    for (i, (id, subject, sent, failed, unknown)) in bars.iter().enumerate() {
        let x = i as f64 * (bar + gap);
        let h = (*sent as f64 / max) * height;
        let fill = if *id == current { "#c2410c" } else { "#0b5563" };
        shapes.push_str(&format!(
            "<rect x=\"{x:.0}\" y=\"{:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{fill}\"/>",
            height - h
        ));
        words.push(format!(
            "{} : {sent} remis, {failed} échecs, {unknown} incertains",
            printable_line(subject)
        ));
    }
    let label = html_escape::encode_double_quoted_attribute(&words.join(" ; ")).into_owned();
    format!(
        "<svg class=\"history\" width=\"{width:.0}\" height=\"{height}\" viewBox=\"0 0 {width:.0} {height}\" \
         role=\"img\" aria-label=\"Messages remis, derniers numéros : {label}\">{shapes}</svg>"
    )
}

/// Before putting back the messages whose fate is unknown: how many, and the risk.
async fn confirm_resend(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let issue = app.store.issue(id).await?;
    let n = newsletter_of(&issue)?;
    let counts = app.store.delivery_counts(id).await?;
    let html = app.pages.render_desk(
        "resend",
        "Renvoyer les messages incertains",
        &chrome(&staff),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "id": id,
            "title_line": title_line(n, &printable_line(&issue.subject)),
            "unknown": counts.unknown,
        }),
    )?;
    Ok(Html(html))
}

async fn resend(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<super::desk::CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    app.store.issue(id).await?;
    app.store.requeue_unknown(id).await?;
    app.dispatcher.wake();
    Ok(Redirect::to(&format!("/admin/numeros/{id}/suivi")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_chart_draws_one_bar_per_issue_oldest_first_and_marks_this_one() {
        let history = vec![
            (9, "Décembre".to_string(), 120, 0, 0),
            (8, "Novembre <b>".to_string(), 60, 0, 1),
        ];
        let svg = history_chart(&history, 9);
        assert_eq!(svg.matches("<rect").count(), 2);
        let november = svg.find("Novembre").unwrap();
        assert!(november < svg.find("Décembre").unwrap(), "oldest first");
        assert!(svg.contains("Novembre &lt;b&gt; : 60 remis, 0 échecs, 1 incertains"));
        assert!(
            svg.contains("height=\"60.0\" fill=\"#c2410c\""),
            "this issue, tallest, marked"
        );
        assert!(svg.contains("height=\"30.0\" fill=\"#0b5563\""));
        assert!(!svg.contains("style"));
    }

    #[test]
    fn moments_read_as_people_say_them() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T08:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            french_moment(at, chrono_tz::Europe::Paris),
            "jeudi 3\u{a0}décembre\u{a0}2026 à 9 h"
        );
        let at = DateTime::parse_from_rfc3339("2026-07-02T07:30:00Z")
            .unwrap()
            .to_utc();
        assert!(french_moment(at, chrono_tz::Europe::Paris).ends_with("à 9 h 30"));
    }
}
