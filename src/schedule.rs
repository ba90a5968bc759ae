//! The scheduler: one leader at a time (a lease row), polling due feeds and working the send
//! queue in two independent loops, so a long send never delays the watch. Calls stage
//! functions; no business logic of its own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;

mod runs;

pub use runs::{listing, local_time, notice_view, ScheduleLine};

const LEASE_TTL: Duration = Duration::from_secs(60);
const LEASE_NAME: &str = "scheduler";

pub async fn run(app: Arc<App>, cancel: CancellationToken) -> anyhow::Result<()> {
    let holder = format!("{}-{}", std::process::id(), rand::random::<u32>());
    // Lead (or not) before the loops' first tick, so a fresh daemon polls at once.
    let leader = app
        .store
        .acquire_lease(LEASE_NAME, &holder, LEASE_TTL)
        .await
        .unwrap_or(false);
    app.leader.store(leader, Ordering::SeqCst);
    let watch = tokio::spawn(every_tick(
        app.clone(),
        cancel.clone(),
        "watch",
        |app, cancel| {
            Box::pin(async move {
                let summary = app.watcher.poll_due(chrono::Utc::now(), &cancel).await?;
                metrics::counter!("relais_feed_polls_total").increment(summary.polled as u64);
                metrics::counter!("relais_items_new_total").increment(summary.new as u64);
                if summary.polled > 0 {
                    tracing::info!(
                        polled = summary.polled,
                        new = summary.new,
                        updated = summary.updated,
                        failing = summary.failing.len(),
                        "feeds polled"
                    );
                }
                Ok(())
            })
        },
    ));
    let send = tokio::spawn(every_tick_or_wake(
        app.clone(),
        cancel.clone(),
        "send",
        |app, cancel| {
            Box::pin(async move {
                let stats = app.dispatcher.deliver_due(None, &cancel).await?;
                if stats.claimed > 0 {
                    tracing::info!(
                        claimed = stats.claimed,
                        sent = stats.sent,
                        "deliveries worked"
                    );
                }
                app.dispatcher.finish_open_dispatches().await?;
                Ok(())
            })
        },
    ));
    let housekeeping = tokio::spawn(every_tick(
        app.clone(),
        cancel.clone(),
        "housekeeping",
        |app, _| {
            Box::pin(async move {
                // Rows left `sending` by a dead process, or whose lease expired, become
                // `unknown` within a tick of it: never stranded until the next start.
                let recovered = app.dispatcher.recover_abandoned().await?;
                if recovered > 0 {
                    tracing::warn!(
                        recovered,
                        "deliveries whose sender stopped or whose lease expired are now 'unknown'"
                    );
                }
                let retention = chrono::Duration::from_std(app.config.consent_ip_retention)?;
                let truncated = app
                    .store
                    .truncate_consent_ips(chrono::Utc::now() - retention)
                    .await?;
                if truncated > 0 {
                    tracing::info!(truncated, "consent IP addresses past retention truncated");
                }
                app.store.delete_expired_sessions().await?;
                let (expired, warned) = app
                    .store
                    .ads_upkeep(
                        app.today(),
                        crate::domain::ad::WARN_DAYS,
                        &app.config.mail_domain(),
                    )
                    .await?;
                if expired + warned > 0 {
                    tracing::info!(
                        expired,
                        warned,
                        "ads past their date expired, members warned"
                    );
                    app.dispatcher.wake();
                }
                send_planned_issues(&app).await?;
                Ok(())
            })
        },
    ));
    let schedules = tokio::spawn(every_tick(
        app.clone(),
        cancel.clone(),
        "schedules",
        |app, _| Box::pin(async move { runs::run_due(&app).await }),
    ));
    let bounces = tokio::spawn(every_tick(
        app.clone(),
        cancel.clone(),
        "bounces",
        |app, _| Box::pin(async move { read_bounce_maildir(&app).await }),
    ));
    let mut interval = tokio::time::interval(LEASE_TTL / 3);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        match app
            .store
            .acquire_lease(LEASE_NAME, &holder, LEASE_TTL)
            .await
        {
            Ok(leader) => app.leader.store(leader, Ordering::SeqCst),
            Err(e) => {
                app.leader.store(false, Ordering::SeqCst);
                tracing::error!("scheduler lease: {e}");
            }
        }
    }
    watch.await?;
    send.await?;
    housekeeping.await?;
    schedules.await?;
    bounces.await?;
    if app.leader.swap(false, Ordering::SeqCst) {
        app.store.release_lease(LEASE_NAME, &holder).await.ok();
    }
    Ok(())
}

