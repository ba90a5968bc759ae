//! Rate limits on the public forms and the staff sign-in: per client IP and per address, in memory. Each process
//! counts its own requests; that is enough to stop a script hammering one daemon.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Limits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_address: DefaultKeyedRateLimiter<String>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for Limits {
    fn default() -> Self {
        let n = |v| NonZeroU32::new(v).expect("non-zero");
        Self {
            // A burst of 5 forms, then one every 6 minutes.
            per_ip: RateLimiter::keyed(Quota::per_hour(n(10)).allow_burst(n(5))),
            // Three requests for one address a day, whoever sends them.
            per_address: RateLimiter::keyed(Quota::per_hour(n(1)).allow_burst(n(3))),
            // Staff sign-in: room for typos, not for guessing passwords.
            logins: RateLimiter::keyed(Quota::per_hour(n(30)).allow_burst(n(10))),
        }
    }
}

impl Limits {
    pub fn allow_ip(&self, ip: IpAddr) -> bool {
        self.forget_old();
        self.per_ip.check_key(&ip).is_ok()
    }

    pub fn allow_login(&self, ip: IpAddr) -> bool {
        self.forget_old();
        self.logins.check_key(&ip).is_ok()
    }

    pub fn allow_address(&self, address: &str) -> bool {
        self.per_address.check_key(&address.to_string()).is_ok()
    }

    /// Keys whose quota is whole again are dropped, so memory stays bounded.
    fn forget_old(&self) {
        if self.per_ip.len() > 10_000 {
            self.per_ip.retain_recent();
        }
        if self.per_address.len() > 10_000 {
            self.per_address.retain_recent();
        }
        if self.logins.len() > 10_000 {
            self.logins.retain_recent();
        }
    }
}
