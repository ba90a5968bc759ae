//! Limits on the CPU-bound stages (repair, parse, clean): a deadline and a stop flag, checked
//! between units of work, so a hostile feed or a daemon asked to stop never keeps a core busy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Exhausted {
    #[error("analyse du flux trop longue (plus de {0} s) : flux abandonné")]
    TimedOut(u64),
    #[error("analyse du flux interrompue par l'arrêt du service")]
    Cancelled,
}

/// Shared between the async side, which may stop the work, and the blocking thread doing it.
#[derive(Debug, Clone)]
pub struct Budget {
    started: Instant,
    limit: Duration,
    stop: Arc<AtomicBool>,
}

impl Budget {
    pub fn new(limit: Duration) -> Self {
        Budget {
            started: Instant::now(),
            limit,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Ok while there is time left and nobody asked to stop.
    pub fn check(&self) -> Result<(), Exhausted> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Exhausted::Cancelled);
        }
        if self.started.elapsed() > self.limit {
            return Err(Exhausted::TimedOut(self.limit.as_secs()));
        }
        Ok(())
    }

    /// A guard that stops the work when dropped: held by the future that awaits the blocking
    /// task, so dropping that future (cancellation, shutdown) stops the thread too.
    pub fn stop_on_drop(&self) -> StopOnDrop {
        StopOnDrop(self.stop.clone())
    }
}

pub struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_and_a_dropped_guard_both_stop_the_work() {
        let budget = Budget::new(Duration::from_secs(60));
        assert_eq!(budget.check(), Ok(()));
        drop(budget.stop_on_drop());
        assert_eq!(budget.check(), Err(Exhausted::Cancelled));
        let spent = Budget::new(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(spent.check(), Err(Exhausted::TimedOut(0)));
    }
}
