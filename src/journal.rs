//! What a project's polls did, for the status page: the last [`KEPT_POLLS`] polls, the last
//! error, the API requests of the last hour, and when the next poll starts. Written by the
//! poller and the client, read by the server; knows nothing of HTML nor of the strategies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::{millis, Clock};

/// Polls the status page lists per project.
pub const KEPT_POLLS: usize = 20;

/// What a project is set to do, as the status page repeats it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `--poll.strategy` as configured (`auto` included).
    pub strategy: &'static str,
    pub interval: Duration,
    /// `--corbado.max-requests-per-second`; `0` or less means none.
    pub max_requests_per_second: f64,
    /// Where the journal's wall-clock times come from.
    pub clock: Clock,
}

/// How one poll ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Its counts were published while an earlier poll's active part still ran.
    CountsOnly,
    /// Why it failed, as logged (already redacted by the client).
    Failed(String),
}

/// One poll, as the status page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollEntry {
    /// The poll's start, Unix milliseconds.
    pub started_ms: i64,
    pub duration: Duration,
    /// What it did (`incremental`, `filter`, `scan`), or the configured strategy when it
    /// failed before that was known.
    pub strategy: &'static str,
    /// API requests, retries included.
    pub requests: u64,
    /// Whether the active sessions were re-paged in full, and why.
    pub resync: Option<&'static str>,
    /// Created-time ranges re-paged alone, by reason.
    pub repairs: Repairs,
    /// Whether `auto` scanned because the filters failed their check.
    pub fell_back: bool,
    pub outcome: Outcome,
}

/// Created-time ranges of the active set re-paged alone in one poll, by reason (`incremental`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// The rolling check found the range's count changed.
    pub verify: u64,
    /// A failed proof, located by counting ranges.
    pub mismatch: u64,
    /// Held sessions re-paged in creation order: the rolling re-page's slice (which keeps
    /// `--poll.resync-interval`), or a paced resync's. Not a repair: not in [`Self::total`].
    pub repaged: u64,
}

impl Repairs {
    /// Ranges repaired, by either reason.
    pub fn total(&self) -> u64 {
        self.verify + self.mismatch
    }
}

/// A project's journal.
#[derive(Debug)]
pub struct Journal {
    pub plan: Plan,
    state: Mutex<State>,
    /// Counted by the client, one per attempt.
    pub requests: Arc<RequestTally>,
}

#[derive(Debug, Default)]
struct State {
    /// Newest first.
    polls: VecDeque<PollEntry>,
    /// The last failure: when (Unix ms) and why.
    last_error: Option<(i64, String)>,
    /// When the next poll is due, Unix ms; `None` while no poll loop runs.
    next_poll_ms: Option<i64>,
}

