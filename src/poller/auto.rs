//! The `auto` strategy's fall-back: when the API's filters cannot be trusted (the per-status
//! totals do not add up, or a filtered page holds a session the filter excludes), the poll scans
//! instead. Logs the fall-back once when it starts and once when it ends.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::ExporterMetrics;

/// Whether the last `auto` poll scanned.
#[derive(Debug, Default)]
pub(super) struct FallbackState(AtomicBool);

impl FallbackState {
    /// The filters held in this poll.
    pub fn trusted(&self) {
        if self.0.swap(false, Ordering::Relaxed) {
            tracing::info!("auto: the filter checks pass again; no longer scanning");
        }
    }

    /// The filters failed their check for `why`; this poll scans.
    pub fn untrusted(&self, why: &str, metrics: &ExporterMetrics) {
        metrics.strategy_fallbacks.inc();
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = why,
                "auto: the API's filters cannot be trusted; scanning every session instead \
                 (exact, but costs a request per page)"
            );
        } else {
            tracing::debug!(reason = why, "auto: filter check failed again");
        }
    }
}
