//! A simulated day of one project with the default flags and `--storage.path`, polled on the
//! minute by tokio's paused clock: a graceful restart, a crash restart from a five-minute-old
//! save, and a 10-minute outage in which every request is answered 503. What it measures: the
//! most requests the simulator received in any 60 seconds after the first complete set, the
//! day's average poll against a steady one, resyncs by reason, and whether every count was exact
//! at every successful poll, and every per-user gauge as of the poll it shows.
//!
//! Written against what the poller reported before issue 26 too (`PollReport`'s `requests`,
//! `resync` and `repairs.total()`), so that the same day can be run on an older tree.

use std::collections::BTreeMap;
use std::time::Duration;

use corbado_exporter::clock::{self, Clock};
use corbado_exporter::config::Storage;
use corbado_exporter::poller::{PollReport, Strategy};
use corbado_exporter::simulator::{Faults, Params};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{counts_only, Exporter};

const PROJECT: &str = "pro-day";
const SECRET: &str = "day-secret";
const MINUTE: Duration = Duration::from_secs(60);

/// When things happen, in minutes of a day of `minutes`: scaled, so that a shorter span still
/// holds each of them.
struct Events {
    graceful: u32,
    crash: u32,
    outage: std::ops::Range<u32>,
}

impl Events {
    fn of(minutes: u32) -> Self {
        let at = |share: f64| (f64::from(minutes) * share) as u32;
        let graceful = at(0.25).max(10);
        // The exporter started at the graceful restart saves at its first poll and every five
        // minutes after: a crash a multiple of five polls later finds a five-minute-old save.
        let crash = graceful + 5 * (at(0.5).saturating_sub(graceful) / 5).max(2);
        let outage = at(0.75).max(crash + 10);
        Events {
            graceful,
            crash,
            outage: outage..outage + 10,
        }
    }
}

impl Events {
    /// What the simulator answers in `minute`: 503 to everything during the outage.
    fn faults(&self, minute: u32) -> Faults {
        match self.outage.contains(&minute) {
            true => Faults {
                error_rate: 1.0,
                random_status: 503,
                ..Faults::default()
            },
            false => Faults::default(),
        }
    }
}

/// What the day came to.
#[derive(Default)]
pub struct DayFigures {
    pub polls: u64,
    pub failed: u64,
    pub requests_after_first: u64,
    pub max_in_a_minute: usize,
    pub steady_avg: f64,
    pub resyncs: BTreeMap<&'static str, u64>,
    pub inexact_counts: u64,
    /// Polls whose per-user gauges were not exact as of the poll they show.
    pub inexact_users: u64,
    /// Polls whose per-user gauges showed an earlier poll's set, and the oldest, in minutes.
    pub stale_users: (u64, i64),
    pub restart_polls: Vec<u64>,
}

impl DayFigures {
    /// Notes a successful poll after the first complete set: the first after a restart, a
    /// resync, or (neither resync nor repair) a steady one.
    fn note(&mut self, report: &PollReport, restarted: bool, steady: &mut Vec<u64>) {
        if restarted {
            self.restart_polls.push(report.requests);
        }
        if let Some(reason) = report.resync {
            *self.resyncs.entry(reason.as_str()).or_default() += 1;
        }
        if report.resync.is_none() && report.repairs.total() == 0 {
            steady.push(report.requests);
        }
    }
}

async fn start(address: &str, clock: &Clock, dir: &std::path::Path) -> Exporter {
    let settings = super::settings(&format!("http://{address}/v2"), Strategy::Auto);
    let mut config = super::config(PROJECT, SECRET, settings, clock.clone());
    config.storage = Some(Storage {
        dir: dir.to_owned(),
        save_interval: Duration::from_secs(300),
    });
    // Each exporter's tasks live as long as the bench: a crash leaves them idle, not running.
    super::start(&config, PROJECT, &CancellationToken::new()).await
}

