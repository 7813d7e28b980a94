//! Token buckets per key (a user, a token, a client address), refilled continuously at N per minute. In memory,
//! per replica: with R replicas behind a load balancer a client gets at most R×N, which is what the seed's
//! per-instance limiter gives too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets idle this long are full again and can be forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(120);

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when the request may go ahead; `Err(wait)` with how long until it could.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.updated) < FORGET_AFTER);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - bucket.tokens) / per_second).max(1.0),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_up_to_the_limit_passes_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(100);
        let start = Instant::now();
        for i in 0..100 {
            assert!(limiter.check_at("ip:1", start).is_ok(), "request {i}");
        }
        let wait = limiter.check_at("ip:1", start).unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait < Duration::from_secs(2),
            "{wait:?}"
        );
        assert!(
            limiter.check_at("ip:2", start).is_ok(),
            "other keys are independent"
        );
        assert!(limiter
            .check_at("ip:1", start + Duration::from_millis(700))
            .is_ok());
    }
}
