//! A poll's bookkeeping: the exporter's own series, the journal, the log line, and the check on
//! duplicates.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{CountedPoll, PollReport, Poller, ResyncReason};
use crate::journal::{Outcome, PollEntry, Repairs};

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
        self.journal(
            counted.started.elapsed(),
            counted.requests,
            Outcome::CountsOnly,
        );
        self.store.invalidate();
    }

    pub(super) fn up(&self) -> bool {
        self.counts_ok.load(Ordering::Relaxed) && self.active_ok.load(Ordering::Relaxed)
    }

    /// The exporter's own series, the journal and the log line for one poll's outcome.
    /// `failed_requests` is what a failed poll spent (a successful one's report says).
    pub(super) fn record(
        &self,
        outcome: &anyhow::Result<PollReport>,
        took: Duration,
        failed_requests: u64,
    ) {
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
                    repaired_ranges = report.repairs.total(),
                    active_set = report.active_set,
                    duration_ms = took.as_millis() as u64,
                    "poll finished"
                );
                self.store.journal.record(PollEntry {
                    strategy: report.method.as_str(),
                    resync: report.resync.map(ResyncReason::as_str),
                    repairs: report.repairs,
                    fell_back: report.fell_back,
                    ..self.entry(took, report.requests, Outcome::Succeeded)
                });
            }
            Err(error) => {
                metrics.poll_failures.inc();
                let why = format!("{error:#}");
                tracing::error!(
                    duration_ms = took.as_millis() as u64,
                    error = why.as_str(),
                    "poll failed"
                );
                self.journal(took, failed_requests, Outcome::Failed(why));
            }
        }
        self.store.invalidate();
    }

    /// Notes a poll that neither resynced nor fell back in the journal.
    fn journal(&self, took: Duration, requests: u64, outcome: Outcome) {
        self.store
            .journal
            .record(self.entry(took, requests, outcome));
    }

    /// A journal entry for a poll that took `took` and ended now, under the configured
    /// strategy (what it resolved to is known only when it succeeded).
    fn entry(&self, took: Duration, requests: u64, outcome: Outcome) -> PollEntry {
        PollEntry {
            started_ms: self.settings.clock.now_ms() - crate::clock::millis(took),
            duration: took,
            strategy: self.settings.strategy.as_str(),
            requests,
            resync: None,
            repairs: Repairs::default(),
            fell_back: false,
            outcome,
        }
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
