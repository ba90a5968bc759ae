//! The daemon's loops. Every process sends (transactional mail and newsletters' deliveries:
//! the claim skips rows another process holds); one leader at a time (a lease row) polls due
//! feeds, runs the schedules and the housekeeping. Each loop is independent, so a long send
//! never delays the watch. Calls stage functions; no business logic of its own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;

mod runs;

pub use runs::{check_targets, listing, local_time, notice_view, ScheduleLine};

/// A leader that stops renewing (killed, cut off) is replaced once this has passed.
const LEASE_TTL: Duration = Duration::from_secs(60);
/// How often the lease is renewed, or tried by a follower: a follower leads at most
/// `LEASE_TTL + LEASE_TTL / 6` (70 s) after the leader's last renewal.
const LEASE_RENEW: Duration = Duration::from_secs(10);
const LEASE_NAME: &str = "scheduler";

/// Why the loops stopped short of a clean stop.
#[derive(Debug)]
pub struct ForcedStop {
    pub grace: Duration,
}

impl std::fmt::Display for ForcedStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "arrêt forcé : les envois en cours n'ont pas fini dans le délai de grâce ({} s) ; \
             ils seront « unknown » au prochain démarrage",
            self.grace.as_secs()
        )
    }
}

impl std::error::Error for ForcedStop {}

/// Runs the loops until `cancel` fires, then stops claiming, lets the attempts in flight end
/// within `shutdown_grace` (past it they are cut: their rows stay `sending`, and become
/// `unknown` at the next start), gives back the claims not attempted and the lease.
pub async fn run(app: Arc<App>, cancel: CancellationToken) -> anyhow::Result<()> {
    let holder = format!("{}-{}", std::process::id(), rand::random::<u32>());
    // Lead (or not) before the loops' first tick, so a fresh daemon polls at once.
    let leader = app
        .store
        .acquire_lease(LEASE_NAME, &holder, LEASE_TTL)
        .await
        .unwrap_or(false);
    set_leader(&app, leader);
    let mut loops = tokio::task::JoinSet::new();
    loops.spawn(leader_ticks(
        app.clone(),
        cancel.clone(),
        "watch",
        |app, cancel| {
            Box::pin(async move {
                let summary = app.watcher.poll_due(chrono::Utc::now(), &cancel).await?;
                metrics::counter!("relais_feed_polls_total").increment(summary.polled as u64);
                metrics::counter!("relais_items_new_total").increment(summary.new as u64);
                metrics::counter!("relais_items_updated_total").increment(summary.updated as u64);
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
    // Every process sends.
    loops.spawn(ticks(
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
        Every::ProcessOnWake,
    ));
    loops.spawn(leader_ticks(
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
    loops.spawn(leader_ticks(
        app.clone(),
        cancel.clone(),
        "schedules",
        |app, _| Box::pin(async move { runs::run_due(&app).await }),
    ));
    loops.spawn(leader_ticks(
        app.clone(),
        cancel.clone(),
        "bounces",
        |app, _| Box::pin(async move { read_bounce_maildir(&app).await }),
    ));
    let mut interval = tokio::time::interval(LEASE_RENEW);
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
            Ok(leader) => set_leader(&app, leader),
            Err(e) => {
                set_leader(&app, false);
                tracing::error!("scheduler lease: {e}");
            }
        }
    }
    // Stopping: no loop claims anything more; the attempts in flight get the grace.
    let grace = app.config.shutdown_grace;
    let stopped = tokio::time::timeout(grace, async {
        while let Some(done) = loops.join_next().await {
            if let Err(e) = done {
                tracing::error!("a loop of the daemon ended badly: {e}");
            }
        }
    })
    .await
    .is_ok();
    if !stopped {
        loops.abort_all();
        while loops.join_next().await.is_some() {}
    }
    match app.dispatcher.release_claims().await {
        Ok(0) => {}
        Ok(released) => tracing::info!(
            released,
            "claimed deliveries not attempted are queued again"
        ),
        Err(e) => tracing::error!("claims not given back (their lease will run out): {e}"),
    }
    if app.leader.swap(false, Ordering::SeqCst) {
        app.store.release_lease(LEASE_NAME, &holder).await.ok();
    }
    if !stopped {
        return Err(ForcedStop { grace }.into());
    }
    Ok(())
}

/// Records whether this process leads, for the loops and `/metrics`, and says so on a change.
fn set_leader(app: &App, leader: bool) {
    let was = app.leader.swap(leader, Ordering::SeqCst);
    metrics::gauge!("relais_scheduler_leader").set(u8::from(leader));
    if was != leader {
        if leader {
            tracing::info!("this process now leads: feed polling, schedules, housekeeping");
        } else {
            tracing::info!("this process no longer leads; it keeps sending");
        }
    }
}

type Step = fn(
    Arc<App>,
    CancellationToken,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// When a loop's step runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Every {
    /// Every tick, while this process leads.
    LeaderTick,
    /// Every tick in every process, and at once when a request wakes the dispatcher (a mail
    /// was queued).
    ProcessOnWake,
}

/// Runs `step` every tick while this process leads, until cancelled.
async fn leader_ticks(app: Arc<App>, cancel: CancellationToken, name: &'static str, step: Step) {
    ticks(app, cancel, name, step, Every::LeaderTick).await
}

async fn ticks(
    app: Arc<App>,
    cancel: CancellationToken,
    name: &'static str,
    step: Step,
    every: Every,
) {
    let on_wake = every == Every::ProcessOnWake;
    let mut interval = tokio::time::interval(app.config.scheduler_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
            _ = app.dispatcher.woken(), if on_wake => {}
        }
        if every == Every::LeaderTick && !app.leader.load(Ordering::SeqCst) {
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
