//! A simulated day of one project, polled every 60 s with `--storage.path`: churn and bursts of
//! sessions, a burst of 5xx or 429 answers every three hours, re-activations by `PATCH` now and
//! then, two graceful restarts, one crash (no save at the end) and one reload. It fails (exits
//! non-zero) on any successful poll whose counts are not exact or whose per-user gauges are not
//! exact as of the poll they say they show (a catch-up after the crash publishes them once the set
//! is proven again) or are older than an hour, on a restart or reload that
//! resyncs (`initial`), on a resync for an error (a failed change query holds the watermark
//! instead), and
//! on an active set that grows after the first hour; it prints the day's requests against what
//! `filter` would have spent, and the process's memory hour by hour. A re-activation by `PATCH`
//! is invisible to every query until the rolling check counts its range, so while the switch is
//! on, and for `--poll.verify-interval` after, only the per-user gauges may be off; the counts
//! are exact at every poll, and every gauge again an hour after the switch goes off.
//!
//! Run: `cargo bench --bench soak` (about 10,000 active sessions; `-- --quick` for 2,500, which
//! `.ci/run` does). The simulator and the exporter share this process and tokio's paused clock.

mod common;

use std::time::Duration;

use common::{counts_only, Exporter};
use corbado_exporter::clock::{self, Clock};
use corbado_exporter::config::{Config, Storage};
use corbado_exporter::corbado::Status;
use corbado_exporter::poller::Strategy;
use corbado_exporter::simulator::{Faults, Params, Semantics, Simulator};
use tokio_util::sync::CancellationToken;

const PROJECT: &str = "pro-soak";
const SECRET: &str = "soak-secret";
const MINUTE: Duration = Duration::from_secs(60);
const DAY_MINUTES: u32 = 24 * 60;

/// What happens at the start of a minute of the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    ServerErrors,
    RateLimited,
    FaultsOver,
    PatchOn,
    PatchOff,
    GracefulRestart,
    Crash,
    Reload,
}

/// The day's script, by minute.
fn event(minute: u32) -> Option<Event> {
    let hour = minute / 60;
    match (hour, minute % 60) {
        (3 | 9 | 15 | 21, 0) => Some(Event::ServerErrors),
        (6 | 12 | 18, 30) => Some(Event::RateLimited),
        (3 | 9 | 15 | 21, 10) | (6 | 12 | 18, 40) => Some(Event::FaultsOver),
        (5 | 17, 0) => Some(Event::PatchOn),
        (6 | 18, 0) => Some(Event::PatchOff),
        (8 | 16, 20) => Some(Event::GracefulRestart),
        (12, 50) => Some(Event::Crash),
        (20, 15) => Some(Event::Reload),
        _ => None,
    }
}

async fn start(config: &Config, shutdown: &CancellationToken) -> Exporter {
    common::start(config, PROJECT, shutdown).await
}

/// What the day cost and how it went.
#[derive(Default)]
struct Day {
    polls: u64,
    failed: u64,
    requests: u64,
    filter_requests: u64,
    repairs: u64,
    /// Resyncs after the first poll, by reason.
    resyncs: std::collections::BTreeMap<&'static str, u64>,
    /// Polls whose per-user gauges showed an earlier poll's set, and the oldest they were.
    stale_users: (u64, i64),
    first_hour_set_bytes: usize,
    largest_set_bytes_after: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let active = if quick { 2_500 } else { 10_000 };
    // Declared before the runtime, so it goes after it: the runtime's shutdown waits for a state
    // save still writing on a blocking thread.
    let state_dir = common::scratch_dir("soak");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let day = runtime.block_on(soak(active, state_dir.path()));
    println!(
        "\n{} polls ({} failed during the bursts of errors), {} requests in the day: {:.3} of the {} that filter would have spent; {} ranges repaired; resyncs after the start: {:?}",
        day.polls,
        day.failed,
        day.requests,
        day.requests as f64 / day.filter_requests.max(1) as f64,
        day.filter_requests,
        day.repairs,
        day.resyncs
    );
    println!(
        "per-user gauges older than their poll at {} polls, at most {} minutes old",
        day.stale_users.0, day.stale_users.1
    );
    println!(
        "the active set: {:.1} MiB after the first hour, at most {:.1} MiB after it",
        day.first_hour_set_bytes as f64 / 1048576.0,
        day.largest_set_bytes_after as f64 / 1048576.0
    );
    let grown = day.largest_set_bytes_after as f64 / day.first_hour_set_bytes.max(1) as f64;
    assert!(
        grown < 1.5,
        "the active set grew {grown:.2}× after the first hour"
    );
}

