//! The watch inbox (`/admin/veille`): what the watch collected, newest first, one row per
//! story, filtered and searched; triage by buttons (and, with the desk's script, by keys);
//! an editor's edit of an item beside what its feed said.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::{NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use super::desk::{check_csrf, Staff};
use super::{AppState, WebError};
use crate::domain::{self, search, ItemStatus, Newsletter, SafeUrl, KNOWN_NEWSLETTERS};
use crate::render::{french_date, printable_line};
use crate::store::{DeskItem, InboxFilter, ItemEdit};

/// Stories per page.
const PAGE: i64 = 50;
/// A call closing within this many days stands out.
const SOON_DAYS: i64 = 14;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/veille", get(inbox))
        .route("/admin/veille/trier", axum::routing::post(triage))
        .route("/admin/veille/{id}", get(edit_page).post(save_edit))
}

/// The inbox's query string: every filter a link can carry. Unreadable values are ignored
/// (the page says so) rather than refused: a shared link keeps working.
#[derive(Debug, Default, Deserialize, Serialize, Clone)]
#[serde(default)]
pub struct InboxQuery {
    q: String,
    source: String,
    theme: String,
    country: String,
    etat: String,
    du: String,
    au: String,
    limite: String,
    avant: String,
}

impl InboxQuery {
    fn date(raw: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
    }

    fn filter(&self, app: &AppState) -> (InboxFilter, Vec<&'static str>) {
        let mut problems = Vec::new();
        let zone = app.config.timezone;
        let mut day = |raw: &str, what: &'static str| {
            if raw.trim().is_empty() {
                return None;
            }
            let d = Self::date(raw);
            if d.is_none() {
                problems.push(what);
            }
            d
        };
        let from = day(
            &self.du,
            "« Publié depuis » n'est pas une date (AAAA-MM-JJ) : ignoré.",
        );
        let to = day(
            &self.au,
            "« Publié jusqu'au » n'est pas une date (AAAA-MM-JJ) : ignoré.",
        );
        let deadline = day(
            &self.limite,
            "« Date limite avant » n'est pas une date (AAAA-MM-JJ) : ignoré.",
        );
        let local = |d: NaiveDate, h: u32, m: u32, s: u32| {
            d.and_hms_opt(h, m, s)
                .and_then(|t| zone.from_local_datetime(&t).earliest())
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        let status = match self.etat.as_str() {
            "" => Some(ItemStatus::New),
            "tous" => None,
            other => ItemStatus::parse(other).or(Some(ItemStatus::New)),
        };
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        (
            InboxFilter {
                terms: search::terms(&self.q),
                source: some(&self.source),
                theme: some(&self.theme),
                country: some(&self.country),
                status,
                from: from.and_then(|d| local(d, 0, 0, 0)),
                to: to.and_then(|d| local(d, 23, 59, 59)),
                deadline_before: deadline,
                before_id: self.avant.trim().parse().ok(),
                limit: PAGE * 3,
            },
            problems,
        )
    }

    /// This query as a query string, without the page cursor.
    fn without_cursor(&self) -> String {
        let mut q = self.clone();
        q.avant.clear();
        query_string(&q)
    }
}