/// Runs the day of `minutes` minutes on `params`, keeping state in `dir`; prints and returns
/// its figures. `check_users` compares the per-user gauges with the truth every poll (costly
/// at a million sessions).
pub async fn day(
    params: Params,
    minutes: u32,
    dir: &std::path::Path,
    check_users: bool,
) -> DayFigures {
    let clock = Clock::manual(clock::now_whole_seconds_ms());
    let shutdown = CancellationToken::new();
    let (sim, address) =
        super::serve_population(params, (PROJECT, SECRET), &clock, &shutdown).await;
    let mut exporter = start(&address, &clock, dir).await;
    let windows = corbado_exporter::config::Settings::default().window_durations();
    let events = Events::of(minutes);
    let mut figures = DayFigures::default();
    let mut steady = Vec::new();
    // A poll a minute, later when one ran long (the first sync of a large set), as the
    // exporter's own loop does.
    let mut ticker = tokio::time::interval(MINUTE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counting_from = None;
    let mut users = super::UsersCheck::default();
    for minute in 0..minutes {
        ticker.tick().await;
        if minute == events.graceful || minute == events.crash {
            if minute == events.graceful {
                exporter.poller.save_state().await;
            }
            exporter = start(&address, &clock, dir).await;
        }
        sim.set_faults(events.faults(minute));
        let now = clock.advance(MINUTE);
        sim.advance(now);
        let outcome = exporter.poller.poll_once().await;
        figures.polls += 1;
        let Ok(report) = outcome else {
            figures.failed += 1;
            continue;
        };
        if counting_from.is_none() {
            // The first complete set is in: from here on every request counts.
            sim.keep_arrivals();
            counting_from = Some(minute);
            continue;
        }
        let restarted = minute == events.graceful || minute == events.crash;
        figures.note(&report, restarted, &mut steady);
        let published = exporter.store.snapshot().expect("published");
        let truth = sim.expected(report.now_ms, &windows, 10);
        figures.inexact_counts += u64::from(counts_only(&published.summary) != counts_only(&truth));
        if check_users {
            let (exact, _) = users.exact(&published, &truth, report.now_ms);
            figures.inexact_users += u64::from(!exact);
        }
    }
    figures.stale_users = (users.stale_polls, users.stalest_minutes);
    shutdown.cancel();
    figures.steady_avg = steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64;
    let polls_after_first = minutes - counting_from.unwrap_or(0) - 1;
    figures.busiest_minute(&sim.arrivals(), &events);
    print(&figures, polls_after_first, check_users);
    figures.assert_targets(polls_after_first);
    figures
}

impl DayFigures {
    /// Takes the requests after the first complete set from their arrival times, and the
    /// busiest minute among them (saying when it began).
    fn busiest_minute(&mut self, arrivals: &[Instant], events: &Events) {
        self.requests_after_first = arrivals.len() as u64;
        let (most, when) = most_in_a_minute(arrivals);
        self.max_in_a_minute = most;
        println!(
            "the busiest minute began {:.1} minutes after the first complete set (events at minutes {}, {}, {:?} of the day)",
            when.as_secs_f64() / 60.0,
            events.graceful,
            events.crash,
            events.outage
        );
    }
}

/// The most arrivals within any 60 seconds, and how long after the first arrival that minute
/// began.
fn most_in_a_minute(arrivals: &[Instant]) -> (usize, Duration) {
    let (mut most, mut when) = (0, Duration::ZERO);
    let mut start = 0;
    for (end, &at) in arrivals.iter().enumerate() {
        while at - arrivals[start] >= MINUTE {
            start += 1;
        }
        if end + 1 - start > most {
            most = end + 1 - start;
            when = arrivals[start] - arrivals[0];
        }
    }
    (most, when)
}

impl DayFigures {
    /// The day's average poll after the first complete set, against a steady one.
    fn against_steady(&self, polls_after_first: u32) -> f64 {
        let avg = self.requests_after_first as f64 / f64::from(polls_after_first.max(1));
        avg / self.steady_avg.max(1.0)
    }

    /// Fails the bench where the day missed a target of the quiet-neighbour issue.
    fn assert_targets(&self, polls_after_first: u32) {
        assert_eq!(self.inexact_counts, 0, "polls with a count not exact");
        assert_eq!(
            self.inexact_users, 0,
            "polls with a per-user gauge not exact"
        );
        assert!(
            self.max_in_a_minute <= 100,
            "{} requests in a minute",
            self.max_in_a_minute
        );
        let against = self.against_steady(polls_after_first);
        assert!(against <= 1.05, "the day's poll {against:.3}× a steady one");
        assert_eq!(self.resyncs.get("error"), None, "a resync for an error");
    }
}

fn print(figures: &DayFigures, polls_after_first: u32, checked_users: bool) {
    let avg = figures.requests_after_first as f64 / f64::from(polls_after_first.max(1));
    let users = match checked_users {
        true => format!(
            "{} (as of the poll they show; an earlier poll's at {} polls, at most {} minutes old)",
            figures.inexact_users, figures.stale_users.0, figures.stale_users.1
        ),
        false => "not checked (too slow at this size)".to_owned(),
    };
    println!(
        "{} polls ({} failed, the outage's); after the first complete set: {} requests, the most in any minute {} (target ≤ 100); the average poll {avg:.1} requests = {:.3}× a steady poll ({:.1}; target ≤ 1.05); resyncs after the first: {:?} (target: no `error`); first polls after the graceful and the crash restart: {:?} requests; polls with a count not exact: {}, with a per-user gauge not exact: {users}",
        figures.polls,
        figures.failed,
        figures.requests_after_first,
        figures.max_in_a_minute,
        figures.against_steady(polls_after_first),
        figures.steady_avg,
        figures.resyncs,
        figures.restart_polls,
        figures.inexact_counts,
    );
}