async fn soak(active: u64, dir: &std::path::Path) -> Day {
    let now = clock::now_whole_seconds_ms();
    let params = Params {
        active,
        mean_time_between_bursts: Duration::from_secs(3 * 3600),
        ..Params::realistic(active * 20, 11)
    };
    let clock = Clock::manual(now);
    let shutdown = CancellationToken::new();
    let (sim, address) =
        common::serve_population(params, (PROJECT, SECRET), &clock, &shutdown).await;
    let settings = common::settings(&format!("http://{address}/v2"), Strategy::Auto);
    let windows = settings.window_durations();
    let mut config = common::config(PROJECT, SECRET, settings, clock.clone());
    config.storage = Some(Storage {
        dir: dir.to_owned(),
        save_interval: Duration::from_secs(300),
    });
    let mut exporter = start(&config, &shutdown).await;
    let mut day = Day::default();
    let mut users = common::UsersCheck::default();
    // Minutes during which a re-activation may still be unseen: from the switch going on to an
    // hour (the verify interval) after it goes off.
    let patched =
        |minute: u32| (5 * 60..7 * 60).contains(&minute) || (17 * 60..19 * 60).contains(&minute);
    println!("| hour | active | held set | interned users | process RSS |");
    println!("|---:|---:|---:|---:|---:|");
    for minute in 0..DAY_MINUTES {
        if let Some(event) = event(minute) {
            exporter = happen(event, exporter, &sim, &config, &shutdown).await;
        }
        let now = clock.advance(MINUTE);
        sim.advance(now);
        let report = exporter.poller.poll_once().await;
        day.polls += 1;
        let active_now = sim.with_population(|p| p.active_count()) as u64;
        day.filter_requests += 16 + active_now.div_ceil(100);
        let Ok(report) = report else {
            day.failed += 1;
            continue;
        };
        day.requests += report.requests;
        day.repairs += report.repairs.total();
        if let Some(reason) = report.resync.filter(|_| minute > 0) {
            *day.resyncs.entry(reason.as_str()).or_default() += 1;
            println!("minute {minute}: resync ({})", reason.as_str());
        }
        let snapshot = exporter.store.snapshot().expect("published");
        let truth = sim.expected(report.now_ms, &windows, 10);
        assert!(
            counts_only(&snapshot.summary) == counts_only(&truth),
            "minute {minute}: the counts are not exact"
        );
        // The per-user gauges say which poll's set they show (a catch-up in slices publishes
        // them once the set is proven again): they must be exact as of that poll, and never
        // older than the verify interval.
        let (exact, stale_minutes) = users.exact(&snapshot, &truth, report.now_ms);
        assert!(
            stale_minutes <= 60,
            "minute {minute}: the per-user gauges are {stale_minutes} minutes old"
        );
        assert!(
            exact || patched(minute),
            "minute {minute}: the per-user gauges are not exact as of their poll, {stale_minutes} minutes ago (active {})",
            snapshot.summary.count(Status::Active)
        );
        if minute % 60 == 59 {
            hourly(minute / 60 + 1, &exporter, active_now, &mut day).await;
        }
    }
    shutdown.cancel();
    day.stale_users = (users.stale_polls, users.stalest_minutes);
    assert_eq!(
        day.resyncs.get("initial"),
        None,
        "a restart or a reload started afresh"
    );
    // Issue 26: a change query failing in a burst of errors fails the poll and holds the
    // watermark; it never costs a resync.
    assert_eq!(day.resyncs.get("error"), None, "an error cost a resync");
    day
}

/// Prints an hour's line and keeps the active set's size.
async fn hourly(hour: u32, exporter: &Exporter, active: u64, day: &mut Day) {
    let (bytes, users) = exporter.poller.active_set_memory().await;
    if hour == 1 {
        day.first_hour_set_bytes = bytes;
    } else {
        day.largest_set_bytes_after = day.largest_set_bytes_after.max(bytes);
    }
    let (rss, _) = common::rss_kib(None);
    println!(
        "| {hour} | {active} | {:.2} MiB | {users} | {} MiB |",
        bytes as f64 / 1048576.0,
        rss / 1024
    );
}

/// Makes `event` happen; returns the exporter that polls from now on.
async fn happen(
    event: Event,
    exporter: Exporter,
    sim: &Simulator,
    config: &Config,
    shutdown: &CancellationToken,
) -> Exporter {
    let faults = |share: f64, status: u16| Faults {
        error_rate: share,
        random_status: status,
        ..Faults::default()
    };
    let patch = |on: bool| Semantics {
        reactivate_by_patch: on,
        ..Semantics::default()
    };
    match event {
        Event::ServerErrors => sim.set_faults(faults(0.2, 503)),
        Event::RateLimited => sim.set_faults(faults(0.2, 429)),
        Event::FaultsOver => sim.set_faults(Faults::default()),
        Event::PatchOn => sim.set_semantics(patch(true)),
        Event::PatchOff => sim.set_semantics(patch(false)),
        Event::GracefulRestart => {
            exporter.poller.save_state().await;
            drop(exporter);
            return start(config, shutdown).await;
        }
        Event::Crash => {
            drop(exporter);
            return start(config, shutdown).await;
        }
        Event::Reload => {
            let mut changed = config.projects();
            changed[0].settings.change_overlap = Duration::from_secs(45);
            exporter.app.fleet.apply(changed).expect("reload");
            let (store, poller) = exporter.app.project(PROJECT).expect("still polled");
            return Exporter {
                app: exporter.app,
                store,
                poller,
            };
        }
    }
    exporter
}
