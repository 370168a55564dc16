//! The `auto` strategy: `filter` with its checks on, falling back to `scan` when the API's
//! filters cannot be trusted. Logs the fall-back once when it starts and once when it ends.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{filter, scan, Collected, PollSettings};
use crate::corbado::Pager;
use crate::metrics::ExporterMetrics;

/// Whether the last `auto` poll scanned.
#[derive(Debug, Default)]
pub(super) struct FallbackState(AtomicBool);

impl FallbackState {
    /// Records this poll's choice; returns the previous one.
    fn set_scanning(&self, scanning: bool) -> bool {
        self.0.swap(scanning, Ordering::Relaxed)
    }
}

pub(super) async fn collect(
    pager: &Pager,
    now_ms: i64,
    settings: &PollSettings,
    fallback: &FallbackState,
    metrics: &ExporterMetrics,
) -> anyhow::Result<Collected> {
    let why = match filter::collect(
        pager,
        now_ms,
        &settings.windows,
        settings.aggregator(now_ms),
        filter::Verify::Yes,
    )
    .await?
    {
        filter::Outcome::Trusted(collected) => {
            if fallback.set_scanning(false) {
                tracing::info!("auto: the filter check passes again; no longer scanning");
            }
            return Ok(collected);
        }
        filter::Outcome::Untrusted(why) => why,
    };
    metrics.strategy_fallbacks.inc();
    if !fallback.set_scanning(true) {
        tracing::warn!(
            reason = why,
            "auto: the API's filtered totals do not add up; scanning every session instead \
             (exact, but costs a request per page)"
        );
    } else {
        tracing::debug!(reason = why, "auto: filter check failed again");
    }
    let mut collected = scan::collect(pager, settings.aggregator(now_ms)).await?;
    collected.fell_back = true;
    Ok(collected)
}
