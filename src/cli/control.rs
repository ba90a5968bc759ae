//! `relais issue pause|resume|cancel|resend`, the dispatches' states in `issue status`, and the
//! progress of `issue send --wait`: a bar on a terminal, a plain line every few seconds
//! otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::{not_found, print_json};
use crate::app::App;
use crate::dispatch::control::{control_issue, Control};
use crate::domain::DispatchState;
use crate::store::{DeliveryCounts, DispatchControl};

pub(super) async fn apply(app: &App, issue: i64, control: Control) -> anyhow::Result<()> {
    app.store
        .issue(issue)
        .await
        .map_err(|e| not_found(e, &format!("numéro {issue} introuvable")))?;
    let (_, message) = control_issue(&app.store, issue, control, "la ligne de commande").await?;
    // A cancelled dispatch with nothing in flight is complete now, and its issue sent.
    app.dispatcher.finish_open_dispatches().await?;
    eprintln!("{message}");
    Ok(())
}

pub(super) async fn resend(app: &App, issue: i64, unknown: bool, json: bool) -> anyhow::Result<()> {
    app.store
        .issue(issue)
        .await
        .map_err(|e| not_found(e, &format!("numéro {issue} introuvable")))?;
    if !unknown {
        bail!(
            "`issue resend` ne renvoie que les messages incertains (partis sans que le serveur en \
             confirme la réception), et seulement si vous le demandez par --unknown : certaines \
             personnes les ont peut-être déjà reçus et auront un doublon"
        );
    }
    let requeued = app.store.requeue_unknown(issue).await?;
    if json {
        print_json(&serde_json::json!({ "issue": issue, "requeued": requeued }))?;
    } else {
        eprintln!(
            "numéro {issue} : {requeued} message(s) incertain(s) remis en file pour un essai de plus ; \
             le démon les envoie (ou `relais issue send {issue} --wait`)"
        );
    }
    Ok(())
}

/// One line per dispatch that is not simply running: paused or cancelled, and why.
pub(super) fn state_lines(dispatches: &[DispatchControl]) -> Vec<String> {
    dispatches
        .iter()
        .filter(|d| d.state != DispatchState::Active)
        .map(|d| {
            let audience = if d.segment.is_empty() {
                "tous les abonné·es".to_string()
            } else {
                format!("segment {}", d.segment)
            };
            let hint = match d.state {
                DispatchState::Paused => " ; `relais issue resume` le reprend",
                _ => "",
            };
            format!(
                "envoi {} ({audience}) {} : {}{hint}",
                d.id,
                d.state.label(),
                d.reason
            )
        })
        .collect()
}

pub(super) fn print_states(dispatches: &[DispatchControl]) {
    for line in state_lines(dispatches) {
        println!("{line}");
    }
}

/// The progress of `issue send --wait`, read from the ledger while the workers send.
pub(super) struct Progress {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub(super) fn start(app: &App, issue: i64, dispatch: i64) -> Self {
        let stop = CancellationToken::new();
        let store = app.store.clone();
        let done = stop.clone();
        let task = tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let bar = tty.then(|| {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} · {msg} · reste {eta}")
                        .expect("a valid template"),
                );
                bar
            });
            let every = if tty {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            };
            let started = Instant::now();
            loop {
                tokio::select! {
                    _ = done.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
                let Ok(c) = store.delivery_counts(issue).await else {
                    continue;
                };
                let settled = settled(&c);
                match &bar {
                    Some(bar) => {
                        bar.set_message(format!(
                            "envoyés {} · différés {} · échecs {} · {:.0} msg/s",
                            c.sent,
                            c.deferred,
                            c.failed,
                            rate(settled, started.elapsed())
                        ));
                        bar.set_length(c.total() as u64);
                        bar.set_position(settled as u64);
                    }
                    None => eprintln!("{}", plain_line(dispatch, &c, started.elapsed())),
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Self { stop, task }
    }

    pub(super) async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn rate(settled: i64, elapsed: Duration) -> f64 {
    settled as f64 / elapsed.as_secs_f64().max(0.001)
}

fn settled(c: &DeliveryCounts) -> i64 {
    c.sent + c.failed + c.unknown + c.skipped
}

/// « envoi 3 : 120/1000 traités (envoyés 118, différés 1, échecs 1) · 40 msg/s · reste 22 s ».
fn plain_line(dispatch: i64, c: &DeliveryCounts, elapsed: Duration) -> String {
    let settled = settled(c);
    let rate = rate(settled, elapsed);
    let left = c.total() - settled;
    let eta = if rate > 0.0 {
        format!(" · reste {} s", (left as f64 / rate).ceil() as i64)
    } else {
        String::new()
    };
    format!(
        "envoi {dispatch} : {settled}/{} traités (envoyés {}, différés {}, échecs {}) · {rate:.0} msg/s{eta}",
        c.total(),
        c.sent,
        c.deferred,
        c.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_progress_line_says_counts_rate_and_time_left() {
        let c = DeliveryCounts {
            queued: 880,
            sent: 118,
            deferred: 1,
            failed: 1,
            ..Default::default()
        };
        assert_eq!(
            plain_line(3, &c, Duration::from_secs(3)),
            "envoi 3 : 119/1000 traités (envoyés 118, différés 1, échecs 1) · 40 msg/s · reste 23 s"
        );
    }
}