type Step = fn(
    Arc<App>,
    CancellationToken,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// Runs `step` every tick while this process leads, until cancelled.
async fn every_tick(app: Arc<App>, cancel: CancellationToken, name: &'static str, step: Step) {
    ticks(app, cancel, name, step, false).await
}

/// The same, and also as soon as a request wakes the dispatcher (a mail was queued).
async fn every_tick_or_wake(
    app: Arc<App>,
    cancel: CancellationToken,
    name: &'static str,
    step: Step,
) {
    ticks(app, cancel, name, step, true).await
}

async fn ticks(
    app: Arc<App>,
    cancel: CancellationToken,
    name: &'static str,
    step: Step,
    on_wake: bool,
) {
    let mut interval = tokio::time::interval(app.config.scheduler_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
            _ = app.dispatcher.woken(), if on_wake => {}
        }
        if !app.leader.load(Ordering::SeqCst) {
            continue;
        }
        if let Err(e) = step(app.clone(), cancel.clone()).await {
            tracing::error!("{name} step failed: {e:#}");
        }
    }
}

/// Queues the approved issues whose planned time has come (the desk's *Programmer*). One
/// later than `schedule_lateness` is not made: an issue planned for Thursday 9:00 does not go
/// out on Saturday because the daemon was down; the desk shows it still planned.
async fn send_planned_issues(app: &App) -> anyhow::Result<()> {
    let now = app.store.now();
    let lateness = chrono::Duration::from_std(app.config.schedule_lateness)?;
    for (issue, segment, at) in app.store.due_scheduled_issues(now).await? {
        if now - at > lateness {
            tracing::warn!(issue, planned = %at, "planned send too late: not sent, plan it again");
            continue;
        }
        let (dispatch, added) = app.dispatcher.queue(issue, segment.as_deref()).await?;
        app.store.set_issue_schedule(issue, None, None).await?;
        tracing::info!(issue, dispatch = dispatch.id, added, "planned send queued");
        app.dispatcher.wake();
    }
    Ok(())
}

/// The reports that arrived in the configured bounce maildir since the last tick, each moved to
/// `cur/` once read.
async fn read_bounce_maildir(app: &App) -> anyhow::Result<()> {
    let Some(dir) = &app.config.bounce_maildir else {
        return Ok(());
    };
    let summary = app
        .bounces()
        .path(dir, |file, outcome| match outcome {
            crate::bounces::Outcome::Unmatched { reason, .. } => {
                tracing::info!(file = %file.display(), reason, "bounce report matches no delivery")
            }
            crate::bounces::Outcome::Unreadable { error } => {
                tracing::warn!(file = %file.display(), error, "bounce report unreadable, moved to cur/")
            }
            crate::bounces::Outcome::Applied { .. } => {}
        })
        .await?;
    if summary.read + summary.unreadable > 0 {
        tracing::info!(
            read = summary.read,
            matched = summary.matched,
            hard = summary.hard,
            soft = summary.soft,
            complaints = summary.complaints,
            policy = summary.policy,
            unmatched = summary.unmatched,
            suppressed = summary.suppressed,
            "bounce reports read"
        );
    }
    Ok(())
}
