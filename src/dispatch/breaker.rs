//! The 5.7.x circuit breaker: when the relay refuses a dispatch's messages for policy reasons
//! (RFC 3463 class 5.7: blocked, rate limited, judged spam) more than a threshold within a
//! window, going on would only hurt the sender's reputation, so the dispatch pauses itself and
//! the editors are told. The count is kept per dispatch in this process, in one-second buckets.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::DeliveryOutcome;

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSettings {
    /// Policy refusals within the window that trip the breaker; 0 turns it off.
    pub refusals: usize,
    pub window: Duration,
    /// …provided they are at least this share of the window's attempts, in percent (a few
    /// receivers' own policies among thousands of deliveries do not stop a send).
    pub percent: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            refusals: 20,
            window: Duration::from_secs(300),
            percent: 5,
        }
    }
}

#[derive(Default)]
struct Window {
    /// (second, attempts, refusals), oldest first.
    buckets: VecDeque<(u64, usize, usize)>,
    attempts: usize,
    refusals: usize,
}

pub struct Breaker {
    settings: BreakerSettings,
    start: Instant,
    windows: Mutex<HashMap<i64, Window>>,
}

/// A refusal for policy reasons: a permanent failure whose enhanced status is 5.7.x.
pub fn is_policy_refusal(outcome: &DeliveryOutcome) -> bool {
    match outcome {
        DeliveryOutcome::Failed { reply } => {
            super::transport::enhanced_code(reply).is_some_and(|code| code.starts_with("5.7."))
        }
        _ => false,
    }
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            start: Instant::now(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt's outcome for its dispatch at `now`. Returns why the dispatch must
    /// pause when this outcome trips the breaker (its window starts afresh then).
    pub fn observe(
        &self,
        dispatch: i64,
        outcome: &DeliveryOutcome,
        now: Instant,
    ) -> Option<String> {
        if self.settings.refusals == 0 || matches!(outcome, DeliveryOutcome::Skipped { .. }) {
            return None;
        }
        let refused = is_policy_refusal(outcome);
        let second = now.saturating_duration_since(self.start).as_secs();
        let oldest = second.saturating_sub(self.settings.window.as_secs().max(1) - 1);
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let w = windows.entry(dispatch).or_default();
        while let Some(&(s, attempts, refusals)) = w.buckets.front() {
            if s >= oldest {
                break;
            }
            w.attempts -= attempts;
            w.refusals -= refusals;
            w.buckets.pop_front();
        }
        match w.buckets.back_mut() {
            Some(last) if last.0 == second => {
                last.1 += 1;
                last.2 += usize::from(refused);
            }
            _ => w.buckets.push_back((second, 1, usize::from(refused))),
        }
        w.attempts += 1;
        w.refusals += usize::from(refused);
        let tripped = refused
            && w.refusals >= self.settings.refusals
            && w.refusals * 100 >= w.attempts * self.settings.percent as usize;
        if !tripped {
            return None;
        }
        let reason = format!(
            "le serveur a refusé {} message(s) pour une raison de politique (5.7.x) sur {} tentative(s) en {} s",
            w.refusals,
            w.attempts,
            self.settings.window.as_secs()
        );
        windows.remove(&dispatch);
        Some(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> DeliveryOutcome {
        DeliveryOutcome::Failed {
            reply: "550 5.7.1 message refused as spam".into(),
        }
    }

    fn sent() -> DeliveryOutcome {
        DeliveryOutcome::Sent {
            reply: "250 2.0.0 ok".into(),
        }
    }

    fn breaker(refusals: usize, percent: u32) -> Breaker {
        Breaker::new(BreakerSettings {
            refusals,
            window: Duration::from_secs(300),
            percent,
        })
    }

    #[test]
    fn policy_refusals_are_5_7_failures_only() {
        assert!(is_policy_refusal(&refused()));
        assert!(!is_policy_refusal(&DeliveryOutcome::Failed {
            reply: "550 5.1.1 no such user".into()
        }));
        assert!(!is_policy_refusal(&DeliveryOutcome::Deferred {
            reply: "451 4.7.1 try later".into(),
            retry_at: chrono::Utc::now(),
        }));
    }

    #[test]
    fn the_threshold_of_refusals_trips_it_once_then_it_counts_afresh() {
        let b = breaker(3, 5);
        let t = Instant::now();
        assert_eq!(b.observe(1, &refused(), t), None);
        assert_eq!(b.observe(1, &refused(), t), None);
        assert_eq!(
            b.observe(2, &refused(), t),
            None,
            "another dispatch counts apart"
        );
        let reason = b.observe(1, &refused(), t).expect("third refusal trips");
        assert!(reason.contains("refusé 3 message(s)"), "{reason}");
        assert_eq!(b.observe(1, &refused(), t), None, "a fresh window");
    }

    #[test]
    fn refusals_that_are_a_small_share_of_attempts_do_not_trip_it() {
        let b = breaker(3, 5);
        let t = Instant::now();
        for _ in 0..100 {
            b.observe(1, &sent(), t);
        }
        for _ in 0..5 {
            assert_eq!(b.observe(1, &refused(), t), None, "5 in 105 is under 5 %");
        }
        assert!(
            b.observe(1, &refused(), t).is_some(),
            "6 in 106 is over 5 %"
        );
    }

    #[test]
    fn refusals_older_than_the_window_are_forgotten() {
        let b = breaker(3, 5);
        let t = Instant::now();
        b.observe(1, &refused(), t);
        b.observe(1, &refused(), t);
        let later = t + Duration::from_secs(301);
        assert_eq!(b.observe(1, &refused(), later), None);
        assert_eq!(b.observe(1, &refused(), later), None);
        assert!(b.observe(1, &refused(), later).is_some());
    }

    #[test]
    fn a_threshold_of_zero_turns_it_off() {
        let b = breaker(0, 5);
        let t = Instant::now();
        for _ in 0..50 {
            assert_eq!(b.observe(1, &refused(), t), None);
        }
    }
}
