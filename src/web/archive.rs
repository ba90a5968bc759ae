//! The public archive: every sent issue at a stable URL, an index per title with pages, an
//! Atom feed per title, and an Atom feed of the watch items editors published.

use atom_syndication::{Category, Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AppState, Policy, WebError};
use crate::domain::{IssueStatus, Newsletter, SafeUrl, KNOWN_NEWSLETTERS};
use crate::render::{french_date, printable_line, IssueView};
use crate::store::IssueRow;

const PER_PAGE: i64 = 20;
const FEED_ISSUES: i64 = 20;
const FEED_ITEMS: i64 = 50;
/// Archives change when an issue goes out; a few minutes of caching spares feed readers' polls.
const CACHE: &str = "public, max-age=300";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/lettres", get(titles))
        .route("/lettres/{newsletter}", get(title_index))
        .route("/lettres/{newsletter}/atom.xml", get(title_feed))
        .route("/lettres/{newsletter}/{id}", get(issue_page))
        .route("/veille/atom.xml", get(watch_feed))
}

#[derive(Serialize)]
struct TitleView {
    name: &'static str,
    of_name: &'static str,
    tagline: &'static str,
    url: String,
    feed: String,
    issues: Vec<IssueLink>,
    newer: Option<String>,
    older: Option<String>,
}

#[derive(Serialize)]
struct IssueLink {
    subject: String,
    url: String,
    date: String,
}

/// No archive will ever have this many pages; larger numbers are refused before any
/// arithmetic on them.
const MAX_PAGE: i64 = 1_000_000;

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
}

fn newsletter(slug: &str) -> Result<&'static Newsletter, WebError> {
    Newsletter::find(slug).ok_or(WebError::NotFound)
}

fn cached(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, CACHE),
        ],
        body,
    )
        .into_response()
}

async fn title_view(
    app: &AppState,
    n: &'static Newsletter,
    page: i64,
    per_page: i64,
) -> Result<TitleView, WebError> {
    let (issues, total) = app
        .store
        .sent_issues(n.slug, per_page, (page - 1) * per_page)
        .await?;
    if page > 1 && issues.is_empty() {
        return Err(WebError::NotFound);
    }
    let index = format!("/lettres/{}", n.slug);
    let page_url = |p: i64| {
        if p == 1 {
            index.clone()
        } else {
            format!("{index}?page={p}")
        }
    };
    Ok(TitleView {
        name: n.name,
        of_name: n.of_name,
        tagline: n.tagline,
        url: index.clone(),
        feed: format!("{index}/atom.xml"),
        issues: issues
            .iter()
            .map(|i| IssueLink {
                subject: printable_line(&i.subject),
                url: format!("{index}/{}", i.id),
                date: i
                    .sent_at
                    .map(|t| local_date(t, app.config.timezone))
                    .unwrap_or_default(),
            })
            .collect(),
        newer: (page > 1).then(|| page_url(page - 1)),
        older: (page * per_page < total).then(|| page_url(page + 1)),
    })
}

fn local_date(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    french_date(t.with_timezone(&zone).date_naive())
}

/// Both titles, with their latest issues.
async fn titles(State(app): State<AppState>) -> Result<Html<String>, WebError> {
    let mut titles = Vec::new();
    for n in KNOWN_NEWSLETTERS {
        let mut view = title_view(&app, n, 1, 3).await?;
        view.older = None;
        titles.push(view);
    }
    let html = app.pages.render(
        "archive",
        "Les lettres",
        &serde_json::json!({ "heading": "Les lettres d'Occitanie Coopération", "titles": titles, "full": false }),
    )?;
    Ok(Html(html))
}

async fn title_index(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let n = newsletter(&slug)?;
    // Past the last page is not found; so is a page number whose offset would not fit.
    let page = q.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(WebError::NotFound);
    }
    let view = title_view(&app, n, page, PER_PAGE).await?;
    let feed = view.feed.clone();
    let html = app.pages.render_with_feed(
        "archive",
        n.name,
        &serde_json::json!({ "heading": n.name, "titles": [view], "full": true }),
        Some(&feed),
    )?;
    Ok(cached("text/html; charset=utf-8", html))
}

