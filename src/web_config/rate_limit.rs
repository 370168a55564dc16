//! `rate_limit`: a token bucket over every request the exporter serves, taken before any bcrypt
//! runs. A token comes every `interval`, at most `burst` wait; a request that finds none is
//! answered 429. Only the reads of `/-/healthy` and `/-/ready` that cost no bcrypt are left out
//! (the gate's `exempt` decides), for the reason the request cap leaves them out: a burst of
//! scrapes must not fail a liveness probe and get the pod restarted.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The bucket; one for the whole exporter, replaced when the web config is.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
    /// Tokens (fractional between refills) and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(interval: Duration, burst: u32) -> Result<Self, String> {
        if interval.is_zero() {
            return Err("rate_limit.interval must be greater than zero".into());
        }
        if burst == 0 {
            return Err("rate_limit.burst must be at least 1".into());
        }
        Ok(RateLimit {
            interval,
            burst,
            state: Mutex::new((f64::from(burst), Instant::now())),
        })
    }

    /// Takes a token if there is one.
    pub fn try_take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(state.1).as_secs_f64() / self.interval.as_secs_f64();
        state.0 = (state.0 + earned).min(f64::from(self.burst));
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether `other` was configured with the same `interval` and `burst`: a reload then keeps
    /// this bucket, tokens spent included.
    pub fn same_settings(&self, other: &RateLimit) -> bool {
        self.interval == other.interval && self.burst == other.burst
    }

    /// How long until the next token, for `Retry-After` (whole seconds, at least 1).
    pub fn retry_after_seconds(&self) -> u64 {
        self.interval.as_secs().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_token_an_interval() {
        let limit = RateLimit::new(Duration::from_secs(1), 3).expect("valid");
        assert!((0..3).all(|_| limit.try_take()), "the burst");
        assert!(!limit.try_take(), "then none");
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!limit.try_take());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(limit.try_take(), "one more after an interval");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(
            (0..3).all(|_| limit.try_take()) && !limit.try_take(),
            "never above the burst"
        );
        assert!(RateLimit::new(Duration::ZERO, 1).is_err());
        assert!(RateLimit::new(Duration::from_secs(1), 0).is_err());
    }
}
