//! Login throttling and request rate limits, decided from counts and the
//! time the caller passes in (no clock, no IO).
//!
//! Logins: failures are counted per user name and per client address in a
//! sliding window. Too many for one user locks that user for a while (a
//! password guesser cannot keep trying one account from many addresses); too
//! many from one address locks the address (one guesser cannot try many
//! accounts). A success clears the user's count. Memory is bounded: the
//! least recently failing keys are forgotten first.

use std::collections::{HashMap, VecDeque};

#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    /// Failures of one user within `window_ms` that lock it.
    pub user_failures: usize,
    /// Failures from one address within `window_ms` that lock the address.
    pub address_failures: usize,
    pub window_ms: i64,
    /// How long a lock lasts.
    pub lock_ms: i64,
    /// Keys remembered at most (each of users and addresses).
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            user_failures: 5,
            address_failures: 20,
            window_ms: 15 * 60_000,
            lock_ms: 15 * 60_000,
            max_keys: 100_000,
        }
    }
}

/// Whether a login may be tried now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Go,
    /// This user is locked until the instant (ms).
    UserLocked {
        until_ms: i64,
    },
    /// This address is locked until the instant (ms).
    AddressLocked {
        until_ms: i64,
    },
}

impl Verdict {
    /// Whole seconds until the lock ends (at least 1), for `Retry-After`.
    pub fn retry_after_s(self, now_ms: i64) -> i64 {
        match self {
            Verdict::Go => 0,
            Verdict::UserLocked { until_ms } | Verdict::AddressLocked { until_ms } => {
                ((until_ms - now_ms + 999) / 1000).max(1)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Track {
    failures: VecDeque<i64>,
    locked_until_ms: i64,
    last_ms: i64,
}

#[derive(Debug, Default)]
struct Keys {
    map: HashMap<String, Track>,
}

impl Keys {
    fn locked(&self, key: &str, now_ms: i64) -> Option<i64> {
        self.map
            .get(key)
            .map(|t| t.locked_until_ms)
            .filter(|until| *until > now_ms)
    }

    /// Records a failure; returns the lock end if this failure set one.
    fn fail(&mut self, key: &str, now_ms: i64, limit: usize, cfg: &ThrottleConfig) -> Option<i64> {
        if !self.map.contains_key(key) && self.map.len() >= cfg.max_keys {
            self.evict_oldest();
        }
        let t = self.map.entry(key.to_owned()).or_default();
        t.last_ms = now_ms;
        while t
            .failures
            .front()
            .is_some_and(|at| *at <= now_ms - cfg.window_ms)
        {
            t.failures.pop_front();
        }
        t.failures.push_back(now_ms);
        if t.failures.len() >= limit {
            t.failures.clear();
            t.locked_until_ms = now_ms + cfg.lock_ms;
            return Some(t.locked_until_ms);
        }
        None
    }

    fn evict_oldest(&mut self) {
        if let Some(key) = self
            .map
            .iter()
            .min_by_key(|(_, t)| t.last_ms)
            .map(|(k, _)| k.clone())
        {
            self.map.remove(&key);
        }
    }
}

/// Login failure counts per user and per address.
#[derive(Debug, Default)]
pub struct Throttle {
    cfg: ThrottleConfig,
    users: Keys,
    addresses: Keys,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self {
            cfg,
            ..Self::default()
        }
    }

    /// Whether `user` may try to log in from `address` now.
    pub fn check(&self, user: &str, address: &str, now_ms: i64) -> Verdict {
        if let Some(until_ms) = self.addresses.locked(address, now_ms) {
            return Verdict::AddressLocked { until_ms };
        }
        if let Some(until_ms) = self.users.locked(user, now_ms) {
            return Verdict::UserLocked { until_ms };
        }
        Verdict::Go
    }

    /// Records a failed login; answers the lock it caused, if any.
    pub fn failed(&mut self, user: &str, address: &str, now_ms: i64) -> Verdict {
        let cfg = self.cfg;
        let address_lock = self
            .addresses
            .fail(address, now_ms, cfg.address_failures, &cfg);
        let user_lock = self.users.fail(user, now_ms, cfg.user_failures, &cfg);
        match (user_lock, address_lock) {
            (Some(until_ms), _) => Verdict::UserLocked { until_ms },
            (None, Some(until_ms)) => Verdict::AddressLocked { until_ms },
            (None, None) => Verdict::Go,
        }
    }

    /// A successful login clears the user's failures (not the address's:
    /// a guesser who owns one account must not reset their count with it).
    pub fn succeeded(&mut self, user: &str) {
        self.users.map.remove(user);
    }
}

/// A token bucket per key: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    burst: u32,
    per_minute: u32,
    max_keys: usize,
    /// key → (tokens × 60 000, last refill ms). Tokens are kept in
    /// milli-per-minute units so refills stay integers.
    buckets: HashMap<String, (i64, i64)>,
}

impl RateLimiter {
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: burst.max(1),
            per_minute: per_minute.max(1),
            max_keys: 100_000,
            buckets: HashMap::new(),
        }
    }

