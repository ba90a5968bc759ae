//! The team (`/admin/equipe`, admins only): add, disable, enable and reset staff accounts;
//! and one's own password (`/admin/mot-de-passe`, everyone).

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::desk::{check_csrf, CsrfForm, Staff};
use super::{AppState, WebError};
use crate::desk::staff::{hash_password, temporary_password, verify_password};
use crate::domain::EmailAddress;
use crate::store::StoreError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/equipe", get(team).post(add))
        .route("/admin/equipe/{id}/desactiver", post(disable))
        .route("/admin/equipe/{id}/reactiver", post(enable))
        .route("/admin/equipe/{id}/reinitialiser", post(reset))
        .route(
            "/admin/mot-de-passe",
            get(password_page).post(change_password),
        )
}

/// Only admins manage the team; an editor gets a French 403 page.
fn admin_only(staff: &Staff) -> Result<(), WebError> {
    if staff.is_admin() {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

async fn team(State(app): State<AppState>, staff: Staff) -> Result<Response, WebError> {
    admin_only(&staff)?;
    render_team(&app, &staff, None, None, ("", "editor")).await
}

async fn render_team(
    app: &AppState,
    staff: &Staff,
    notice: Option<String>,
    error: Option<&str>,
    form: (&str, &str),
) -> Result<Response, WebError> {
    let users = app.store.list_users().await?;
    let status = super::form_status(error.is_some());
    let html = app.pages.render_desk(
        "team",
        "Équipe",
        &staff.chrome("equipe"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "notice": notice,
            "error": error,
            "email": form.0,
            "editor": form.1 != "admin",
            "users": users.iter().map(|u| serde_json::json!({
                "id": u.id,
                "email": u.email,
                "role": if u.role == "admin" { "administration" } else { "rédaction" },
                "disabled": u.disabled,
                "me": u.id == staff.session.user_id,
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok((status, Html(html)).into_response())
}

#[derive(Deserialize)]
struct AddForm {
    csrf: String,
    email: String,
    role: String,
}

/// Adds an account with a temporary password, shown once to the admin to pass on.
async fn add(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<AddForm>,
) -> Result<Response, WebError> {
    admin_only(&staff)?;
    check_csrf(&staff, &form.csrf)?;
    let role = if form.role == "admin" {
        "admin"
    } else {
        "editor"
    };
    let email = match EmailAddress::parse(&form.email) {
        Ok(e) => e,
        Err(_) => {
            return render_team(
                &app,
                &staff,
                None,
                Some("Cette adresse n'est pas valide : vérifiez-la."),
                (form.email.trim(), role),
            )
            .await
        }
    };
    let temporary = temporary_password();
    let hash = hash_password(&temporary)?;
    match app.store.add_user(email.as_str(), &hash, role).await {
        Ok(_) => {
            let notice = format!(
                "Compte créé pour {email}. Mot de passe provisoire, à lui transmettre : {temporary} \
                 (il ne sera plus affiché ; la personne le change depuis « Mot de passe »)."
            );
            render_team(&app, &staff, Some(notice), None, ("", "editor")).await
        }
        Err(StoreError::Conflict(_)) => {
            render_team(
                &app,
                &staff,
                None,
                Some("Un compte existe déjà pour cette adresse."),
                (email.as_str(), role),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn disable(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    admin_only(&staff)?;
    check_csrf(&staff, &form.csrf)?;
    if id == staff.session.user_id {
        return Err(WebError::BadRequest(
            "Vous ne pouvez pas désactiver votre propre compte.".into(),
        ));
    }
    app.store.set_user_disabled(id, true).await?;
    Ok(Redirect::to("/admin/equipe").into_response())
}

async fn enable(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    admin_only(&staff)?;
    check_csrf(&staff, &form.csrf)?;
    app.store.set_user_disabled(id, false).await?;
    Ok(Redirect::to("/admin/equipe").into_response())
}

/// A new temporary password for someone who lost theirs; their sessions end.
async fn reset(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    admin_only(&staff)?;
    check_csrf(&staff, &form.csrf)?;
    let user = app
        .store
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or(WebError::NotFound)?;
    let temporary = temporary_password();
    app.store
        .set_password(id, &hash_password(&temporary)?, None)
        .await?;
    let notice = format!(
        "Nouveau mot de passe provisoire pour {} : {temporary} (il ne sera plus affiché).",
        user.email
    );
    render_team(&app, &staff, Some(notice), None, ("", "editor")).await
}

fn password_form(
    app: &AppState,
    staff: &Staff,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let status = super::form_status(error.is_some());
    let html = app.pages.render_desk(
        "password",
        "Mot de passe",
        &staff.chrome("mot-de-passe"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "notice": notice,
            "error": error,
        }),
    )?;
    Ok((status, Html(html)).into_response())
}

async fn password_page(State(app): State<AppState>, staff: Staff) -> Result<Response, WebError> {
    password_form(&app, &staff, None, None)
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    actuel: String,
    nouveau: String,
    confirmation: String,
}

async fn change_password(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    check_csrf(&staff, &form.csrf)?;
    let stored = app.store.password_hash(staff.session.user_id).await?;
    let current = form.actuel;
    let matches = tokio::task::spawn_blocking(move || verify_password(&stored, &current)).await?;
    if !matches {
        return password_form(
            &app,
            &staff,
            None,
            Some("Le mot de passe actuel ne correspond pas."),
        );
    }
    if form.nouveau != form.confirmation {
        return password_form(
            &app,
            &staff,
            None,
            Some("Les deux saisies du nouveau mot de passe diffèrent."),
        );
    }
    let new = form.nouveau;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&new)).await? {
        Ok(hash) => hash,
        Err(e) => {
            let message = format!("Nouveau mot de passe refusé : {e}.");
            return password_form(&app, &staff, None, Some(&message));
        }
    };
    app.store
        .set_password(staff.session.user_id, &hash, Some(staff.token_hash()))
        .await?;
    password_form(
        &app,
        &staff,
        Some("Mot de passe changé. Vos autres sessions sont fermées."),
        None,
    )
}
