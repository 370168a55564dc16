//! The client-side rate limit on request starts, shared by every request of one client.
//!
//! Also the place a 429 pauses: [`RateLimiter::pause_for`] holds every request back until the
//! upstream's `Retry-After` has passed, and halves the rate for a minute after. Knows nothing of
//! HTTP; the client decides when to call it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Requests per second Corbado documents for one project (100 per 10 s), shared by the
/// exporter and the project's own backend: what the status page and `check` measure against.
pub const DOCUMENTED_REQUESTS_PER_SECOND: f64 = 10.0;

/// How long the limiter stays at half rate after a 429.
const SLOWDOWN: Duration = Duration::from_secs(60);

pub struct RateLimiter {
    /// Time between two request starts; `None` for no limit.
    interval: Option<Duration>,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    /// The earliest start of the next request.
    next: Instant,
    /// Until when requests go at half rate (after a 429).
    slow_until: Instant,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> Self {
        // A rate so small that its interval does not fit a Duration is no different from an
        // hour between requests; config refuses such rates anyway.
        let interval = (per_second > 0.0 && per_second.is_finite()).then(|| {
            Duration::try_from_secs_f64(1.0 / per_second)
                .unwrap_or(Duration::from_secs(3600))
                .min(Duration::from_secs(3600))
        });
        let now = Instant::now();
        RateLimiter {
            interval,
            state: Mutex::new(LimiterState {
                next: now,
                slow_until: now,
            }),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let at = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = state.next.max(now);
            if let Some(interval) = self.interval {
                let step = if now < state.slow_until {
                    interval * 2
                } else {
                    interval
                };
                state.next = at + step;
            }
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Holds every request back for `wait`, then runs at half rate for a while.
    pub fn pause_for(&self, wait: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait;
        state.next = state.next.max(until);
        state.slow_until = state.slow_until.max(until + SLOWDOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_requests_and_pauses_on_429() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        limiter.pause_for(Duration::from_secs(3));
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(3400));
        let before = Instant::now();
        limiter.acquire().await;
        // Half rate after a 429.
        assert_eq!(before.elapsed(), Duration::from_millis(200));
    }
}