impl Journal {
    pub fn new(plan: Plan) -> Self {
        Journal {
            plan,
            state: Mutex::new(State::default()),
            requests: Arc::new(RequestTally::new()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now, Unix milliseconds, on the journal's clock.
    pub fn now_ms(&self) -> i64 {
        self.plan.clock.now_ms()
    }

    /// Notes a poll that ended; keeps the newest [`KEPT_POLLS`].
    pub fn record(&self, entry: PollEntry) {
        let mut state = self.state();
        if let Outcome::Failed(why) = &entry.outcome {
            state.last_error = Some((entry.started_ms + millis(entry.duration), why.clone()));
        }
        state.polls.push_front(entry);
        state.polls.truncate(KEPT_POLLS);
    }

    /// Notes that a poll starts now and the next is due an interval later.
    pub fn poll_starts(&self) {
        let due = self.now_ms() + millis(self.plan.interval);
        self.state().next_poll_ms = Some(due);
    }

    /// The last polls, newest first.
    pub fn polls(&self) -> Vec<PollEntry> {
        self.state().polls.iter().cloned().collect()
    }

    /// The last failure, when it ended (Unix ms) and why.
    pub fn last_error(&self) -> Option<(i64, String)> {
        self.state().last_error.clone()
    }

    /// When the next poll is due (Unix ms), if a poll loop runs.
    pub fn next_poll_ms(&self) -> Option<i64> {
        self.state().next_poll_ms
    }

    /// API requests made in the last hour.
    pub fn requests_last_hour(&self) -> u64 {
        self.requests.last_hour(Instant::now())
    }

    /// What `--corbado.max-requests-per-second` allows in an hour; `None` without a limit.
    pub fn hourly_budget(&self) -> Option<u64> {
        let rate = self.plan.max_requests_per_second;
        (rate > 0.0).then(|| (rate * 3600.0).round() as u64)
    }
}

/// Minutes a [`RequestTally`] keeps: an hour.
const MINUTES: usize = 60;

/// Requests per minute over the last hour, in a ring of one-minute buckets: the hour's sum is
/// exact to within the current minute.
#[derive(Debug)]
pub struct RequestTally {
    origin: Instant,
    /// Per slot: the minute (since `origin`) it counts, and its count.
    buckets: Mutex<[(u64, u64); MINUTES]>,
}

impl RequestTally {
    fn new() -> Self {
        RequestTally {
            origin: Instant::now(),
            buckets: Mutex::new([(u64::MAX, 0); MINUTES]),
        }
    }

    fn minute(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_secs() / 60
    }

    /// Counts one API request (every attempt, retries included) made now.
    pub fn note_now(&self) {
        self.note(Instant::now());
    }

    fn note(&self, at: Instant) {
        let minute = self.minute(at);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut buckets[(minute % MINUTES as u64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
    }

    /// Requests in the minute of `at` and the 59 before it.
    fn last_hour(&self, at: Instant) -> u64 {
        let now = self.minute(at);
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .iter()
            .filter(|&&(minute, _)| minute <= now && now - minute < MINUTES as u64)
            .map(|(_, count)| count)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal() -> Journal {
        Journal::new(Plan {
            strategy: "auto",
            interval: Duration::from_secs(60),
            max_requests_per_second: 5.0,
            clock: Clock::manual(1_000_000),
        })
    }

    fn entry(started_ms: i64, outcome: Outcome) -> PollEntry {
        PollEntry {
            started_ms,
            duration: Duration::from_millis(250),
            strategy: "incremental",
            requests: 17,
            resync: None,
            repairs: Repairs::default(),
            fell_back: false,
            outcome,
        }
    }

    #[test]
    fn keeps_the_newest_twenty_polls_newest_first_and_the_last_error() {
        let journal = journal();
        for i in 0..25 {
            let outcome = match i {
                3 => Outcome::Failed("401 Unauthorized".into()),
                _ => Outcome::Succeeded,
            };
            journal.record(entry(i * 1000, outcome));
        }
        let polls = journal.polls();
        assert_eq!(polls.len(), KEPT_POLLS);
        assert_eq!(polls[0].started_ms, 24_000);
        assert_eq!(polls[19].started_ms, 5_000);
        // The failure fell out of the list but is still the last error, stamped at its end.
        assert_eq!(
            journal.last_error(),
            Some((3_250, "401 Unauthorized".into()))
        );
    }

    #[test]
    fn the_next_poll_is_an_interval_after_the_start() {
        let journal = journal();
        assert_eq!(journal.next_poll_ms(), None);
        journal.poll_starts();
        assert_eq!(journal.next_poll_ms(), Some(1_060_000));
        assert_eq!(journal.hourly_budget(), Some(18_000));
    }

    #[test]
    fn the_tally_forgets_requests_older_than_an_hour() {
        let tally = RequestTally::new();
        let t0 = tally.origin;
        for _ in 0..3 {
            tally.note(t0);
        }
        tally.note(t0 + Duration::from_secs(30 * 60));
        assert_eq!(tally.last_hour(t0 + Duration::from_secs(59 * 60)), 4);
        assert_eq!(tally.last_hour(t0 + Duration::from_secs(60 * 60)), 1);
        // A slot reused an hour later starts from zero.
        tally.note(t0 + Duration::from_secs(90 * 60));
        assert_eq!(tally.last_hour(t0 + Duration::from_secs(90 * 60)), 1);
        assert_eq!(tally.last_hour(t0 + Duration::from_secs(200 * 60)), 0);
    }
}
