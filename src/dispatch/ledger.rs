//! The delivery ledger's one writer during a pass: every worker's "attempt started" marks and
//! outcomes, committed together (group commit), so that a commit and its flush to disk are
//! paid once for all the connections instead of twice per message. A worker waits for its
//! mark before the message leaves; its outcome is written with the next batch, in order, so it
//! is durable before that worker's next mark: at any moment at most the message in flight on
//! each connection is `sending`, and only those can turn out ambiguous after a crash.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{DeliveryOutcome, LedgerWrite, Store};

/// At most this many writes in one transaction; more wait for the next one.
const GROUP: usize = 256;

struct Entry {
    write: LedgerWrite,
    written: Option<oneshot::Sender<Result<bool, String>>>,
}

/// A handle on the writer; the writer ends once every handle is dropped and the last
/// batch is committed (see [`Ledger::finish`]).
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

    /// Marks the attempt on this delivery as begun, durably. False when the lease was lost
    /// meanwhile: the delivery is someone else's now and must not be sent.
    pub async fn start_attempt(
        &self,
        id: i64,
        owner: &str,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        let (written, answer) = oneshot::channel();
        let write = LedgerWrite::Start {
            id,
            owner: owner.to_string(),
            lease,
        };
        self.entries
            .send(Entry {
                write,
                written: Some(written),
            })
            .map_err(|_| anyhow::anyhow!("ledger writer stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("ledger writer stopped"))?
            .map_err(|e| anyhow::anyhow!("ledger write failed: {e}"))
    }

    /// Queues an outcome; it is committed before this worker's next mark.
    pub fn record(&self, id: i64, owner: &str, outcome: DeliveryOutcome) -> anyhow::Result<()> {
        let write = LedgerWrite::Outcome {
            id,
            owner: owner.to_string(),
            outcome,
        };
        self.entries
            .send(Entry {
                write,
                written: None,
            })
            .map_err(|_| anyhow::anyhow!("ledger writer stopped"))
    }
}

impl LedgerTask {
    /// Waits until every queued write is committed (all handles must be dropped first).
    /// Returns how many outcomes came after their lease was lost.
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
    while queue.recv_many(&mut batch, GROUP).await > 0 {
        let writes: Vec<LedgerWrite> = batch.iter().map(|e| e.write.clone()).collect();
        let result = store.write_ledger(&writes).await;
        for (n, entry) in batch.drain(..).enumerate() {
            let written = match &result {
                Ok(written) => Ok(written[n]),
                Err(e) => Err(e.to_string()),
            };
            if let (Ok(false), LedgerWrite::Outcome { id, outcome, .. }) = (&written, &entry.write)
            {
                late.fetch_add(1, Ordering::SeqCst);
                metrics::counter!("relais_late_outcomes_total").increment(1);
                tracing::warn!(
                    ledger = "delivery",
                    id,
                    ?outcome,
                    "outcome not recorded: the lease expired before the attempt ended, the row stays 'unknown'"
                );
            }
            if let Some(answer) = entry.written {
                let _ = answer.send(written);
            }
        }
        // An outcome that could not be written is lost to the ledger: stop the pass, the row
        // stays `sending` and recovery makes it `unknown`, as after a crash.
        result?;
    }
    Ok(())
}
