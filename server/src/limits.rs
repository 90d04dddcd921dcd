//! S5 (issue 16): login attempts are limited per account and per client
//! address, so a password cannot be guessed at speed, nor many accounts
//! sprayed from one address. The buckets are GCRA rate limiters of the
//! `governor` crate, kept in memory (a restart forgets them, as it should a
//! minute-scale limit). An attempt over either limit answers 429 with
//! `Retry-After` and checks no password.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Keys kept before stale ones are dropped (an attacker trying many emails
/// must not grow the map without bound).
const RETAIN_AFTER: usize = 10_000;

pub struct LoginLimits {
    buckets: std::sync::RwLock<Buckets>,
    clock: DefaultClock,
}

struct Buckets {
    by_account: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
}

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

impl LoginLimits {
    /// At most `account_burst` attempts at once per account, then one per
    /// `account_every`; per address `address_burst`, then one per
    /// `address_every`.
    pub fn new(
        account_burst: u32,
        account_every: Duration,
        address_burst: u32,
        address_every: Duration,
    ) -> LoginLimits {
        let quota = |burst, every| {
            Quota::with_period(every)
                .unwrap_or_else(|| Quota::per_second(n(1)))
                .allow_burst(n(burst))
        };
        LoginLimits {
            buckets: std::sync::RwLock::new(Buckets {
                by_account: DefaultKeyedRateLimiter::keyed(quota(account_burst, account_every)),
                by_address: DefaultKeyedRateLimiter::keyed(quota(address_burst, address_every)),
            }),
            clock: DefaultClock::default(),
        }
    }

    /// Replaces the limits (and forgets every bucket): an operator's
    /// setting, and tests that need a small budget.
    pub fn reconfigure(&self, limits: LoginLimits) {
        let fresh = limits
            .buckets
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.buckets.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Ten attempts per account, then one every six seconds (ten a
    /// minute); a hundred per address (an office behind one NAT logging in
    /// at nine), then two a second.
    pub fn standard() -> LoginLimits {
        LoginLimits::new(10, Duration::from_secs(6), 100, Duration::from_millis(500))
    }

    /// Takes one attempt of `email` from `address`: `Err` with how long to
    /// wait when either bucket is empty. The email is compared in lower
    /// case (the account is the same whatever the case typed).
    pub fn attempt(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        let b = self.buckets.read().unwrap_or_else(|e| e.into_inner());
        if let Some(ip) = address {
            b.by_address
                .check_key(&ip)
                .map_err(|w| w.wait_time_from(now))?;
        }
        let account = email.trim().to_lowercase();
        b.by_account
            .check_key(&account)
            .map_err(|w| w.wait_time_from(now))?;
        if b.by_account.len() > RETAIN_AFTER {
            b.by_account.retain_recent();
        }
        if b.by_address.len() > RETAIN_AFTER {
            b.by_address.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_an_account_and_an_address_each_have_their_budget() {
        let limits = LoginLimits::new(3, Duration::from_secs(60), 5, Duration::from_secs(60));
        let home: IpAddr = "10.0.0.1".parse().unwrap();
        let away: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.attempt("ana@example.com", Some(home)).is_ok());
        }
        // The account is spent, whatever the case or the address.
        let wait = limits.attempt("Ana@Example.com", Some(away)).unwrap_err();
        assert!(wait > Duration::from_secs(30), "{wait:?}");
        // Other accounts from the same address, until the address is spent.
        assert!(limits.attempt("bo@example.com", Some(home)).is_ok());
        assert!(limits.attempt("cy@example.com", Some(home)).is_ok());
        assert!(limits.attempt("dee@example.com", Some(home)).is_err());
        assert!(limits.attempt("dee@example.com", Some(away)).is_ok());
    }
}
