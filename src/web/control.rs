//! Control of a send at the desk, from its progress page: « Suspendre », « Reprendre » and
//! « Annuler l'envoi » (after a confirming page), each a POST carrying the session's CSRF token.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::desk::{check_csrf, CsrfForm, Staff};
use super::{AppState, WebError};
use crate::dispatch::control::{control_issue, Control, ControlError};
use crate::domain::{DispatchState, Newsletter};
use crate::render::{printable_line, title_line};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/numeros/{id}/suspendre", post(pause))
        .route("/admin/numeros/{id}/reprendre", post(resume))
        .route(
            "/admin/numeros/{id}/annuler",
            get(confirm_cancel).post(cancel),
        )
}

async fn apply(
    app: &AppState,
    staff: &Staff,
    id: i64,
    form: &CsrfForm,
    control: Control,
) -> Result<Response, WebError> {
    check_csrf(staff, &form.csrf)?;
    app.store.issue(id).await?;
    control_issue(&app.store, id, control, &staff.session.email)
        .await
        .map_err(|e| match e {
            ControlError::Store(e) => e.into(),
            other => WebError::BadRequest(format!("{}.", capitalised(&other.to_string()))),
        })?;
    if control != Control::Pause {
        app.dispatcher.finish_open_dispatches().await?;
        app.dispatcher.wake();
    }
    Ok(Redirect::to(&format!("/admin/numeros/{id}/suivi")).into_response())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

async fn pause(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    apply(&app, &staff, id, &form, Control::Pause).await
}

async fn resume(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    apply(&app, &staff, id, &form, Control::Resume).await
}

async fn cancel(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    apply(&app, &staff, id, &form, Control::Cancel).await
}

/// Before a cancel: how many messages would never leave, and that it cannot be undone.
async fn confirm_cancel(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let issue = app.store.issue(id).await?;
    let n = Newsletter::find(&issue.newsletter).ok_or(WebError::NotFound)?;
    let counts = app.store.delivery_counts(id).await?;
    let open = app
        .store
        .dispatch_controls(id)
        .await?
        .iter()
        .any(|d| d.state != DispatchState::Cancelled);
    let html = app.pages.render_desk(
        "cancel",
        "Annuler l'envoi",
        &staff.chrome("numeros"),
        &serde_json::json!({
            "csrf": staff.session.csrf_token,
            "id": id,
            "title_line": title_line(n, &printable_line(&issue.subject)),
            "open": open,
            "left": counts.queued + counts.deferred,
            "sent": counts.sent,
        }),
    )?;
    Ok(Html(html))
}