fn query_string(q: &InboxQuery) -> String {
    let pairs = [
        ("q", &q.q),
        ("source", &q.source),
        ("theme", &q.theme),
        ("country", &q.country),
        ("etat", &q.etat),
        ("du", &q.du),
        ("au", &q.au),
        ("limite", &q.limite),
        ("avant", &q.avant),
    ];
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(list: impl IntoIterator<Item = (String, String)>, current: &str) -> Vec<Choice> {
    list.into_iter()
        .map(|(value, label)| Choice {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

#[derive(Serialize)]
struct Also {
    id: i64,
    source: String,
    url: Option<SafeUrl>,
}

#[derive(Serialize)]
struct Row {
    id: i64,
    title: String,
    url: Option<SafeUrl>,
    source: String,
    date: String,
    excerpt: String,
    themes: Vec<String>,
    countries: Vec<String>,
    deadline: Option<String>,
    deadline_soon: bool,
    deadline_past: bool,
    status: &'static str,
    is_new: bool,
    changed: bool,
    edited: bool,
    selected_for: Option<&'static str>,
    placements: Vec<String>,
    also: Vec<Also>,
    /// The other ids of the story, separated by spaces (`data-similar`).
    similar: String,
}

fn excerpt(text: &str) -> String {
    let text = printable_line(text);
    match text.char_indices().nth(240) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text,
    }
}

/// The inbox: one row per story, newest first.
async fn inbox(
    State(app): State<AppState>,
    staff: Staff,
    Query(q): Query<InboxQuery>,
) -> Result<Html<String>, WebError> {
    let (filter, problems) = q.filter(&app);
    let (items, total) = app.store.inbox(&filter).await?;
    // One row per story among the matches, the newest match first; up to a page of stories.
    let mut order: Vec<i64> = Vec::new();
    let mut last_seen = None;
    for item in &items {
        if order.len() as i64 == PAGE && !order.contains(&item.story_id) {
            break;
        }
        if !order.contains(&item.story_id) {
            order.push(item.story_id);
        }
        last_seen = Some(item.id);
    }
    let more = items.len() as i64 == filter.limit || last_seen != items.last().map(|i| i.id);
    let members = app.store.story_members(&order).await?;
    let mut by_story: HashMap<i64, Vec<&DeskItem>> = HashMap::new();
    for m in &members {
        by_story.entry(m.story_id).or_default().push(m);
    }
    let shown: Vec<&DeskItem> = order
        .iter()
        .filter_map(|story| items.iter().find(|i| i.story_id == *story))
        .collect();
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let mut placements: HashMap<i64, Vec<String>> = HashMap::new();
    for p in app.store.placements(&ids).await? {
        let name = Newsletter::find(&p.newsletter).map_or("?", |n| n.name);
        placements
            .entry(p.item_id)
            .or_default()
            .push(format!("n° {} ({name})", p.issue_id));
    }
    let today = app
        .store
        .now()
        .with_timezone(&app.config.timezone)
        .date_naive();
    let rows: Vec<Row> = shown
        .iter()
        .map(|item| {
            let others: Vec<&&DeskItem> = by_story
                .get(&item.story_id)
                .map(|v| v.iter().filter(|m| m.id != item.id).collect())
                .unwrap_or_default();
            let days_left = item.deadline.map(|d| (d - today).num_days());
            Row {
                id: item.id,
                title: printable_line(&item.title),
                url: SafeUrl::checked(item.url.as_deref()),
                source: printable_line(&item.source_name),
                date: french_date(
                    item.published_at
                        .unwrap_or(item.fetched_at)
                        .with_timezone(&app.config.timezone)
                        .date_naive(),
                ),
                excerpt: excerpt(&item.summary_text),
                themes: item
                    .themes
                    .iter()
                    .map(|t| super::public::theme_label(t))
                    .collect(),
                countries: item
                    .countries
                    .iter()
                    .map(|c| domain::country_name(c).unwrap_or(c).to_string())
                    .collect(),
                deadline: item.deadline.map(french_date),
                deadline_soon: days_left.is_some_and(|d| (0..=SOON_DAYS).contains(&d)),
                deadline_past: days_left.is_some_and(|d| d < 0),
                status: item.status.label(),
                is_new: item.status == ItemStatus::New,
                changed: item.changed,
                edited: item.edited,
                selected_for: item
                    .selected_for
                    .as_deref()
                    .and_then(Newsletter::find)
                    .map(|n| n.name),
                placements: std::iter::once(item.id)
                    .chain(others.iter().map(|o| o.id))
                    .flat_map(|id| placements.get(&id).cloned().unwrap_or_default())
                    .collect(),
                similar: others
                    .iter()
                    .map(|o| o.id.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                also: others
                    .iter()
                    .map(|o| Also {
                        id: o.id,
                        source: printable_line(&o.source_name),
                        url: SafeUrl::checked(o.url.as_deref()),
                    })
                    .collect(),
            }
        })
        .collect();
    let sources = app.store.source_choices().await?;
    let failing: Vec<String> = sources
        .iter()
        .filter(|(_, _, state)| *state == domain::SourceState::Failing)
        .map(|(_, name, _)| printable_line(name))
        .collect();
    let selected = app.store.selected_counts().await?;
    let selected: Vec<serde_json::Value> = KNOWN_NEWSLETTERS
        .iter()
        .map(|n| {
            let count = selected
                .iter()
                .find(|(slug, _)| slug == n.slug)
                .map_or(0, |(_, c)| *c);
            serde_json::json!({ "name": n.name, "count": count })
        })
        .collect();
    let next = more.then_some(last_seen).flatten().map(|id| {
        let mut next = q.clone();
        next.avant = id.to_string();
        format!("/admin/veille?{}", query_string(&next))
    });
    let states = [
        ("", "Nouveaux"),
        ("selected", "Retenus"),
        ("dismissed", "Écartés"),
        ("published", "Publiés"),
        ("tous", "Tous"),
    ];
    let html = app.pages.render_desk(
        "inbox",
        "Veille",
        &staff.chrome("veille"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "q": q.q,
            "du": q.du,
            "au": q.au,
            "limite": q.limite,
            "problems": problems,
            "total": if total > crate::store::COUNT_CAP {
                format!("Plus de {}\u{a0}000", crate::store::COUNT_CAP / 1000)
            } else {
                total.to_string()
            },
            "rows": rows,
            "next": next,
            "first_page": q.avant.is_empty(),
            "retour": q.without_cursor(),
            "failing": failing,
            "selected": selected,
            "newsletters": KNOWN_NEWSLETTERS.iter().map(|n| serde_json::json!({"slug": n.slug, "name": n.name})).collect::<Vec<_>>(),
            "sources": choices(sources.iter().map(|(slug, name, _)| (slug.clone(), printable_line(name))), &q.source),
            "themes": choices(domain::THEMES.iter().map(|t| (t.to_string(), super::public::theme_label(t))), &q.theme),
            "countries": choices(domain::COUNTRIES.iter().map(|(c, n)| (c.to_string(), n.to_string())), &q.country),
            "states": choices(states.iter().map(|(v, l)| (v.to_string(), l.to_string())), &q.etat),
        }),
    )?;
    Ok(Html(html))
}

/// The first value of a form field, empty if absent.
fn field(fields: &[(String, String)], key: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The triage form: the rows ticked (`id`, repeatable) and a bulk `action`, or one row's
/// button (`ligne` = `action:id`). An action on a row applies to its whole story. Actions:
/// `selectionner-TITLE`, `ecarter`, `remettre`.
async fn triage(
    State(app): State<AppState>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| field(&fields, k);
    check_csrf(&staff, &get("csrf"))?;
    let ligne = get("ligne");
    let (action, ids): (String, Vec<i64>) = if ligne.is_empty() {
        let ids = fields
            .iter()
            .filter(|(k, _)| k == "id")
            .filter_map(|(_, v)| v.parse().ok())
            .collect();
        (get("action"), ids)
    } else {
        let (action, id) = ligne
            .rsplit_once(':')
            .ok_or_else(|| WebError::BadRequest("Action inconnue.".into()))?;
        let id: i64 = id
            .parse()
            .map_err(|_| WebError::BadRequest("Action inconnue.".into()))?;
        (action.to_string(), vec![id])
    };
    if ids.is_empty() {
        return Err(WebError::BadRequest(
            "Cochez au moins un élément avant de choisir une action.".into(),
        ));
    }
    if ids.len() > 500 {
        return Err(WebError::BadRequest(
            "Au plus 500 éléments à la fois.".into(),
        ));
    }
    // A story is triaged whole.
    let stories: Vec<i64> = {
        let mut s = Vec::new();
        for id in &ids {
            s.push(app.store.desk_item(*id).await?.story_id);
        }
        s
    };
    let all: Vec<i64> = app
        .store
        .story_members(&stories)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    match action.as_str() {
        "ecarter" => {
            app.store.triage(&all, ItemStatus::Dismissed, None).await?;
        }
        "remettre" => {
            app.store.triage(&all, ItemStatus::New, None).await?;
        }
        other => {
            let slug = other.strip_prefix("selectionner-").unwrap_or_default();
            let n = Newsletter::find(slug)
                .ok_or_else(|| WebError::BadRequest("Action inconnue.".into()))?;
            crate::desk::compose::select_items(&app.store, &app.config.sections, &all, n).await?;
        }
    }
    Ok(back_to_inbox(&get("retour")))
}

/// Back to the inbox with the filters it had. Only a query string is kept from the form, so
/// the answer can never send anyone elsewhere.
fn back_to_inbox(retour: &str) -> Response {
    let q: InboxQuery = query_from(retour);
    let qs = query_string(&q);
    let target = if qs.is_empty() {
        "/admin/veille".to_string()
    } else {
        format!("/admin/veille?{qs}")
    };
    Redirect::to(&target).into_response()
}

fn query_from(raw: &str) -> InboxQuery {
    let mut q = InboxQuery::default();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "q" => q.q = v,
            "source" => q.source = v,
            "theme" => q.theme = v,
            "country" => q.country = v,
            "etat" => q.etat = v,
            "du" => q.du = v,
            "au" => q.au = v,
            "limite" => q.limite = v,
            _ => {}
        }
    }
    q
}

#[derive(Deserialize)]
struct ReturnQuery {
    #[serde(default)]
    retour: String,
}

async fn edit_page(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(r): Query<ReturnQuery>,
) -> Result<Html<String>, WebError> {
    let item = app.store.desk_item(id).await?;
    Ok(Html(edit_form(&app, &staff, &item, &r.retour, None)?))
}

fn edit_form(
    app: &AppState,
    staff: &Staff,
    item: &DeskItem,
    retour: &str,
    error: Option<&str>,
) -> Result<String, WebError> {
    let themes: Vec<serde_json::Value> = domain::THEMES
        .iter()
        .map(|t| {
            serde_json::json!({
                "value": t,
                "label": super::public::theme_label(t),
                "checked": item.themes.iter().any(|x| x == t),
            })
        })
        .collect();
    let countries: Vec<serde_json::Value> = domain::COUNTRIES
        .iter()
        .map(|(c, n)| {
            serde_json::json!({
                "value": c,
                "label": n,
                "selected": item.countries.iter().any(|x| x == c),
            })
        })
        .collect();
    Ok(app.pages.render_desk(
        "item",
        &format!("Modifier — {}", printable_line(&item.title)),
        &staff.chrome("veille"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "id": item.id,
            "title": printable_line(&item.title),
            "feed_title": printable_line(&item.feed_title),
            "summary": item.summary_text,
            "feed_summary": item.feed_summary_text,
            "deadline": item.deadline.map(|d| d.to_string()).unwrap_or_default(),
            "feed_deadline": item.feed_deadline.map(french_date),
            "source": printable_line(&item.source_name),
            "url": SafeUrl::checked(item.url.as_deref()),
            "edited": item.edited,
            "themes": themes,
            "countries": countries,
            "retour": retour,
            "error": error,
        }),
    )?)
}

async fn save_edit(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| field(&fields, k);
    check_csrf(&staff, &get("csrf"))?;
    let item = app.store.desk_item(id).await?;
    let retour = get("retour");
    let title = crate::watch::clean::clean_title(&get("title"));
    let deadline_raw = get("deadline");
    let deadline = match deadline_raw.trim() {
        "" => None,
        raw => match InboxQuery::date(raw) {
            Some(d) => Some(d),
            None => {
                let page = edit_form(
                    &app,
                    &staff,
                    &item,
                    &retour,
                    Some("La date limite doit s'écrire AAAA-MM-JJ, par exemple 2027-01-15."),
                )?;
                return Ok(
                    (axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()
                );
            }
        },
    };
    if title.is_empty() {
        let page = edit_form(
            &app,
            &staff,
            &item,
            &retour,
            Some("Le titre ne peut pas être vide."),
        )?;
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response());
    }
    let summary: String = crate::watch::clean::strip_controls(&get("summary"))
        .chars()
        .take(5_000)
        .collect();
    let themes = fields
        .iter()
        .filter(|(k, v)| k == "theme" && domain::THEMES.contains(&v.as_str()))
        .map(|(_, v)| v.clone())
        .collect();
    let countries = fields
        .iter()
        .filter(|(k, _)| k == "country")
        .filter_map(|(_, v)| domain::parse_country(v))
        .collect();
    app.store
        .edit_item(
            id,
            &ItemEdit {
                title,
                summary,
                deadline,
                themes,
                countries,
            },
        )
        .await?;
    Ok(back_to_inbox(&retour))
}