    /// `Ok` when a request for `key` may go now, else the ms to wait.
    pub fn allow(&mut self, key: &str, now_ms: i64) -> Result<(), i64> {
        const UNIT: i64 = 60_000;
        let full = i64::from(self.burst) * UNIT;
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            // Forget the fullest buckets' keys first: they are the idle ones.
            self.buckets.retain(|_, (tokens, _)| *tokens < full);
            if self.buckets.len() >= self.max_keys {
                self.buckets.clear();
            }
        }
        let rate = i64::from(self.per_minute);
        let (tokens, last) = self.buckets.entry(key.to_owned()).or_insert((full, now_ms));
        let elapsed = (now_ms - *last).max(0);
        *tokens = (*tokens + elapsed.saturating_mul(rate)).min(full);
        *last = now_ms;
        if *tokens >= UNIT {
            *tokens -= UNIT;
            Ok(())
        } else {
            Err(((UNIT - *tokens) + rate - 1) / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_user_for_fifteen_minutes() {
        let mut t = Throttle::default();
        for i in 0..4 {
            assert_eq!(t.failed("chen", "10.0.0.1", i), Verdict::Go);
            assert_eq!(t.check("chen", "10.0.0.1", i), Verdict::Go);
        }
        let v = t.failed("chen", "10.0.0.1", 10);
        assert_eq!(
            v,
            Verdict::UserLocked {
                until_ms: 10 + 15 * 60_000
            }
        );
        assert_eq!(v.retry_after_s(10), 900);
        // Locked from any address, others unaffected.
        assert!(matches!(
            t.check("chen", "10.9.9.9", 20),
            Verdict::UserLocked { .. }
        ));
        assert_eq!(t.check("li", "10.0.0.1", 20), Verdict::Go);
        assert_eq!(t.check("chen", "10.0.0.1", 10 + 15 * 60_000), Verdict::Go);
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let mut t = Throttle::default();
        for i in 0..4 {
            t.failed("chen", "a", i * 10 * 60_000);
        }
        assert_eq!(t.check("chen", "a", 40 * 60_000), Verdict::Go);
    }

    #[test]
    fn one_address_trying_many_users_is_locked() {
        let mut t = Throttle::default();
        let mut last = Verdict::Go;
        for i in 0..20 {
            last = t.failed(&format!("user{i}"), "10.0.0.7", i64::from(i));
        }
        assert!(matches!(last, Verdict::AddressLocked { .. }));
        assert!(matches!(
            t.check("someone", "10.0.0.7", 30),
            Verdict::AddressLocked { .. }
        ));
        assert_eq!(t.check("someone", "10.0.0.8", 30), Verdict::Go);
    }

    #[test]
    fn success_clears_the_user_count() {
        let mut t = Throttle::default();
        for i in 0..4 {
            t.failed("chen", "a", i);
        }
        t.succeeded("chen");
        assert_eq!(t.failed("chen", "a", 5), Verdict::Go);
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Throttle::new(ThrottleConfig {
            max_keys: 10,
            ..ThrottleConfig::default()
        });
        for i in 0..100 {
            t.failed(&format!("u{i}"), &format!("a{i}"), i64::from(i));
        }
        assert!(t.users.map.len() <= 10 && t.addresses.map.len() <= 10);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut r = RateLimiter::new(3, 60);
        assert!(r.allow("k", 0).is_ok());
        assert!(r.allow("k", 0).is_ok());
        assert!(r.allow("k", 0).is_ok());
        let wait = r.allow("k", 0).unwrap_err();
        assert_eq!(wait, 1000);
        assert!(r.allow("other", 0).is_ok());
        assert!(r.allow("k", 1000).is_ok());
        assert!(r.allow("k", 1000).is_err());
    }
}
