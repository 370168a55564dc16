//! When a failed request is tried again, and after how long: the retry policy and its backoff.
//!
//! Pure arithmetic on attempts and durations; the client does the waiting.

use std::time::Duration;

use crate::rng::SharedSplitMix64;

/// Retry and backoff settings. The defaults bound one request to 5 attempts and, with the
/// delays capped, to well under a minute of waiting.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Wait after a 429 that carries no usable `Retry-After`.
    pub default_retry_after: Duration,
    /// The longest `Retry-After` we honour; a larger value is clipped to this.
    pub max_retry_after: Duration,
    /// The most one request may spend waiting between its attempts; past it, it gives up.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            default_retry_after: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after a 429: the upstream's `Retry-After`, or our default, within our cap.
    pub fn after_rate_limit(&self, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or(self.default_retry_after)
            .min(self.max_retry_after)
    }

    /// Exponential backoff with full jitter: a uniform wait in `[0, min(max, base·2^(n-1))]`
    /// after the `attempt`-th failure.
    pub fn backoff(&self, attempt: u32, jitter: &SharedSplitMix64) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        ceiling.mul_f64(jitter.next_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_doubling_ceiling_and_retry_after_is_capped() {
        let policy = RetryPolicy::default();
        let jitter = SharedSplitMix64::new(3);
        for attempt in 1..10 {
            let ceiling = (policy.base_delay * 2u32.pow(attempt - 1)).min(policy.max_delay);
            assert!(policy.backoff(attempt, &jitter) <= ceiling);
        }
        assert_eq!(policy.after_rate_limit(None), Duration::from_secs(5));
        assert_eq!(
            policy.after_rate_limit(Some(Duration::from_secs(600))),
            Duration::from_secs(30)
        );
    }
}
