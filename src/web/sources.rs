//! The sources at the desk (`/admin/sources`): one line per feed with its state, its last
//! fetch, its last error in plain words, the items it brought each week for twelve weeks as a
//! sparkline; pause, resume, fetch now.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::composer::french_moment;
use super::desk::{check_csrf, CsrfForm, Staff};
use super::{AppState, WebError};
use crate::domain::SourceState;
use crate::render::printable_line;
use crate::store::SourceRow;

const WEEKS: usize = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/sources", get(list))
        .route("/admin/sources/{slug}/suspendre", post(pause))
        .route("/admin/sources/{slug}/reprendre", post(resume))
        .route("/admin/sources/{slug}/relever", post(fetch_now))
        .route("/admin/sources/nouvelle", get(new_page).post(discover))
        .route("/admin/sources/{slug}/modifier", get(edit_page))
        .route("/admin/sources/enregistrer", post(save))
}

/// Poll intervals offered at the desk.
const EVERY: [(&str, &str); 5] = [
    ("1800s", "toutes les 30 minutes"),
    ("3600s", "toutes les heures"),
    ("21600s", "toutes les 6 heures"),
    ("43200s", "deux fois par jour"),
    ("86400s", "une fois par jour"),
];

/// A slug made from a name: lower case, no accents, words joined by dashes.
fn slug_of(name: &str) -> String {
    crate::domain::search::fold(name)
        .split(' ')
        .filter(|w| !w.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-")
}

/// The source form: empty for a new feed at `url`, or filled with a source's settings.
struct SourceForm {
    url: String,
    name: String,
    slug: String,
    newsletter: String,
    themes: Vec<String>,
    every: String,
    allow_private: bool,
    editing: bool,
}

fn source_form_view(staff: &Staff, f: &SourceForm) -> serde_json::Value {
    serde_json::json!({
        "csrf": staff.session.csrf_token,
        "url": f.url,
        "name": f.name,
        "slug": f.slug,
        "editing": f.editing,
        "admin": staff.is_admin(),
        "allow_private": f.allow_private,
        "newsletters": crate::domain::KNOWN_NEWSLETTERS.iter().map(|n| serde_json::json!({
            "slug": n.slug, "name": n.name, "selected": n.slug == f.newsletter,
        })).collect::<Vec<_>>(),
        "themes": crate::domain::THEMES.iter().map(|t| serde_json::json!({
            "value": t, "label": super::public::theme_label(t), "checked": f.themes.iter().any(|x| x == t),
        })).collect::<Vec<_>>(),
        "every": EVERY.iter().map(|(v, l)| serde_json::json!({
            "value": v, "label": l, "selected": *v == f.every,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DiscoverForm {
    csrf: String,
    adresse: String,
    prive: String,
}

async fn new_page(State(app): State<AppState>, staff: Staff) -> Result<Html<String>, WebError> {
    Ok(Html(app.pages.render_desk(
        "source-new",
        "Ajouter une source",
        &staff.chrome("sources"),
        &serde_json::json!({ "csrf": staff.session.csrf_token, "admin": staff.is_admin(), "adresse": "", "candidates": [], "tried": false }),
    )?))
}

/// Paste a site's address: the feeds it announces (or the feed itself), each with what it
/// would bring, and a form to add it.
async fn discover(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<DiscoverForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let raw = form.adresse.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let allow_private = staff.is_admin() && form.prive == "oui";
    let url = url::Url::parse(&with_scheme)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    let Some(url) = url else {
        let html = app.pages.render_desk(
            "source-new",
            "Ajouter une source",
            &staff.chrome("sources"),
            &serde_json::json!({ "csrf": staff.session.csrf_token, "admin": staff.is_admin(), "adresse": raw, "candidates": [], "tried": false,
                "error": "Cette adresse n'est pas lisible : collez l'adresse d'un site, par exemple https://www.afd.fr/fr/actualites." }),
        )?;
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    };
    let reports = app.watcher.discover(&url, allow_private).await;
    let candidates: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let readable = r.entries.is_some_and(|n| n > 0);
            let name = if r.source == "essai" {
                url.host_str()
                    .unwrap_or_default()
                    .trim_start_matches("www.")
                    .to_string()
            } else {
                r.source.clone()
            };
            let mut view = source_form_view(
                &staff,
                &SourceForm {
                    url: r.url.clone(),
                    slug: slug_of(&name),
                    name,
                    newsletter: "coopdev-info".into(),
                    themes: Vec::new(),
                    every: "3600s".into(),
                    allow_private,
                    editing: false,
                },
            );
            view["readable"] = readable.into();
            view["entries"] = r.entries.unwrap_or(0).into();
            view["sample"] = r
                .sample
                .iter()
                .map(|t| printable_line(t))
                .collect::<Vec<_>>()
                .into();
            view["problem"] = r.error.as_deref().map(printable_line).into();
            view
        })
        .collect();
    let html = app.pages.render_desk(
        "source-new",
        "Ajouter une source",
        &staff.chrome("sources"),
        &serde_json::json!({ "csrf": staff.session.csrf_token, "admin": staff.is_admin(), "adresse": raw, "candidates": candidates, "tried": true }),
    )?;
    Ok(Html(html).into_response())
}

async fn edit_page(
    State(app): State<AppState>,
    staff: Staff,
    Path(slug): Path<String>,
) -> Result<Html<String>, WebError> {
    let config = app.watcher.config(&slug).ok_or(WebError::NotFound)?;
    let every = format!("{}s", config.every.as_secs());
    let view = source_form_view(
        &staff,
        &SourceForm {
            url: config.url.to_string(),
            name: config.name.clone(),
            slug: config.slug.clone(),
            newsletter: config.newsletter.to_string(),
            themes: config.themes.clone(),
            every,
            allow_private: config.allow_private,
            editing: true,
        },
    );
    Ok(Html(app.pages.render_desk(
        "source-edit",
        &format!("Modifier — {}", printable_line(&config.name)),
        &staff.chrome("sources"),
        &view,
    )?))
}

/// Saves a source defined at the desk: checked by the same code as sources.toml, kept in the
/// database (it wins over the file's entry of the same slug), polled from now on.
async fn save(
    State(app): State<AppState>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let one = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    check_csrf(&staff, &one("csrf"))?;
    let existing = app.watcher.config(&one("slug"));
    let editing = one("modification") == "oui";
    // Only an admin may let a source reach the local network; an edit keeps what was set.
    let allow_private = if staff.is_admin() {
        one("prive") == "oui"
    } else {
        existing.as_ref().is_some_and(|c| c.allow_private)
    };
    let form = SourceForm {
        url: one("url"),
        name: printable_line(&one("nom")),
        slug: one("slug"),
        newsletter: one("lettre"),
        themes: fields
            .iter()
            .filter(|(k, v)| k == "theme" && crate::domain::THEMES.contains(&v.as_str()))
            .map(|(_, v)| v.clone())
            .collect(),
        every: one("frequence"),
        allow_private,
        editing,
    };
    let refuse = |message: String, form: &SourceForm| -> Result<Response, WebError> {
        let mut view = source_form_view(&staff, form);
        view["error"] = message.into();
        let html =
            app.pages
                .render_desk("source-edit", "Source", &staff.chrome("sources"), &view)?;
        Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
    };
    if existing.is_some() && !editing {
        return refuse(
            format!(
                "Une source s'appelle déjà « {} » : choisissez un autre nom court.",
                form.slug
            ),
            &form,
        );
    }
    let every = EVERY
        .iter()
        .find(|(v, _)| *v == form.every)
        .map_or("3600s", |(v, _)| v);
    // The definition is written as sources.toml would hold it and read back by its parser:
    // one validation for the file and the desk.
    let mut table = toml::map::Map::new();
    table.insert("slug".into(), form.slug.clone().into());
    table.insert("name".into(), form.name.clone().into());
    table.insert("url".into(), form.url.clone().into());
    table.insert("newsletter".into(), form.newsletter.clone().into());
    table.insert(
        "themes".into(),
        form.themes
            .iter()
            .cloned()
            .map(toml::Value::from)
            .collect::<Vec<_>>()
            .into(),
    );
    table.insert("every".into(), every.into());
    table.insert("allow_private".into(), form.allow_private.into());
    if let Some(c) = &existing {
        table.insert(
            "countries".into(),
            c.countries
                .iter()
                .cloned()
                .map(toml::Value::from)
                .collect::<Vec<_>>()
                .into(),
        );
        table.insert(
            "keep".into(),
            c.keep
                .iter()
                .cloned()
                .map(toml::Value::from)
                .collect::<Vec<_>>()
                .into(),
        );
        table.insert("enabled".into(), c.enabled.into());
    }
    let mut root = toml::map::Map::new();
    root.insert(
        "source".into(),
        toml::Value::Array(vec![toml::Value::Table(table)]),
    );
    let definition = toml::to_string(&toml::Value::Table(root)).map_err(anyhow::Error::from)?;
    let parsed = match crate::config::Sources::parse(&definition, "la source") {
        Ok(p) => p,
        Err(e) => return refuse(format!("Source refusée : {e}"), &form),
    };
    let Some(config) = parsed.sources.into_iter().next() else {
        return refuse("Source refusée.".into(), &form);
    };
    app.store
        .save_desk_source(&config.slug, &definition)
        .await?;
    app.store.sync_source(&config).await?;
    app.watcher.add_source(config);
    Ok(Redirect::to("/admin/sources?fait=enregistree").into_response())
}

/// Items per week, oldest week first, the last one ending now.
pub fn weekly(times: impl Iterator<Item = DateTime<Utc>>, now: DateTime<Utc>) -> [u32; WEEKS] {
    let mut weeks = [0u32; WEEKS];
    for t in times {
        let age = (now - t).num_days();
        if (0..(WEEKS as i64 * 7)).contains(&age) {
            weeks[WEEKS - 1 - (age / 7) as usize] += 1;
        }
    }
    weeks
}

/// A sparkline as inline SVG (no style attribute: the page's policy allows none), with the
/// figures in its title for screen readers.
pub fn sparkline(weeks: &[u32]) -> String {
    let (w, h) = (96.0, 24.0);
    let max = weeks.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = w / (weeks.len().saturating_sub(1).max(1)) as f64;
    let points: Vec<String> = weeks
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 2.0 - (*n as f64 / max) * (h - 4.0)
            )
        })
        .collect();
    let figures: Vec<String> = weeks.iter().map(u32::to_string).collect();
    format!(
        "<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"Éléments par semaine sur 12 semaines : {}\"><polyline fill=\"none\" \
         stroke=\"#0b5563\" stroke-width=\"2\" points=\"{}\"/></svg>",
        figures.join(", "),
        points.join(" ")
    )
}

/// The last error as people say it: what happened and for how long.
fn problem(row: &SourceRow, now: DateTime<Utc>) -> Option<String> {
    let error = row.last_error.as_deref().map(printable_line)?;
    if row.state == SourceState::Ok {
        return Some(format!("Dernière remarque : {error}"));
    }
    let since = row.failing_since.map(|t| (now - t).num_days());
    Some(match since {
        Some(0) | None => format!("{error} depuis aujourd'hui"),
        Some(1) => format!("{error} depuis hier"),
        Some(n) => format!("{error} depuis {n} jours"),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    fait: String,
}

async fn list(
    State(app): State<AppState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, WebError> {
    let notice = match q.fait.as_str() {
        "suspendue" => Some("Source suspendue : elle n'est plus relevée jusqu'à sa reprise."),
        "reprise" => Some("Source reprise : elle sera relevée à sa prochaine échéance."),
        "enregistree" => {
            Some("Source enregistrée : elle sera relevée dans la minute, puis à son rythme.")
        }
        _ => None,
    };
    render_list(&app, &staff, notice.map(str::to_string)).await
}

async fn render_list(
    app: &AppState,
    staff: &Staff,
    notice: Option<String>,
) -> Result<Html<String>, WebError> {
    let now = app.store.now();
    let zone = app.config.timezone;
    let rows = app.store.list_sources().await?;
    let collected = app
        .store
        .collected_since(now - chrono::Duration::weeks(WEEKS as i64))
        .await?;
    let lines: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let weeks = weekly(
                collected
                    .iter()
                    .filter(|(s, _)| *s == row.id)
                    .map(|(_, t)| *t),
                now,
            );
            let state = if row.paused_at.is_some() {
                "suspendue"
            } else if !row.enabled {
                "retirée de la liste"
            } else {
                row.state.label()
            };
            serde_json::json!({
                "slug": row.slug,
                "name": printable_line(&row.name),
                "url": row.url_in_use(),
                "state": state,
                "failing": row.state == SourceState::Failing,
                "paused": row.paused_at.is_some(),
                "last_fetch": row.last_fetched_at.map(|t| french_moment(t, zone)),
                "problem": problem(row, now),
                "items": row.item_count,
                "week_total": weeks.iter().sum::<u32>(),
                "sparkline": sparkline(&weeks),
            })
        })
        .collect();
    let html = app.pages.render_desk(
        "sources",
        "Sources",
        &staff.chrome("sources"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "sources": lines,
            "notice": notice,
            "failing": rows.iter().filter(|r| r.state == SourceState::Failing).count(),
        }),
    )?;
    Ok(Html(html))
}

async fn pause(
    State(app): State<AppState>,
    staff: Staff,
    Path(slug): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_paused(&app, &staff, &slug, &form, true).await
}

async fn resume(
    State(app): State<AppState>,
    staff: Staff,
    Path(slug): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_paused(&app, &staff, &slug, &form, false).await
}

/// *Suspendre* and *Reprendre*: one write, then the list with what was done.
async fn set_paused(
    app: &AppState,
    staff: &Staff,
    slug: &str,
    form: &CsrfForm,
    paused: bool,
) -> Result<Response, WebError> {
    check_csrf(staff, &form.csrf)?;
    app.store.set_source_paused(slug, paused).await?;
    let done = if paused { "suspendue" } else { "reprise" };
    Ok(Redirect::to(&format!("/admin/sources?fait={done}")).into_response())
}

/// Polls one source now and says what came of it.
async fn fetch_now(
    State(app): State<AppState>,
    staff: Staff,
    Path(slug): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let row = app.store.source_by_slug(&slug).await?;
    let summary = app
        .watcher
        .poll_now(std::slice::from_ref(&row.slug))
        .await?;
    let text = match summary.failing.first() {
        Some(report) => format!(
            "{} : échec — {}",
            printable_line(&row.name),
            report
                .error
                .as_deref()
                .map(printable_line)
                .unwrap_or_default()
        ),
        None if summary.unchanged_sources > 0 => {
            format!(
                "{} : rien de neuf depuis la dernière relève.",
                printable_line(&row.name)
            )
        }
        None => format!(
            "{} : {} nouvel(s) élément(s), {} mis à jour.",
            printable_line(&row.name),
            summary.new,
            summary.updated
        ),
    };
    Ok(render_list(&app, &staff, Some(text)).await?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_count_from_now_backwards_and_the_sparkline_says_its_figures() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .to_utc();
        let days = |d: i64| now - chrono::Duration::days(d);
        let weeks = weekly(
            [days(0), days(6), days(7), days(83), days(84), days(400)].into_iter(),
            now,
        );
        assert_eq!(weeks[WEEKS - 1], 2, "this week");
        assert_eq!(weeks[WEEKS - 2], 1, "last week");
        assert_eq!(weeks[0], 1, "twelve weeks ago; older ones are left out");
        assert_eq!(weeks.iter().sum::<u32>(), 4);
        let svg = sparkline(&weeks);
        assert!(
            svg.starts_with("<svg")
                && svg.contains("aria-label=\"Éléments par semaine sur 12 semaines : 1, 0,")
        );
        assert!(!svg.contains("style"));
        assert!(!sparkline(&[0; WEEKS]).contains("NaN"));
    }
}
