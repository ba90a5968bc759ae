//! `/healthz` (is this process able to work, and how is the work going) and `/metrics`
//! (Prometheus's text format; the names are listed in `ARCHITECTURE.md`, Observability).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::AppState;
use crate::store::{DeliveryCounts, WorkState};

#[derive(serde::Serialize)]
struct Health {
    /// `ok` or `unreachable`; the answer is 503 when unreachable.
    database: &'static str,
    /// `leader` (this process polls feeds and runs the schedules) or `follower` (it only
    /// sends).
    scheduler: &'static str,
    /// The newest successful fetch of any source.
    last_fetch: Option<DateTime<Utc>>,
    /// Since when the oldest message waiting for its first attempt is due, and for how long.
    oldest_queued: Option<DateTime<Utc>>,
    oldest_queued_age_seconds: Option<i64>,
}

pub async fn healthz(State(app): State<AppState>) -> Response {
    let scheduler = if app.leader.load(Ordering::SeqCst) {
        "leader"
    } else {
        "follower"
    };
    let work = match app.store.ping().await {
        Ok(()) => app.store.work_state().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (status, health) = match work {
        Ok(work) => (
            StatusCode::OK,
            Health {
                database: "ok",
                scheduler,
                last_fetch: work.last_fetch,
                oldest_queued: work.oldest_queued,
                oldest_queued_age_seconds: work
                    .oldest_queued
                    .map(|at| (app.store.now() - at).num_seconds().max(0)),
            },
        ),
        Err(e) => {
            tracing::error!("health check: database does not answer: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Health {
                    database: "unreachable",
                    scheduler,
                    last_fetch: None,
                    oldest_queued: None,
                    oldest_queued_age_seconds: None,
                },
            )
        }
    };
    (status, axum::Json(health)).into_response()
}

/// Prometheus's text format, from the `metrics` recorder. The gauges about the ledgers are
/// read from the database now (the same figures in every process); counters are this
/// process's own.
pub async fn metrics(State(app): State<AppState>) -> Response {
    metrics::gauge!("relais_scheduler_leader").set(u8::from(app.leader.load(Ordering::SeqCst)));
    match app.store.work_state().await {
        Ok(work) => work_gauges(&work, app.store.now()),
        Err(e) => tracing::error!("metrics: the database does not answer: {e}"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

fn work_gauges(work: &WorkState, now: DateTime<Utc>) {
    for (ledger, counts, by_state) in [
        ("newsletter", &work.deliveries, "relais_deliveries"),
        ("mail", &work.mails, "relais_mails"),
    ] {
        for (state, n) in states(counts) {
            metrics::gauge!(by_state, "state" => state).set(n as f64);
        }
        metrics::gauge!("relais_queue_depth", "ledger" => ledger)
            .set((counts.queued + counts.deferred) as f64);
    }
    metrics::gauge!("relais_oldest_queued_age_seconds").set(
        work.oldest_queued
            .map_or(0, |at| (now - at).num_seconds().max(0)) as f64,
    );
    if let Some(at) = work.last_fetch {
        metrics::gauge!("relais_last_fetch_timestamp_seconds").set(at.timestamp() as f64);
    }
}

fn states(c: &DeliveryCounts) -> [(&'static str, i64); 7] {
    [
        ("queued", c.queued),
        ("sending", c.sending),
        ("sent", c.sent),
        ("deferred", c.deferred),
        ("failed", c.failed),
        ("unknown", c.unknown),
        ("skipped", c.skipped),
    ]
}
