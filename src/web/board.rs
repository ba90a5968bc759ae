//! The public ads board (`/annonces`): approved ads still running, filtered by category and
//! département; a page per ad; an Atom feed. An ad that ran and stopped (withdrawn, expired,
//! unpublished) answers 410; one never published is not found.

use atom_syndication::{Category, Content, Entry, Person, Text};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::archive::{atom_time, feed, link};
use super::members::{category_label, departement_options};
use super::{AppState, WebError};
use crate::domain::{self, AdCategory};
use crate::render::french_date;
use crate::store::{AdRow, BoardFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/annonces", get(board))
        .route("/annonces/atom.xml", get(board_feed))
        .route("/annonces/{id}", get(ad_page))
}

#[derive(Deserialize, Default)]
struct BoardQuery {
    #[serde(default)]
    categorie: String,
    #[serde(default)]
    departement: String,
}

fn card(ad: &AdRow) -> serde_json::Value {
    serde_json::json!({
        "id": ad.id,
        "title": ad.title,
        "org": ad.org_name,
        "category": category_label(&ad.category),
        "departement": ad.departement.as_deref().map(domain::departement_label),
        "country": ad.country.as_deref().and_then(domain::country_name),
        "expires_on": french_date(ad.expires_on),
        "excerpt": crate::render::truncate(&crate::render::plain_text(&ad.body_html), 240),
    })
}

async fn board(
    State(app): State<AppState>,
    Query(q): Query<BoardQuery>,
) -> Result<Response, WebError> {
    // Unknown values filter nothing rather than failing: links get cut and edited.
    let category = AdCategory::parse(&q.categorie);
    let departement =
        Some(q.departement.clone()).filter(|d| domain::DEPARTEMENTS.contains(&d.as_str()));
    let ads = app
        .store
        .board_ads(
            app.today(),
            &BoardFilter {
                category,
                departement: departement.clone(),
            },
        )
        .await?;
    let html = app.pages.render_with_feed(
        "board",
        "Petites annonces",
        &serde_json::json!({
            "ads": ads.iter().map(card).collect::<Vec<_>>(),
            "count_label": match (ads.len(), category.is_some() || departement.is_some()) {
                (0, true) => "Aucune annonce en cours pour ces critères.".to_string(),
                (0, false) => "Aucune annonce en cours.".to_string(),
                (1, _) => "1 annonce en cours".to_string(),
                (n, _) => format!("{n} annonces en cours"),
            },
            "categories": AdCategory::ALL.iter().map(|c| serde_json::json!({
                "value": c.as_str(), "label": category_label(c.as_str()), "selected": Some(*c) == category,
            })).collect::<Vec<_>>(),
            "departements": departement_options(departement.as_deref().unwrap_or("")),
        }),
        Some("/annonces/atom.xml"),
    )?;
    Ok(Html(html).into_response())
}

async fn ad_page(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    let ad = app.store.ad(id).await?;
    let running = ad.state == "approved" && ad.expires_on >= app.today();
    if !running {
        // Never published: as if it did not exist. Published once: gone for good.
        let was_public = ad.approved_at.is_some();
        if !was_public {
            return Err(WebError::NotFound);
        }
        let html = app.pages.notice(
            "Annonce terminée",
            &[
                "Cette petite annonce n'est plus en ligne : elle a été retirée ou elle est arrivée à échéance.",
            ],
            Some(super::pages::Action {
                url: "/annonces".into(),
                label: "Voir les annonces en cours".into(),
            }),
        )?;
        return Ok((StatusCode::GONE, Html(html)).into_response());
    }
    let html = app.pages.render(
        "board-ad",
        &ad.title,
        &serde_json::json!({
            "ad": card(&ad),
            "body_html": ad.body_html,
            "contact_email": ad.contact_email,
            "contact_phone": ad.contact_phone,
        }),
    )?;
    Ok(Html(html).into_response())
}

async fn board_feed(State(app): State<AppState>) -> Result<Response, WebError> {
    let ads = app
        .store
        .board_ads(app.today(), &BoardFilter::default())
        .await?;
    let self_url = app.links.page("/annonces/atom.xml");
    let page_url = app.links.page("/annonces");
    let mut out = feed(
        page_url.clone(),
        &format!("Les petites annonces d'{}", app.config.organisation),
        "Dons et recherches de matériel, transports partagés, missions, partenariats, événements des membres du réseau",
        self_url,
        page_url,
    );
    out.updated = ads
        .iter()
        .filter_map(|a| a.approved_at)
        .max()
        .map(atom_time)
        .unwrap_or_else(|| atom_time(chrono::DateTime::UNIX_EPOCH));
    out.entries = ads
        .iter()
        .map(|a| {
            let url = app.links.page(&format!("/annonces/{}", a.id));
            let at = atom_time(a.approved_at.unwrap_or(a.created_at));
            Entry {
                id: url.clone(),
                title: Text::plain(crate::render::printable_line(&a.title)),
                updated: atom_time(
                    a.updated_at
                        .unwrap_or(a.created_at)
                        .max(a.approved_at.unwrap_or(a.created_at)),
                ),
                published: Some(at),
                authors: vec![Person {
                    name: crate::render::printable_line(&a.org_name),
                    ..Default::default()
                }],
                links: vec![link("alternate", url, Some("text/html"))],
                categories: vec![Category {
                    term: a.category.clone(),
                    label: Some(category_label(&a.category).into()),
                    ..Default::default()
                }],
                summary: Some(Text::plain(format!(
                    "Jusqu'au {}",
                    french_date(a.expires_on).replace('\u{a0}', " ")
                ))),
                content: Some(Content {
                    content_type: Some("html".into()),
                    value: Some(a.body_html.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        out.to_string(),
    )
        .into_response())
}
