//! Pacing of the sender workers: a global rate (messages per second and per hour, for relays
//! with quotas) and a limit of messages in flight to one recipient domain. A worker asks for a
//! permit before each message; a message held back waits for it, it is never failed for it.
//! The limits hold within one process (several processes share a relay's quota between them).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingSettings {
    /// Messages per second, all workers together.
    pub rate: Option<f64>,
    /// Messages per hour, all workers together, spread evenly over the hour.
    pub hourly: Option<u32>,
    /// Messages in flight to one recipient domain at once.
    pub per_domain: Option<usize>,
}

pub struct Pacer {
    limiters: Vec<DefaultDirectRateLimiter>,
    per_domain: Option<usize>,
    domains: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The right to send one message now; its domain's slot is given back when it is dropped.
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

/// A quota of one message every `period`, without burst: an hourly limit of N is N messages
/// spread over the hour, so that no rolling hour holds more than N + 1.
fn steady(period: Duration) -> Option<DefaultDirectRateLimiter> {
    let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::MIN);
    Some(RateLimiter::direct(quota))
}

impl Pacer {
    pub fn new(settings: &PacingSettings) -> Self {
        let mut limiters = Vec::new();
        if let Some(rate) = settings.rate.filter(|r| *r > 0.0) {
            limiters.extend(steady(Duration::from_secs_f64(1.0 / rate)));
        }
        if let Some(hourly) = settings.hourly.filter(|h| *h > 0) {
            limiters.extend(steady(Duration::from_secs(3600) / hourly));
        }
        Self {
            limiters,
            per_domain: settings.per_domain,
            domains: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a rate applies: then a worker claims one delivery at a time, so that rows wait
    /// for their turn in the queue, not leased to a worker.
    pub fn is_paced(&self) -> bool {
        !self.limiters.is_empty()
    }

    /// Waits until a message to `email` may leave: a slot for its domain first (so that a
    /// message held by its domain does not spend the rate), then the rates.
    pub async fn admit(&self, email: &str) -> Permit {
        let slot = match self.per_domain {
            Some(max) => {
                let domain = email
                    .rsplit_once('@')
                    .map_or("", |(_, d)| d)
                    .to_ascii_lowercase();
                let semaphore = self
                    .domains
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .entry(domain)
                    .or_insert_with(|| Arc::new(Semaphore::new(max.max(1))))
                    .clone();
                semaphore.acquire_owned().await.ok()
            }
            None => None,
        };
        for limiter in &self.limiters {
            limiter.until_ready().await;
        }
        Permit { _slot: slot }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_domain_gets_no_more_messages_in_flight_than_its_limit() {
        let pacer = Pacer::new(&PacingSettings {
            per_domain: Some(2),
            ..Default::default()
        });
        let a = pacer.admit("a@Example.org").await;
        let _b = pacer.admit("b@example.org").await;
        let other = pacer.admit("c@example.net").await;
        drop(other);
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.admit("c@example.org"));
        assert!(third.await.is_err(), "a third message to the domain waits");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.admit("c@example.org"));
        assert!(third.await.is_ok(), "and goes once one is done");
    }

    #[test]
    fn a_rate_means_one_claim_at_a_time() {
        assert!(!Pacer::new(&PacingSettings::default()).is_paced());
        let hourly = Pacer::new(&PacingSettings {
            hourly: Some(100),
            ..Default::default()
        });
        assert!(hourly.is_paced());
    }
}