/// The web version of a sent issue, without personal links.
async fn issue_page(
    State(app): State<AppState>,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, WebError> {
    let issue = app.store.issue(id).await?;
    if issue.newsletter != slug || issue.status != IssueStatus::Sent {
        return Err(WebError::NotFound);
    }
    let view = issue_view(&app, &issue).await?;
    let sent_on = issue
        .sent_at
        .map(|t| t.with_timezone(&app.config.timezone).date_naive());
    let rendered = app.renderer.render_issue(&view.for_web(sent_on))?;
    let html = in_main_landmark(&rendered.html);
    Ok(Policy::Issue.on(cached("text/html; charset=utf-8", html)))
}

/// The web version is the email's HTML; on a web page its content belongs in a `main`
/// landmark (screen readers jump to it), which email clients have no use for.
fn in_main_landmark(html: &str) -> String {
    let open = html
        .find("<body")
        .and_then(|at| html[at..].find('>').map(|end| at + end + 1));
    let close = html.rfind("</body>");
    match (open, close) {
        (Some(open), Some(close)) if open <= close => format!(
            "{}<main>{}</main>{}",
            &html[..open],
            &html[open..close],
            &html[close..]
        ),
        _ => html.to_string(),
    }
}

async fn issue_view(app: &AppState, issue: &IssueRow) -> anyhow::Result<IssueView> {
    crate::desk::view_of(&app.store, &app.links, issue, &app.masthead).await
}

pub(super) fn atom_time(t: DateTime<Utc>) -> FixedDateTime {
    t.fixed_offset()
}

pub(super) fn link(rel: &str, href: String, mime: Option<&str>) -> Link {
    Link {
        rel: rel.into(),
        href,
        mime_type: mime.map(str::to_string),
        ..Default::default()
    }
}

pub(super) fn feed(
    id: String,
    title: &str,
    subtitle: &str,
    self_url: String,
    page_url: String,
) -> Feed {
    Feed {
        id,
        title: Text::plain(title),
        subtitle: Some(Text::plain(subtitle)),
        lang: Some("fr".into()),
        links: vec![
            link("self", self_url, Some("application/atom+xml")),
            link("alternate", page_url, Some("text/html")),
        ],
        ..Default::default()
    }
}

/// The last issues of a title; each entry's content is the issue's table of contents.
async fn title_feed(
    State(app): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let n = newsletter(&slug)?;
    let (issues, _) = app.store.sent_issues(n.slug, FEED_ISSUES, 0).await?;
    let index = app.links.page(&format!("/lettres/{}", n.slug));
    let mut out = feed(
        index.clone(),
        n.name,
        n.tagline,
        format!("{index}/atom.xml"),
        index.clone(),
    );
    out.authors = vec![Person {
        name: app.config.organisation.clone(),
        ..Default::default()
    }];
    for issue in &issues {
        out.entries.push(issue_entry(&app, n, issue).await?);
    }
    out.updated = issues
        .first()
        .and_then(|i| i.sent_at)
        .map(atom_time)
        .unwrap_or_else(|| atom_time(DateTime::UNIX_EPOCH));
    Ok(cached(
        "application/atom+xml; charset=utf-8",
        out.to_string(),
    ))
}

async fn issue_entry(
    app: &AppState,
    n: &'static Newsletter,
    issue: &IssueRow,
) -> Result<Entry, WebError> {
    let view = issue_view(app, issue).await?;
    let url = app.links.issue_page(n.slug, issue.id);
    let sent = atom_time(issue.sent_at.unwrap_or(issue.created_at));
    Ok(Entry {
        id: url.clone(),
        title: Text::plain(view.subject.clone()),
        updated: sent,
        published: Some(sent),
        links: vec![link("alternate", url, Some("text/html"))],
        summary: Some(Text::plain(view.preheader.clone())),
        content: Some(Content {
            content_type: Some("html".into()),
            value: Some(contents_html(&view)),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The intro, then each section's titles as links: enough for a feed reader to choose.
fn contents_html(view: &IssueView) -> String {
    use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
    let mut html = String::new();
    if !view.intro.trim().is_empty() {
        html.push_str(&format!("<p>{}</p>", text(&view.intro)));
    }
    for section in &view.sections {
        html.push_str(&format!("<h2>{}</h2><ul>", text(&section.heading)));
        for e in &section.entries {
            match &e.url {
                Some(url) => html.push_str(&format!(
                    "<li><a href=\"{}\">{}</a></li>",
                    attr(url.as_str()),
                    text(&e.title)
                )),
                None => html.push_str(&format!("<li>{}</li>", text(&e.title))),
            }
        }
        html.push_str("</ul>");
    }
    html
}

/// The watch items that went out in sent issues, for partners who syndicate the network's
/// watch. Each entry links to the item's source and is dated when it went out.
async fn watch_feed(State(app): State<AppState>) -> Result<Response, WebError> {
    let items = app.store.published_items(FEED_ITEMS).await?;
    let self_url = app.links.page("/veille/atom.xml");
    let mut out = feed(
        self_url.clone(),
        &format!("La veille d'{}", app.config.organisation),
        "Appels à projets, politiques publiques et ressources sélectionnés par l'équipe éditoriale",
        self_url,
        app.links.page("/lettres"),
    );
    let out_id = out.id.clone();
    out.updated = items
        .first()
        .map(|i| atom_time(i.sent_at))
        .unwrap_or_else(|| atom_time(DateTime::UNIX_EPOCH));
    out.entries = items
        .iter()
        .map(|i| Entry {
            id: format!("{}#element-{}", out_id, i.id),
            title: Text::plain(printable_line(&i.title)),
            updated: atom_time(i.sent_at),
            published: Some(atom_time(i.sent_at)),
            authors: vec![Person {
                name: printable_line(&i.source_name),
                ..Default::default()
            }],
            links: SafeUrl::checked(i.url.as_deref())
                .map(|u| link("alternate", u.into(), None))
                .into_iter()
                .collect(),
            categories: i
                .themes
                .iter()
                .map(|t| Category {
                    term: printable_line(t),
                    ..Default::default()
                })
                .collect(),
            summary: Some(Text::plain(crate::render::plain_text(&i.summary))),
            ..Default::default()
        })
        .collect();
    Ok(cached(
        "application/atom+xml; charset=utf-8",
        out.to_string(),
    ))
}
