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
    check_csrf(&staff, &form.csrf)?;
    app.store.set_source_paused(&slug, true).await?;
    Ok(Redirect::to("/admin/sources?fait=suspendue").into_response())
}

async fn resume(
    State(app): State<AppState>,
    staff: Staff,
    Path(slug): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    app.store.set_source_paused(&slug, false).await?;
    Ok(Redirect::to("/admin/sources?fait=reprise").into_response())
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
