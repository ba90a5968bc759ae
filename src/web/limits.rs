//! Rate limits on the public forms and the staff sign-in: per client IP and per address, in
//! memory. Each process counts its own requests; that is enough to stop a script hammering one
//! daemon. The per-address limit covers every public form that mails a confirmation. The API
//! counts per token.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub struct Limits<C: Clock + Clone = DefaultClock> {
    per_ip: Keyed<IpAddr, C>,
    per_address: Keyed<String, C>,
    logins: Keyed<IpAddr, C>,
    member_links: Keyed<String, C>,
    api: Keyed<i64, C>,
    clock: C,
}

impl Default for Limits {
    fn default() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

fn keyed<K: std::hash::Hash + Eq + Clone, C: Clock + Clone>(
    quota: Quota,
    clock: &C,
) -> Keyed<K, C> {
    RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone())
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Requests a minute for one API token (a burst of as many, then one every half second).
pub const API_PER_MINUTE: u32 = 120;

impl<C: Clock + Clone> Limits<C> {
    fn with_clock(clock: C) -> Self {
        let n = |v| NonZeroU32::new(v).expect("non-zero");
        Self {
            // A burst of 5 forms, then one every 6 minutes.
            per_ip: keyed(Quota::per_hour(n(10)).allow_burst(n(5)), &clock),
            // Three requests for one address within a day, whoever sends them; then one a day.
            per_address: keyed(
                Quota::with_period(DAY)
                    .expect("a day is not zero")
                    .allow_burst(n(3)),
                &clock,
            ),
            // Staff sign-in: room for typos, not for guessing passwords.
            logins: keyed(Quota::per_hour(n(30)).allow_burst(n(10)), &clock),
            // Members' sign-in links: three at once for one address, then one every 10 minutes.
            member_links: keyed(Quota::per_hour(n(6)).allow_burst(n(3)), &clock),
            api: keyed(Quota::per_minute(n(API_PER_MINUTE)), &clock),
            clock,
        }
    }

    pub fn allow_ip(&self, ip: IpAddr) -> bool {
        self.forget_old();
        self.per_ip.check_key(&ip).is_ok()
    }

    pub fn allow_login(&self, ip: IpAddr) -> bool {
        self.forget_old();
        self.logins.check_key(&ip).is_ok()
    }

    /// `address` in its normalised form, so that case or spaces do not make a new key.
    pub fn allow_address(&self, address: &str) -> bool {
        self.forget_old();
        self.per_address.check_key(&address.to_string()).is_ok()
    }

    /// A member's sign-in link for `address` (normalised).
    pub fn allow_member_link(&self, address: &str) -> bool {
        self.forget_old();
        self.member_links.check_key(&address.to_string()).is_ok()
    }

    /// One request with the API token `token`; when refused, how long to wait.
    pub fn allow_api(&self, token: i64) -> Result<(), Duration> {
        self.forget_old();
        self.api
            .check_key(&token)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Keys whose quota is whole again are dropped, so memory stays bounded.
    fn forget_old(&self) {
        if self.per_ip.len() > 10_000 {
            self.per_ip.retain_recent();
        }
        if self.per_address.len() > 10_000 {
            self.per_address.retain_recent();
        }
        if self.member_links.len() > 10_000 {
            self.member_links.retain_recent();
        }
        if self.logins.len() > 10_000 {
            self.logins.retain_recent();
        }
        if self.api.len() > 10_000 {
            self.api.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn one_address_gets_three_requests_a_day_not_one_an_hour() {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(clock.clone());
        let marie = "marie@example.org";
        assert!((0..3).all(|_| limits.allow_address(marie)));
        assert!(!limits.allow_address(marie), "a fourth at once");
        assert!(
            limits.allow_address("paul@example.org"),
            "others are not held"
        );
        clock.advance(Duration::from_secs(3600));
        assert!(!limits.allow_address(marie), "an hour later");
        clock.advance(Duration::from_secs(22 * 3600));
        assert!(!limits.allow_address(marie), "23 hours later");
        clock.advance(Duration::from_secs(3600));
        assert!(limits.allow_address(marie), "a day later, one more");
        assert!(!limits.allow_address(marie));
    }

    #[test]
    fn an_api_token_gets_its_minute_quota_and_is_told_when_to_come_back() {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(clock.clone());
        assert!((0..API_PER_MINUTE).all(|_| limits.allow_api(7).is_ok()));
        let wait = limits.allow_api(7).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limits.allow_api(8).is_ok(), "another token is not held");
        clock.advance(wait);
        assert!(limits.allow_api(7).is_ok());
    }
}
