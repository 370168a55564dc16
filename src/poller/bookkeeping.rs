//! A poll's bookkeeping: the exporter's own series, the log line, and the check on duplicates.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{CountedPoll, PollReport, Poller, ResyncReason};

impl Poller {
    /// The series a counts part changes while the active part of an earlier poll still runs.
    pub(super) fn record_counts_only(&self, counted: &CountedPoll) {
        let metrics = &self.store.metrics;
        metrics.up.set(i64::from(self.up()));
        metrics
            .last_poll_requests
            .set(i64::try_from(counted.requests).unwrap_or(i64::MAX));
        metrics
            .last_poll_duration
            .set(counted.started.elapsed().as_secs_f64());
        self.store.invalidate();
    }

    pub(super) fn up(&self) -> bool {
        self.counts_ok.load(Ordering::Relaxed) && self.active_ok.load(Ordering::Relaxed)
    }

    /// The exporter's own series and the log line for one poll's outcome.
    pub(super) fn record(&self, outcome: &anyhow::Result<PollReport>, took: Duration) {
        let metrics = &self.store.metrics;
        metrics.last_poll_duration.set(took.as_secs_f64());
        metrics.up.set(i64::from(outcome.is_ok() && self.up()));
        match outcome {
            Ok(report) => {
                metrics
                    .last_poll_requests
                    .set(i64::try_from(report.requests).unwrap_or(i64::MAX));
                metrics.set_strategy(report.method.as_str());
                tracing::info!(
                    strategy = report.method.as_str(),
                    requests = report.requests,
                    sessions_paged = report.paged,
                    duplicates = report.duplicates,
                    resync = report.resync.map(ResyncReason::as_str),
                    active_set = report.active_set,
                    duration_ms = took.as_millis() as u64,
                    "poll finished"
                );
            }
            Err(error) => {
                metrics.poll_failures.inc();
                tracing::error!(
                    duration_ms = took.as_millis() as u64,
                    error = format!("{error:#}"),
                    "poll failed"
                );
            }
        }
        self.store.invalidate();
    }
}

/// Duplicates below this many are never taken for broken paging, whatever their share.
const DUPLICATES_FLOOR: u64 = 10;

/// Fails a poll in which more than a tenth of the sessions received came twice: no honest API
/// pages like that (one that ignores `page` while echoing it does, or a proxy that caches pages).
/// Fewer are counted once, with a warning.
pub(super) fn check_duplicates(paged: u64, duplicates: u64) -> anyhow::Result<()> {
    let received = paged + duplicates;
    if duplicates >= DUPLICATES_FLOOR && duplicates.saturating_mul(10) > received {
        anyhow::bail!(
            "untrustworthy paging: {duplicates} of the {received} sessions received came twice \
             (more than a tenth); the API or a proxy in front of it is not paging honestly"
        );
    }
    if duplicates > 0 {
        tracing::warn!(
            duplicates,
            received,
            "sessions came twice while paging; each was counted once"
        );
    }
    Ok(())
}
