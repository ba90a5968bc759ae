//! The scheduler: one leader at a time (a lease row), polling due feeds and working the send
//! queue. Calls stage functions; no business logic of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;

const TICK: Duration = Duration::from_secs(15);
const LEASE_TTL: Duration = Duration::from_secs(60);
const LEASE_NAME: &str = "scheduler";

/// 1 in the process that runs the schedule (exported as a metric).
pub static IS_LEADER: AtomicBool = AtomicBool::new(false);

pub async fn run(app: Arc<App>, cancel: CancellationToken) -> anyhow::Result<()> {
    let holder = format!("{}-{}", std::process::id(), rand::random::<u32>());
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        if let Err(e) = tick(&app, &holder, &cancel).await {
            tracing::error!("scheduler tick failed: {e:#}");
        }
    }
    if IS_LEADER.swap(false, Ordering::SeqCst) {
        app.store.release_lease(LEASE_NAME, &holder).await.ok();
    }
    Ok(())
}

/// One step: renew leadership, then poll due sources and send due deliveries.
pub async fn tick(app: &App, holder: &str, cancel: &CancellationToken) -> anyhow::Result<()> {
    let leader = app
        .store
        .acquire_lease(LEASE_NAME, holder, LEASE_TTL)
        .await?;
    IS_LEADER.store(leader, Ordering::SeqCst);
    if !leader {
        return Ok(());
    }
    let summary = app.watcher.poll_due(chrono::Utc::now()).await?;
    if summary.polled > 0 {
        tracing::info!(
            polled = summary.polled,
            new = summary.new,
            updated = summary.updated,
            failing = summary.failing.len(),
            "feeds polled"
        );
    }
    let stats = app.dispatcher.deliver_due(None, cancel).await?;
    if stats.claimed > 0 {
        tracing::info!(
            claimed = stats.claimed,
            sent = stats.sent,
            "deliveries worked"
        );
    }
    Ok(())
}
