//! The loops of [`Poller::run`]: counts every interval, and the active part after them, in the
//! background when it outlasts an interval (it then takes the newest counts when it is done).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CountedPoll, Poller, Step};

impl Poller {
    /// Polls until `shutdown`: counts every `--poll.interval` (later when they ran long), and
    /// the active part after each, unless the previous one is still running, which then goes
    /// on and takes the newest counts when it is done. Never returns early on an error.
    pub async fn run(&self, shutdown: CancellationToken) {
        let (handoff, latest) = watch::channel(None);
        tokio::select! {
            // Dropping the loops cancels their in-flight requests.
            _ = shutdown.cancelled() => tracing::info!("shutdown: polling cancelled"),
            () = self.count_loop(handoff) => {}
            () = self.active_loop(latest) => {}
        }
        self.save_state().await;
    }

    async fn count_loop(&self, handoff: watch::Sender<Option<Arc<CountedPoll>>>) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.store.journal.poll_starts();
            let started = Instant::now();
            let before = self.counts_pager.attempts();
            match self.count_part().await {
                Ok(Step::Counted(counted)) => {
                    if self.syncing.load(Ordering::Relaxed) {
                        tracing::info!(
                            requests = counted.requests,
                            "counts published; the active set is still syncing in the background"
                        );
                        self.record_counts_only(&counted);
                    }
                    handoff.send_replace(Some(Arc::new(counted)));
                }
                Ok(Step::Complete(report)) => self.record(&Ok(report), started.elapsed(), 0),
                Err(error) => {
                    let spent = self.counts_pager.attempts() - before;
                    self.record(&Err(error), started.elapsed(), spent);
                }
            }
            let took = started.elapsed();
            if took > self.settings.interval {
                tracing::warn!(
                    duration_ms = took.as_millis() as u64,
                    interval_ms = self.settings.interval.as_millis() as u64,
                    "counting took longer than --poll.interval; the next poll starts late"
                );
            }
        }
    }

    async fn active_loop(&self, mut latest: watch::Receiver<Option<Arc<CountedPoll>>>) {
        while latest.changed().await.is_ok() {
            let Some(counted) = latest.borrow_and_update().clone() else {
                continue;
            };
            self.syncing.store(true, Ordering::Relaxed);
            let before = self.active_pager.attempts();
            let outcome = self.active_part(&counted).await;
            self.syncing.store(false, Ordering::Relaxed);
            let spent = counted.requests + (self.active_pager.attempts() - before);
            self.record(&outcome, counted.started.elapsed(), spent);
        }
        // The count loop ended (it does not): wait for shutdown.
        std::future::pending::<()>().await;
    }
}
