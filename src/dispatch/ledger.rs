//! The delivery ledger's one writer during a pass: every worker's "attempt started" marks and
//! outcomes, committed together (group commit), so that a commit and its flush to disk are
//! paid once for several connections instead of twice per message.
//!
//! Each worker writes through its own [`Lane`]. A worker waits for its mark before the
//! message leaves. Its outcome is held by the lane and goes out with its next mark, in the
//! same statement (rather than in a group of its own that the mark would wait behind), so it
//! is durable before (or with) that mark: at any moment at most the message in flight on each
//! connection is `sending`, and only those can turn out ambiguous after a crash. The writer
//! takes entries in the order they were sent, so outcomes a lane flushed earlier commit before
//! its next mark.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{DeliveryOutcome, LedgerWrite, Store};

/// At most this many writes in one transaction; more wait for the next one.
const GROUP: usize = 256;

/// One lane's writes, committed in one statement; `written` answers for the last one.
struct Entry {
    writes: Vec<LedgerWrite>,
    written: Option<oneshot::Sender<Result<bool, String>>>,
}

/// A handle on the writer; it ends once every handle (and lane) is dropped and the last batch
/// is committed (see [`LedgerTask::finish`]).
#[derive(Clone)]
pub struct Ledger {
    entries: mpsc::UnboundedSender<Entry>,
}

pub struct LedgerTask {
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    late: Arc<AtomicUsize>,
}

impl Ledger {
    /// Starts the writer.
    pub fn start(store: Store) -> (Ledger, LedgerTask) {
        let (entries, queue) = mpsc::unbounded_channel();
        let late = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_batches(store, queue, late.clone()));
        (Ledger { entries }, LedgerTask { task, late })
    }

    /// A worker's lane: its writes, in order.
    pub fn lane(&self) -> Lane {
        Lane {
            ledger: self.clone(),
            pending: Vec::new(),
        }
    }

    fn send(&self, entry: Entry) -> anyhow::Result<()> {
        self.entries
            .send(entry)
            .map_err(|_| anyhow::anyhow!("ledger writer stopped"))
    }
}

/// One worker's writes. Outcomes wait in the lane for the worker's next mark, or for
/// [`Lane::flush`]; dropping the lane flushes them.
pub struct Lane {
    ledger: Ledger,
    pending: Vec<LedgerWrite>,
}

impl Lane {
    /// Marks the attempt on this delivery as begun, durably, together with the outcomes the
    /// lane holds. False when the lease was lost meanwhile or the dispatch is no longer
    /// active: the delivery must not be sent.
    pub async fn start_attempt(
        &mut self,
        id: i64,
        owner: &str,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        let (written, answer) = oneshot::channel();
        let mut writes = std::mem::take(&mut self.pending);
        writes.push(LedgerWrite::Start {
            id,
            owner: owner.to_string(),
            lease,
        });
        self.ledger.send(Entry {
            writes,
            written: Some(written),
        })?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("ledger writer stopped"))?
            .map_err(|e| anyhow::anyhow!("ledger write failed: {e}"))
    }

    /// Holds an outcome; it is committed with this worker's next mark, or at the next flush.
    pub fn record(&mut self, id: i64, owner: &str, outcome: DeliveryOutcome) {
        self.pending.push(LedgerWrite::Outcome {
            id,
            owner: owner.to_string(),
            outcome,
        });
    }

    /// Sends the outcomes held to be committed now, without waiting: before the worker
    /// does anything but start its next attempt (claim, wait for its pace), so that an
    /// outcome never waits in memory for long.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.ledger.send(Entry {
            writes: std::mem::take(&mut self.pending),
            written: None,
        })
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.ledger.send(Entry {
                writes: std::mem::take(&mut self.pending),
                written: None,
            });
        }
    }
}

impl LedgerTask {
    /// Waits until every queued write is committed (all handles and lanes must be dropped
    /// first). Returns how many outcomes came after their lease was lost.
    pub async fn finish(self) -> anyhow::Result<usize> {
        self.task.await??;
        Ok(self.late.load(Ordering::SeqCst))
    }
}

async fn write_batches(
    store: Store,
    mut queue: mpsc::UnboundedReceiver<Entry>,
    late: Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(GROUP);
    // Taken at the first write and held until the pass ends: a statement on the pool would
    // pay two more round trips, the pool's checks of the connection it lends.
    let mut connection = None;
    let (mut commits, mut total) = (0usize, 0usize);
    while queue.recv_many(&mut batch, GROUP).await > 0 {
        let writes: Vec<LedgerWrite> = batch
            .iter()
            .flat_map(|e: &Entry| e.writes.iter().cloned())
            .collect();
        let result = match &mut connection {
            Some(conn) => store.write_ledger(conn, &writes).await,
            None => match store.ledger_connection().await {
                Ok(conn) => store.write_ledger(connection.insert(conn), &writes).await,
                Err(e) => Err(e),
            },
        };
        let mut written = result.as_ref().map(|w| w.iter().copied());
        for entry in batch.drain(..) {
            let mut last = Ok(false);
            for write in &entry.writes {
                last = match &mut written {
                    Ok(w) => Ok(w.next().unwrap_or(false)),
                    Err(e) => Err(e.to_string()),
                };
                if let (Ok(false), LedgerWrite::Outcome { id, outcome, .. }) = (&last, write) {
                    late.fetch_add(1, Ordering::SeqCst);
                    metrics::counter!("relais_late_outcomes_total").increment(1);
                    tracing::warn!(
                        ledger = "delivery",
                        id,
                        ?outcome,
                        "outcome not recorded: the lease expired before the attempt ended, the row stays 'unknown'"
                    );
                }
            }
            if let Some(answer) = entry.written {
                let _ = answer.send(last);
            }
        }
        // An outcome that could not be written is lost to the ledger: stop the pass, the row
        // stays `sending` and recovery makes it `unknown`, as after a crash.
        result?;
        commits += 1;
        total += writes.len();
        metrics::counter!("relais_ledger_commits_total").increment(1);
        metrics::counter!("relais_ledger_writes_total").increment(writes.len() as u64);
    }
    tracing::debug!(commits, writes = total, "delivery ledger: pass written");
    Ok(())
}
