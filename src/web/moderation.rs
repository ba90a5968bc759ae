//! Ads and members in the desk: the moderation queue (`/admin/annonces`: approve, refuse
//! with a reason mailed to the member, or edit then approve) and the member organisations
//! (`/admin/membres`: add, accept or refuse a request, add a person).

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::desk::{check_csrf, CsrfForm, Staff};
use super::members::{
    ad_form_view, category_label, college_label, departement_options, errors_by_field, event_label,
    state_label, AdForm,
};
use super::{AppState, WebError};
use crate::domain::ad::{self, FieldError};
use crate::domain::{self, EmailAddress};
use crate::render::french_date;
use crate::store::{AdChange, AdRow, NewMember, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/annonces", get(queue))
        .route(
            "/admin/annonces/{id}",
            get(edit_page).post(edit_and_approve),
        )
        .route("/admin/annonces/{id}/valider", post(approve))
        .route("/admin/annonces/{id}/refuser", post(reject))
        .route("/admin/membres", get(members).post(add_member))
        .route("/admin/membres/{id}/accepter", post(accept_member))
        .route("/admin/membres/{id}/refuser", post(refuse_member))
        .route("/admin/membres/{id}/personnes", post(add_person))
}

/// An ad as the queue shows it: everything the editor needs to decide, and its history.
async fn ad_view(app: &AppState, ad: &AdRow) -> Result<serde_json::Value, WebError> {
    let events = app.store.ad_events(ad.id).await?;
    Ok(serde_json::json!({
        "id": ad.id,
        "title": ad.title,
        "org": ad.org_name,
        "category": category_label(&ad.category),
        "departement": ad.departement.as_deref().map(domain::departement_label),
        "country": ad.country.as_deref().and_then(domain::country_name),
        "contact_email": ad.contact_email,
        "contact_phone": ad.contact_phone,
        "expires_on": french_date(ad.expires_on),
        "body_html": ad.body_html,
        "state": ad.state,
        "state_label": state_label(ad),
        "reason": ad.reject_reason,
        "refusal_error": null,
        "open": false,
        "events": events.iter().map(|e| serde_json::json!({
            "label": event_label(&e.action),
            "by": e.by,
            "at": super::composer::french_moment(e.at, app.config.timezone),
            "reason": e.reason,
        })).collect::<Vec<_>>(),
    }))
}

async fn queue(State(app): State<AppState>, staff: Staff) -> Result<Response, WebError> {
    render_queue(&app, &staff, None, None).await
}

/// The queue page; `refusal` re-opens one ad's refusal form with its error.
async fn render_queue(
    app: &AppState,
    staff: &Staff,
    notice: Option<String>,
    refusal: Option<(i64, &str)>,
) -> Result<Response, WebError> {
    let mut pending = Vec::new();
    for ad in app.store.ads_in_state("pending").await? {
        let mut view = ad_view(app, &ad).await?;
        if let Some((_, error)) = refusal.filter(|(id, _)| *id == ad.id) {
            view["refusal_error"] = serde_json::json!(error);
            view["open"] = serde_json::json!(true);
        }
        pending.push(view);
    }
    let mut published = Vec::new();
    for ad in app
        .store
        .board_ads(app.today(), &Default::default())
        .await?
    {
        published.push(ad_view(app, &ad).await?);
    }
    let status = super::form_status(refusal.is_some());
    let html = app.pages.render_desk(
        "moderation",
        "Petites annonces",
        &staff.chrome("annonces"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "notice": notice,
            "pending_count": pending.len(),
            "published_count": published.len(),
            "pending": pending,
            "published": published,
        }),
    )?;
    Ok((status, Html(html)).into_response())
}

async fn approve(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let ad = app.store.ad(id).await?;
    let notice = match app.store.approve_ad(id, staff.session.user_id).await? {
        AdChange::Done => format!(
            "« {} » est validée : elle paraît sur le site et dans les prochains numéros des Échos du Réseau.",
            ad.title
        ),
        AdChange::NotNow => format!(
            "« {} » a déjà été traitée entre-temps ({}).",
            ad.title,
            state_label(&ad)
        ),
    };
    render_queue(&app, &staff, Some(notice), None).await
}

