//! The member's ads: the list, the form with its preview, an ad's page and history,
//! withdrawing and extending (also from the expiry notice's link).

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::*;

pub(super) async fn area(
    State(app): State<AppState>,
    member: Member,
) -> Result<Response, WebError> {
    let ads = app.store.member_ads(member.session.member_id).await?;
    let today = app.today();
    let html = page(
        &app,
        "member-area",
        "Espace membre",
        &serde_json::json!({
            "member": member.chrome(),
            "ads": ads.iter().map(|a| serde_json::json!({
                "id": a.id,
                "title": a.title,
                "category": category_label(&a.category),
                "state": a.state,
                "state_label": state_label(a),
                "reason": a.reject_reason,
                "soon": matches!(a.state.as_str(), "pending" | "approved")
                    && a.expires_on <= today + chrono::Duration::days(14),
                "editable": matches!(a.state.as_str(), "pending" | "rejected"),
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html).into_response())
}

pub(super) async fn new_ad_page(
    State(app): State<AppState>,
    member: Member,
) -> Result<Response, WebError> {
    let form = AdForm {
        show_email: Some("oui".into()),
        contact_email: member.session.email.clone(),
        ..AdForm::default()
    };
    render_ad_form(&app, &member, None, &form, &[], None, StatusCode::OK)
}

/// The form page: a new ad (`ad` is `None`) or one of the member's that may still change.
fn render_ad_form(
    app: &AppState,
    member: &Member,
    ad: Option<&AdRow>,
    form: &AdForm,
    errors: &[FieldError],
    preview: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let mut data = ad_form_view(form, errors, app.today());
    data["member"] = member.chrome();
    data["preview"] = serde_json::json!(preview);
    data["action"] = serde_json::json!(match ad {
        Some(ad) => format!("/espace-membre/annonces/{}", ad.id),
        None => "/espace-membre/annonces/nouvelle".into(),
    });
    data["ad"] = match ad {
        Some(ad) => serde_json::json!({
            "id": ad.id,
            "state_label": state_label(ad),
            "reason": ad.reject_reason,
            "rejected": ad.state == "rejected",
        }),
        None => serde_json::Value::Null,
    };
    let title = if ad.is_some() {
        "Modifier l'annonce"
    } else {
        "Nouvelle annonce"
    };
    let html = page(app, "member-ad-form", title, &data)?;
    Ok((status, Html(html)).into_response())
}

/// Checks the posted ad; on « Aperçu » or a refusal, the form comes back filled in.
fn read_ad_form(
    app: &AppState,
    member: &Member,
    ad: Option<&AdRow>,
    form: &AdForm,
) -> Result<Result<AdDraft, Response>, WebError> {
    member.check_csrf(&form.csrf)?;
    match ad::validate(&form.input(), app.today()) {
        Err(errors) => Ok(Err(render_ad_form(
            app,
            member,
            ad,
            form,
            &errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )?)),
        Ok(_) if form.action == "apercu" => Ok(Err(render_ad_form(
            app,
            member,
            ad,
            form,
            &[],
            Some(format!("/espace-membre/apercu?{}", form.preview_query())),
            StatusCode::OK,
        )?)),
        Ok(draft) => Ok(Ok(draft)),
    }
}

pub(super) async fn new_ad(
    State(app): State<AppState>,
    member: Member,
    Form(form): Form<AdForm>,
) -> Result<Response, WebError> {
    let draft = match read_ad_form(&app, &member, None, &form)? {
        Ok(draft) => draft,
        Err(page) => return Ok(page),
    };
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    let id = app
        .store
        .create_ad(
            member.session.member_id,
            member.session.person_id,
            &draft,
            &html,
        )
        .await?;
    Ok(Redirect::to(&format!("/espace-membre/annonces/{id}?envoyee=1")).into_response())
}

#[derive(Deserialize)]
pub(super) struct AdPageQuery {
    envoyee: Option<String>,
}

pub(super) async fn ad_page(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Query(q): Query<AdPageQuery>,
) -> Result<Response, WebError> {
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    if matches!(ad.state.as_str(), "pending" | "rejected") && q.envoyee.is_none() {
        return render_ad_form(
            &app,
            &member,
            Some(&ad),
            &AdForm::from_ad(&ad),
            &[],
            None,
            StatusCode::OK,
        );
    }
    let events = app.store.ad_events(id).await?;
    let today = app.today();
    let html = page(
        &app,
        "member-ad",
        &ad.title,
        &serde_json::json!({
            "member": member.chrome(),
            "sent": q.envoyee.is_some(),
            "ad": {
                "id": ad.id,
                "title": ad.title,
                "body_html": ad.body_html,
                "category": category_label(&ad.category),
                "departement": ad.departement.as_deref().map(domain::departement_label),
                "state_label": state_label(&ad),
                "reason": ad.reject_reason,
                "editable": matches!(ad.state.as_str(), "pending" | "rejected"),
                "withdrawable": matches!(ad.state.as_str(), "pending" | "approved" | "rejected"),
                "extendable": matches!(ad.state.as_str(), "pending" | "approved")
                    && ad::extended(ad.expires_on, today) > ad.expires_on,
                "extended_to": french_date(ad::extended(ad.expires_on, today)),
                "public": ad.state == "approved",
            },
            "events": events.iter().map(|e| serde_json::json!({
                "label": event_label(&e.action),
                "at": crate::web::composer::french_moment(e.at, app.config.timezone),
                "reason": e.reason,
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html).into_response())
}

pub(super) async fn edit_ad(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Form(form): Form<AdForm>,
) -> Result<Response, WebError> {
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    let draft = match read_ad_form(&app, &member, Some(&ad), &form)? {
        Ok(draft) => draft,
        Err(page) => return Ok(page),
    };
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    match app.store.edit_ad(id, member.actor(), &draft, &html).await? {
        AdChange::Done => {
            Ok(Redirect::to(&format!("/espace-membre/annonces/{id}?envoyee=1")).into_response())
        }
        AdChange::NotNow => Err(WebError::Conflict(
            "Cette annonce a déjà été validée, retirée ou est échue : elle ne se modifie plus. \
             Retirez-la et publiez-en une nouvelle si besoin."
                .into(),
        )),
    }
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// Withdraws an ad, after one confirmation.
pub(super) async fn withdraw(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf)?;
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    if form.confirm.is_none() {
        let html = page(
            &app,
            "member-confirm",
            "Retirer l'annonce",
            &serde_json::json!({
                "member": member.chrome(),
                "question": format!("Retirer l'annonce « {} » ?", ad.title),
                "detail": "Elle quitte aussitôt le site et les prochains numéros des Échos du Réseau. Ce retrait est définitif.",
                "action": format!("/espace-membre/annonces/{id}/retirer"),
                "button": "Oui, retirer l'annonce",
                "back": format!("/espace-membre/annonces/{id}?envoyee=1"),
            }),
        )?;
        return Ok(Html(html).into_response());
    }
    match app
        .store
        .withdraw_ad(id, member.session.member_id, member.session.person_id)
        .await?
    {
        AdChange::Done | AdChange::NotNow => Ok(Redirect::to("/espace-membre").into_response()),
    }
}

pub(super) async fn extend(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf)?;
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    let to = ad::extended(ad.expires_on, app.today());
    match app.store.extend_ad(id, member.actor(), to).await? {
        AdChange::Done => {
            Ok(Redirect::to(&format!("/espace-membre/annonces/{id}?envoyee=1")).into_response())
        }
        AdChange::NotNow => Err(WebError::Conflict(
            "Cette annonce est retirée ou échue : elle ne se prolonge plus.".into(),
        )),
    }
}

/// The ad an expiry notice's link names, if the link is genuine and the ad still has the
/// expiry the notice announced.
pub(super) async fn read_extension(app: &AppState, token: &str) -> Result<AdRow, WebError> {
    let claims = app
        .links
        .signer
        .verify(Scope::ExtendAd, token, chrono::Utc::now())
        .map_err(WebError::BadLink)?;
    let ad = app.store.ad(claims.newsletter_id).await?;
    let current = crate::audience::ad_extension_key(ad.created_at, ad.expires_on);
    if current != claims.key || ad.state != "approved" {
        return Err(WebError::BadRequest(
            "Ce lien a déjà servi, ou l'annonce est retirée ou échue. Connectez-vous à l'espace membre pour la voir."
                .into(),
        ));
    }
    Ok(ad)
}

pub(super) async fn extend_link_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let ad = read_extension(&app, &token).await?;
    let to = ad::extended(ad.expires_on, app.today());
    let html = page(
        &app,
        "member-extend",
        "Prolonger l'annonce",
        &serde_json::json!({
            "title": ad.title,
            "until": french_date(ad.expires_on),
            "to": french_date(to),
            "token": token,
        }),
    )?;
    Ok(Html(html).into_response())
}

pub(super) async fn extend_link(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let ad = read_extension(&app, &token).await?;
    let to = ad::extended(ad.expires_on, app.today());
    let actor = AdActor::Member {
        member_id: ad.member_id,
        // The notice went to the person who posted it; the event names the organisation's
        // first person when that is unknown.
        person_id: app
            .store
            .member_people(ad.member_id)
            .await?
            .first()
            .map(|p| p.id)
            .unwrap_or(0),
    };
    app.store.extend_ad(ad.id, actor, to).await?;
    let until = format!("Elle paraît désormais jusqu'au {}.", french_date(to));
    let html = app.pages.notice(
        "Annonce prolongée",
        &[
            &format!("Votre annonce « {} » est prolongée.", ad.title),
            &until,
        ],
        None,
    )?;
    Ok(Html(html).into_response())
}

/// The ad as Les Échos du Réseau will print it, inside the form page's frame.
pub(super) async fn preview(
    State(app): State<AppState>,
    member: Member,
    Query(input): Query<AdInput>,
) -> Result<Response, WebError> {
    let draft = ad::validate(&input, app.today()).map_err(|errors| {
        WebError::BadRequest(
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    let html = crate::desk::ads::preview(
        &app.renderer,
        &app.links,
        &app.masthead,
        &draft,
        &member.session.org_name,
    )?;
    Ok(Policy::FramedIssue.on((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()))
}
