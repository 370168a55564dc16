//! Wall-clock time as the exporter and the simulator count it: Unix milliseconds, and a poll's
//! `now` in whole seconds (the API's time filters have second resolution).
//!
//! Owns no clock of its own: everything that needs "now" either asks [`now_whole_seconds_ms`] once
//! or is handed an instant, so tests can drive time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a poller's "now" comes from: the system clock, or one that a test sets by hand (and
/// sets the simulator to as well), so that polls and churn interleave at instants it chooses.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A clock standing at `ms` until it is set or advanced.
    pub fn manual(ms: i64) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(ms)))
    }

    /// Now, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => now_ms(),
            Clock::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }

    /// Now, truncated to whole seconds.
    pub fn now_whole_seconds_ms(&self) -> i64 {
        whole_seconds(self.now_ms())
    }

    /// Moves a manual clock on by `by` and returns the new time; the system clock ignores it.
    pub fn advance(&self, by: Duration) -> i64 {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(millis(by), Ordering::Relaxed);
        }
        self.now_ms()
    }
}

/// Milliseconds since the Unix epoch for a `SystemTime` (0 before the epoch).
pub fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0)
}

/// A duration in whole milliseconds, as the API's times count them (saturating).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    unix_millis(SystemTime::now())
}

/// Now, in Unix milliseconds truncated to whole seconds: a poll's single instant, so that the
/// API's second-resolution filters and local aggregation draw window edges in the same place.
pub fn now_whole_seconds_ms() -> i64 {
    whole_seconds(now_ms())
}

/// `ms` truncated to whole seconds.
pub fn whole_seconds(ms: i64) -> i64 {
    ms / 1000 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_before_the_epoch_clamp_to_zero_and_whole_seconds_truncate() {
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(
            unix_millis(UNIX_EPOCH + Duration::from_millis(1_234)),
            1_234
        );
        assert_eq!(whole_seconds(1_999), 1_000);
        assert_eq!(now_whole_seconds_ms() % 1000, 0);
    }
}