#[derive(Deserialize)]
struct RejectForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn reject(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<RejectForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let reason = crate::render::printable_text(form.reason.trim());
    if reason.is_empty() || reason.chars().count() > 1000 {
        return render_queue(
            &app,
            &staff,
            None,
            Some((
                id,
                "Écrivez la raison du refus (1 000 caractères au plus) : elle est envoyée au membre.",
            )),
        )
        .await;
    }
    let ad = app.store.ad(id).await?;
    let notice = match app
        .store
        .reject_ad(
            id,
            staff.session.user_id,
            &reason,
            &app.config.mail_domain(),
        )
        .await?
    {
        AdChange::Done => {
            app.dispatcher.wake();
            format!(
                "« {} » est refusée ; le membre reçoit votre raison par courriel.",
                ad.title
            )
        }
        AdChange::NotNow => format!(
            "« {} » a déjà été traitée entre-temps ({}).",
            ad.title,
            state_label(&ad)
        ),
    };
    render_queue(&app, &staff, Some(notice), None).await
}

fn render_edit(
    app: &AppState,
    staff: &Staff,
    ad: &AdRow,
    form: &AdForm,
    errors: &[FieldError],
) -> Result<Response, WebError> {
    let mut data = ad_form_view(form, errors, app.today());
    data["csrf"] = serde_json::json!(staff.session.csrf_token);
    data["id"] = serde_json::json!(ad.id);
    data["org"] = serde_json::json!(ad.org_name);
    let status = super::form_status(!errors.is_empty());
    let html = app.pages.render_desk(
        "moderation-edit",
        "Modifier l'annonce",
        &staff.chrome("annonces"),
        &data,
    )?;
    Ok((status, Html(html)).into_response())
}

async fn edit_page(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let ad = app.store.ad(id).await?;
    if ad.state != "pending" {
        return Ok(Redirect::to("/admin/annonces").into_response());
    }
    render_edit(&app, &staff, &ad, &AdForm::from_ad(&ad), &[])
}

/// The editor's corrections, then approval, in one step.
async fn edit_and_approve(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<AdForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let ad = app.store.ad(id).await?;
    // Staff may set any date up to 90 days from today, like the member.
    let draft = match ad::validate(&form.input(), app.today()) {
        Ok(draft) => draft,
        Err(errors) => return render_edit(&app, &staff, &ad, &form, &errors),
    };
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    let actor = crate::store::AdActor::Staff {
        user_id: staff.session.user_id,
    };
    let notice = match app.store.edit_ad(id, actor, &draft, &html).await? {
        AdChange::Done => match app.store.approve_ad(id, staff.session.user_id).await? {
            AdChange::Done => format!("« {} » est corrigée et validée.", draft.title),
            AdChange::NotNow => format!("« {} » est corrigée.", draft.title),
        },
        AdChange::NotNow => format!(
            "« {} » a déjà été traitée entre-temps ({}) : vos corrections ne sont pas enregistrées.",
            ad.title,
            state_label(&ad)
        ),
    };
    render_queue(&app, &staff, Some(notice), None).await
}

// ---- Members ------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct MemberForm {
    #[serde(default)]
    csrf: String,
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
}

async fn members(State(app): State<AppState>, staff: Staff) -> Result<Response, WebError> {
    render_members(&app, &staff, None, &MemberForm::default(), &[]).await
}

async fn render_members(
    app: &AppState,
    staff: &Staff,
    notice: Option<String>,
    form: &MemberForm,
    errors: &[FieldError],
) -> Result<Response, WebError> {
    let mut rows = Vec::new();
    for m in app.store.members().await? {
        let people = app.store.member_people(m.id).await?;
        rows.push(serde_json::json!({
            "id": m.id,
            "org": m.org_name,
            "contact": m.contact_name,
            "email": m.email,
            "college": m.college.as_deref().map(college_label),
            "departement": m.departement.as_deref().map(domain::departement_label),
            "pending": m.state == "pending",
            "disabled": m.state == "disabled",
            "people": people.iter().map(|p| serde_json::json!({ "email": p.email, "name": p.name })).collect::<Vec<_>>(),
        }));
    }
    let status = super::form_status(!errors.is_empty());
    let html = app.pages.render_desk(
        "members",
        "Membres",
        &staff.chrome("membres"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "notice": notice,
            "members": rows,
            "form": {
                "org_name": form.org_name.trim(),
                "contact_name": form.contact_name.trim(),
                "email": form.email.trim(),
            },
            "colleges": domain::COLLEGES.iter().map(|c| serde_json::json!({
                "value": c, "label": college_label(c), "selected": *c == form.college,
            })).collect::<Vec<_>>(),
            "departements": departement_options(&form.departement),
            "errors": errors_by_field(errors),
            "error_list": errors,
        }),
    )?;
    Ok((status, Html(html)).into_response())
}

async fn add_member(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<MemberForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let mut errors = Vec::new();
    let org_name = crate::render::printable_line(form.org_name.trim());
    if org_name.is_empty() {
        errors.push(FieldError {
            field: "org_name",
            message: "Indiquez le nom de la structure.".into(),
        });
    }
    let email = EmailAddress::parse(&form.email);
    if email.is_err() {
        errors.push(FieldError {
            field: "email",
            message: "Cette adresse n'est pas valide : vérifiez-la.".into(),
        });
    }
    let college = (!form.college.is_empty()).then_some(form.college.as_str());
    if college.is_some_and(|c| !domain::COLLEGES.contains(&c)) {
        errors.push(FieldError {
            field: "college",
            message: "Choisissez le type dans la liste.".into(),
        });
    }
    let departement = (!form.departement.is_empty()).then_some(form.departement.as_str());
    if departement.is_some_and(|d| !domain::DEPARTEMENTS.contains(&d)) {
        errors.push(FieldError {
            field: "departement",
            message: "Choisissez un département d'Occitanie.".into(),
        });
    }
    let (Ok(email), true) = (email, errors.is_empty()) else {
        return render_members(&app, &staff, None, &form, &errors).await;
    };
    let contact_name = crate::render::printable_line(form.contact_name.trim());
    match app
        .store
        .add_member(
            &NewMember {
                email: email.as_str(),
                org_name: &org_name,
                contact_name: &contact_name,
                college,
                departement,
            },
            "active",
        )
        .await
    {
        Ok(_) => {
            let notice = format!(
                "{org_name} est membre. {email} peut se connecter à l'espace membre (/espace-membre) avec un lien reçu par courriel."
            );
            render_members(&app, &staff, Some(notice), &MemberForm::default(), &[]).await
        }
        Err(StoreError::Conflict(_)) => {
            let errors = [FieldError {
                field: "email",
                message: "Cette adresse est déjà celle d'un membre.".into(),
            }];
            render_members(&app, &staff, None, &form, &errors).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_state(
    app: &AppState,
    staff: &Staff,
    id: i64,
    csrf: &str,
    state: &str,
) -> Result<Response, WebError> {
    check_csrf(staff, csrf)?;
    let member = app.store.member(id).await?;
    app.store
        .set_member_state(id, state, staff.session.user_id)
        .await?;
    let notice = if state == "active" {
        format!(
            "{} est membre : ses personnes se connectent à l'espace membre avec leur adresse.",
            member.org_name
        )
    } else {
        format!("{} n'a plus accès à l'espace membre.", member.org_name)
    };
    render_members(app, staff, Some(notice), &MemberForm::default(), &[]).await
}

async fn accept_member(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_state(&app, &staff, id, &form.csrf, "active").await
}

async fn refuse_member(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_state(&app, &staff, id, &form.csrf, "disabled").await
}

#[derive(Deserialize)]
struct PersonForm {
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

async fn add_person(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<PersonForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let member = app.store.member(id).await?;
    let Ok(email) = EmailAddress::parse(&form.email) else {
        let notice = format!(
            "« {} » n'est pas une adresse valide : personne n'est ajoutée à {}.",
            form.email.trim(),
            member.org_name
        );
        return render_members(&app, &staff, Some(notice), &MemberForm::default(), &[]).await;
    };
    let name = crate::render::printable_line(form.name.trim());
    let notice = match app.store.add_member_person(id, email.as_str(), &name).await {
        Ok(_) => format!(
            "{email} peut maintenant se connecter pour {}.",
            member.org_name
        ),
        Err(StoreError::Conflict(_)) => {
            format!("{email} se connecte déjà pour une structure membre.")
        }
        Err(e) => return Err(e.into()),
    };
    render_members(&app, &staff, Some(notice), &MemberForm::default(), &[]).await
}
