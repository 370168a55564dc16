//! What a poll costs the customer's API quota, per strategy, over two simulated hours: the
//! figures the docs quote, each printed beside its target (a steady `incremental` poll at most 40
//! requests; the average poll, checks and repairs included, at most 1.15× a steady one; ended
//! sessions keeping `updated` at most 0.15 of a full walk at a million active and 1.0 at the
//! reference population; the first poll after a restart with `--storage.path` at most 3× a
//! steady one).
//!
//! Reference population: 1,000,000 sessions, 50,000 active across 20,000 users, about 500
//! sessions changing a minute (≈160 created, ≈160 ended, ≈180 refreshed), `pageSize` 100, a poll
//! every 60 s, `--corbado.max-requests-per-second 5`, the defaults' resync interval (a day, kept
//! by the rolling re-page) and hourly verify interval. Then the same with 1,000,000 active sessions, ended sessions that keep
//! `updated`, restarts, and re-activations by `PATCH`. The simulator and the exporter run in
//! this process over loopback HTTP, on tokio's paused clock: a request's wait for the rate limit
//! costs no real time, and a poll's reported duration is what it takes at 5 requests/s with an
//! instant API.
//!
//! Also a simulated day at the reference population and at a million active sessions, with
//! the default flags, a graceful restart, a crash restart and a 10-minute outage
//! ([`common::day`]): the most requests in any minute after the first complete set (target ≤
//! 100), and the day's average poll against a steady one (≤ 1.05×). The day's targets fail the
//! bench when missed, as do a count (or, at the reference population, a per-user gauge) not
//! exact at a successful poll and a resync for an error.
//!
//! Run: `cargo bench --bench budget` (long; `-- --quick` for a smaller look; `-- --only
//! day,restarts` for some parts: memory, day, day-million, reference, million, ended-million,
//! ended-reference, restarts, patch; `CORBADO_BENCH_DAY_MINUTES=240` shortens the day at a
//! million active).

mod common;

use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::app::App;
use corbado_exporter::clock::{self, Clock};
use corbado_exporter::config::Storage;
use corbado_exporter::poller::{PollReport, Poller, Strategy};
use corbado_exporter::simulator::{Params, Semantics, Simulator};
use tokio_util::sync::CancellationToken;

const PROJECT: &str = "pro-bench";
const SECRET: &str = "bench-secret";
const MINUTE: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `-- --only day,day-million` runs those parts alone (names in `PARTS`).
    let only = args.iter().position(|a| a == "--only");
    let only = only.and_then(|i| args.get(i + 1)).cloned();
    let wants = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };
    // `CORBADO_BENCH_DAY_MINUTES`: the simulated span of the day at a million active sessions.
    let million_day = std::env::var("CORBADO_BENCH_DAY_MINUTES").ok();
    let million_day = million_day.and_then(|m| m.parse().ok()).unwrap_or(1_440);
    let scale = if quick { 10 } else { 1 };
    if wants("memory") {
        println!("## The active set's memory\n");
        common::memory::active_set_memory(1_000_000 / scale, PROJECT);
    }
    // Fresh folders for the runs that keep state, declared before the runtime so that they go
    // after it: its shutdown waits for the state saves still writing on blocking threads.
    let dirs: Vec<_> = (0..4).map(|_| common::scratch_dir("restarts")).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(parts(&wants, quick, million_day, &dirs));
    let (_, peak) = rss_mib();
    println!("\nbench process peak RSS (simulator and exporter together): {peak} MiB");
}

/// The parts of the bench that run on tokio's paused clock, those that `wants` names.
async fn parts(
    wants: &dyn Fn(&str) -> bool,
    quick: bool,
    million_day: u32,
    dirs: &[tempfile::TempDir],
) {
    let scale = if quick { 10 } else { 1 };
    let reference = || reference(1_000_000 / scale, 50_000 / scale);
    if wants("day") {
        println!("\n## A simulated day at the reference population, default flags\n");
        common::day::day(reference(), 1_440, dirs[2].path(), true).await;
    }
    if wants("day-million") {
        println!("\n## {million_day} simulated minutes at 1,000,000 active, default flags\n");
        common::day::day(million_active(scale), million_day, dirs[3].path(), false).await;
    }
    if wants("reference") {
        println!("\n## 50,000 active (reference population), two simulated hours\n");
        budget(reference(), 120, if quick { 10 } else { 120 }, 2).await;
    }
    if wants("million") {
        println!("\n## 1,000,000 active, 20 simulated minutes\n");
        budget(million_active(scale), 20, 1, 1).await;
    }
    if wants("ended-million") {
        println!("\n## Ended sessions keeping `updated`, 200 a minute at 1,000,000 active\n");
        let ending = Params {
            mean_time_to_logout: Duration::from_secs(1_000_000 * 60 / 200),
            semantics: ended_keeps_updated(),
            // Enough history for a million to be active with a third of a week's mean life.
            sessions: 3_000_000 / scale,
            ..million_active(scale)
        };
        against_full_walk(ending, if quick { 10 } else { 20 }).await;
    }
    if wants("ended-reference") {
        println!("\n## Ended sessions keeping `updated` at the reference population\n");
        let semantics = ended_keeps_updated();
        let ending = Params {
            semantics,
            ..reference()
        };
        against_full_walk(ending, if quick { 10 } else { 30 }).await;
    }
    if wants("restarts") {
        println!("\n## Restarts with --storage.path at the reference population\n");
        restarts(reference(), dirs[0].path()).await;
        println!("\n## Restarts with --storage.path at 1,000,000 active\n");
        restarts(million_active(scale), dirs[1].path()).await;
    }
    if wants("patch") {
        println!("\n## Re-activation by PATCH at the reference population\n");
        patch_healing(reference()).await;
    }
}

fn ended_keeps_updated() -> Semantics {
    Semantics {
        ended_keeps_updated: true,
        ..Semantics::default()
    }
}

/// 1M sessions, `active` of them active, 20,000 users, ~500 changes a minute.
fn reference(sessions: u64, active: u64) -> Params {
    Params {
        users: u32::try_from(active * 2 / 5).unwrap_or(20_000),
        active,
        mean_time_to_logout: Duration::from_secs(8 * 3600),
        mean_time_to_inactivity: Duration::from_secs(16 * 3600),
        mean_time_to_revocation: Duration::from_secs(10 * 24 * 3600),
        mean_time_between_refreshes: Duration::from_secs(284 * 60),
        mean_time_between_bursts: Duration::from_secs(1000 * 24 * 3600),
        ..Params::realistic(sessions, 7)
    }
}

/// A million active sessions that live a week unless refreshed, ~500 changes a minute.
fn million_active(scale: u64) -> Params {
    let active = 1_000_000 / scale;
    Params {
        users: u32::try_from(active / 50).unwrap_or(20_000),
        active,
        lifetime: Duration::from_secs(7 * 24 * 3600),
        history: Duration::from_secs(8 * 24 * 3600),
        mean_time_to_logout: Duration::from_secs(1000 * 24 * 3600),
        mean_time_to_inactivity: Duration::from_secs(1000 * 24 * 3600),
        mean_time_to_revocation: Duration::from_secs(1000 * 24 * 3600),
        mean_time_between_refreshes: Duration::from_secs(55 * 3600),
        mean_time_between_bursts: Duration::from_secs(1000 * 24 * 3600),
        ..Params::realistic(active * 21 / 20, 8)
    }
}

/// Polls each strategy a minute apart against one evolving population and prints a table.
async fn budget(params: Params, incremental_polls: usize, filter_polls: usize, scan_polls: usize) {
    let clock = Clock::manual(clock::now_whole_seconds_ms());
    let shutdown = CancellationToken::new();
    let (sim, address) = serve(params, &clock, &shutdown).await;
    println!("\n| strategy | polls | requests/poll (avg) | steady poll (avg / max) | resync poll | steady poll time at 5/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut averages = Vec::new();
    for (strategy, polls) in [
        (Strategy::Auto, incremental_polls),
        (Strategy::Filter, filter_polls),
        (Strategy::Scan, scan_polls),
    ] {
        let reports = run(&sim, &address, &clock, strategy, polls).await;
        let avg = print_row(strategy, &reports);
        averages.push(avg);
        if strategy == Strategy::Auto {
            checks_against_steady(&reports);
        }
    }
    println!(
        "\nincremental over the run, resyncs included: {:.1} requests/poll = {:.3} of filter's {:.1} (target ≤ 0.1)",
        averages[0],
        averages[0] / averages[1],
        averages[1]
    );
    shutdown.cancel();
}

/// `polls` polls of `strategy`, the population moving on a minute before each.
async fn run(
    sim: &Arc<Simulator>,
    address: &str,
    clock: &Clock,
    strategy: Strategy,
    polls: usize,
) -> Vec<(PollReport, Duration)> {
    let shutdown = CancellationToken::new();
    let settings = common::settings(&format!("http://{address}/v2"), strategy);
    let config = common::config(PROJECT, SECRET, settings, clock.clone());
    let app = App::build(config, &shutdown)
        .await
        .expect("exporter builds");
    let (_, poller) = app.project(PROJECT).expect("the project is polled");
    let mut reports = Vec::new();
    for i in 0..polls {
        let now = clock.advance(MINUTE);
        sim.advance(now);
        let started = tokio::time::Instant::now();
        let report = poller.poll_once().await;
        let report = report.unwrap_or_else(|e| panic!("{strategy:?} poll {i}: {e:#}"));
        reports.push((report, started.elapsed()));
    }
    shutdown.cancel();
    reports
}

/// The average poll after the initial resync, every check and repair included, against the
/// average steady poll (neither resync nor repair).
fn checks_against_steady(reports: &[(PollReport, Duration)]) {
    let rest = &reports[1.min(reports.len())..];
    let avg = rest.iter().map(|(r, _)| r.requests).sum::<u64>() as f64 / rest.len().max(1) as f64;
    let steady: Vec<u64> = rest
        .iter()
        .filter(|(r, _)| r.resync.is_none() && r.repairs.total() == 0)
        .map(|(r, _)| r.requests)
        .collect();
    let steady_avg = steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64;
    let repaired: u64 = rest.iter().map(|(r, _)| r.repairs.total()).sum();
    let resyncs = rest.iter().filter(|(r, _)| r.resync.is_some()).count();
    println!(
        "\nincremental after its initial resync: {avg:.1} requests/poll, every check and repair included = {:.2}× a steady poll ({steady_avg:.1}; target ≤ 1.15); {resyncs} resyncs, {repaired} ranges repaired",
        avg / steady_avg.max(1.0)
    );
}

/// Serves `params` on loopback on the clock `clock`; stops when `shutdown` is cancelled.
async fn serve(
    params: Params,
    clock: &Clock,
    shutdown: &CancellationToken,
) -> (Arc<Simulator>, String) {
    common::serve_population(params, (PROJECT, SECRET), clock, shutdown).await
}

/// `auto` for `polls` polls after its initial resync, against what a full walk of the active
/// sessions (a resync, or `filter`'s active part) costs.
async fn against_full_walk(params: Params, polls: usize) {
    let clock = Clock::manual(clock::now_whole_seconds_ms());
    let shutdown = CancellationToken::new();
    let (sim, address) = serve(params, &clock, &shutdown).await;
    let reports = run(&sim, &address, &clock, Strategy::Auto, polls + 1).await;
    let walk = reports[0].0.requests;
    let rest = &reports[1..];
    let avg = rest.iter().map(|(r, _)| r.requests).sum::<u64>() as f64 / rest.len() as f64;
    let resyncs = rest.iter().filter(|(r, _)| r.resync.is_some()).count();
    let repaired: u64 = rest.iter().map(|(r, _)| r.repairs.total()).sum();
    println!(
        "{} polls after the initial resync ({walk} requests): {avg:.1} requests/poll on average = {:.3} of a full walk; {resyncs} resyncs, {repaired} ranges repaired",
        rest.len(),
        avg / walk as f64
    );
    shutdown.cancel();
}

/// Two hours of re-activations by `PATCH` (about 1% of the active sessions an hour), then two
/// hours without: is every number exact again within `--poll.verify-interval`, without a resync?
async fn patch_healing(params: Params) {
    let clock = Clock::manual(clock::now_whole_seconds_ms());
    let shutdown = CancellationToken::new();
    let params = Params {
        semantics: Semantics {
            reactivate_by_patch: true,
            ..Semantics::default()
        },
        ..params
    };
    let (sim, address) = serve(params, &clock, &shutdown).await;
    let settings = common::settings(&format!("http://{address}/v2"), Strategy::Auto);
    let windows = settings.window_durations();
    let config = common::config(PROJECT, SECRET, settings, clock.clone());
    let app = App::build(config, &shutdown)
        .await
        .expect("exporter builds");
    let (store, poller) = app.project(PROJECT).expect("the project is polled");
    let (mut requests, mut polls, mut resyncs, mut repaired) = (0u64, 0u64, 0usize, 0u64);
    let mut exact_since: Option<i64> = None;
    let mut wrong = Vec::new();
    for minute in 0..240i64 {
        if minute == 120 {
            sim.set_semantics(Semantics::default());
        }
        if minute % 60 == 0 && minute >= 120 {
            wrong.push((minute - 120, wrongly_held(&sim, &poller).await));
        }
        let now = clock.advance(MINUTE);
        sim.advance(now);
        let report = poller.poll_once().await.expect("poll");
        if minute > 0 {
            requests += report.requests;
            polls += 1;
            resyncs += usize::from(report.resync.is_some());
            repaired += report.repairs.total();
        }
        let summary = store.snapshot().expect("published").summary.clone();
        let exact = summary == sim.expected(report.now_ms, &windows, 10);
        exact_since = match (exact, exact_since) {
            (true, None) => Some(minute),
            (true, since) => since,
            (false, _) => None,
        };
    }
    wrong.push((120, wrongly_held(&sim, &poller).await));
    println!(
        "{polls} polls, PATCH re-activations in the first 120 minutes: {:.1} requests/poll, {resyncs} resyncs after the first, {repaired} ranges repaired; exact at every poll from {} minutes after the switch went off on (--poll.verify-interval 60 minutes); sessions held wrongly or missing, by minutes after the switch went off: {wrong:?}",
        requests as f64 / polls as f64,
        exact_since.map_or("never".to_owned(), |m: i64| (m - 120).to_string())
    );
    shutdown.cancel();
}

/// Sessions the active set holds that the API does not list as active, and the other way
/// round (a session held under the wrong user counts twice).
async fn wrongly_held(sim: &Simulator, poller: &Poller) -> usize {
    let held: std::collections::HashSet<(u64, String)> =
        poller.held_sessions().await.into_iter().collect();
    let listed: std::collections::HashSet<(u64, String)> = sim
        .with_population(|p| p.active_sessions())
        .into_iter()
        .collect();
    held.symmetric_difference(&listed).count()
}

/// Prints one table row; returns the average requests per poll.
fn print_row(strategy: Strategy, reports: &[(PollReport, Duration)]) -> f64 {
    let all: Vec<u64> = reports.iter().map(|(r, _)| r.requests).collect();
    let avg = all.iter().sum::<u64>() as f64 / all.len() as f64;
    let steady: Vec<&(PollReport, Duration)> = reports
        .iter()
        .filter(|(r, _)| r.resync.is_none() && r.repairs.total() == 0)
        .collect();
    let resyncs: Vec<u64> = reports
        .iter()
        .filter(|(r, _)| r.resync.is_some())
        .map(|(r, _)| r.requests)
        .collect();
    let steady_avg =
        steady.iter().map(|(r, _)| r.requests).sum::<u64>() as f64 / steady.len().max(1) as f64;
    let steady_max = steady.iter().map(|(r, _)| r.requests).max().unwrap_or(0);
    let steady_time =
        steady.iter().map(|(_, d)| d.as_secs_f64()).sum::<f64>() / steady.len().max(1) as f64;
    let name = match strategy {
        Strategy::Auto => "incremental (auto)",
        other => other.as_str(),
    };
    println!(
        "| {name} | {} | {avg:.1} | {steady_avg:.1} / {steady_max} | {} | {steady_time:.1} s |",
        reports.len(),
        if resyncs.is_empty() {
            "—".to_owned()
        } else {
            format!("{:?}", resyncs)
        },
    );
    avg
}

/// An exporter polling the project at `address` that keeps its state in `dir`; its poller.
async fn keeping_state(
    address: &str,
    clock: &Clock,
    dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> Arc<Poller> {
    let settings = common::settings(&format!("http://{address}/v2"), Strategy::Auto);
    let mut config = common::config(PROJECT, SECRET, settings, clock.clone());
    config.storage = Some(Storage {
        dir: dir.to_owned(),
        save_interval: Duration::from_secs(300),
    });
    let app = App::build(config, shutdown).await.expect("exporter builds");
    app.project(PROJECT).expect("the project is polled").1
}

/// A minute on for the population and the clock, then one poll.
async fn minute_on(sim: &Simulator, clock: &Clock, poller: &Poller) -> PollReport {
    let now = clock.advance(MINUTE);
    sim.advance(now);
    poller.poll_once().await.expect("poll")
}

/// What the first complete poll after a restart costs with `--storage.path`, against a steady
/// poll: after a graceful restart (saved at shutdown), and after a crash whose last save is
/// five minutes old. The state is kept in `dir`, empty at the start.
async fn restarts(params: Params, dir: &std::path::Path) {
    let clock = Clock::manual(clock::now_whole_seconds_ms());
    let shutdown = CancellationToken::new();
    let (sim, address) = serve(params, &clock, &shutdown).await;
    let start = || keeping_state(&address, &clock, dir, &shutdown);
    let first = start().await;
    let initial = minute_on(&sim, &clock, &first).await.requests;
    let mut steady = 0;
    for _ in 0..5 {
        steady += minute_on(&sim, &clock, &first).await.requests;
    }
    let steady = steady as f64 / 5.0;
    first.save_state().await;
    drop(first);
    let second = start().await;
    let graceful = minute_on(&sim, &clock, &second).await;
    // The resumed poller saved at its first complete poll; five minutes on, it crashes.
    for _ in 0..5 {
        minute_on(&sim, &clock, &second).await;
    }
    drop(second);
    let third = start().await;
    let crashed = minute_on(&sim, &clock, &third).await;
    println!(
        "steady poll {steady:.1} requests; a restart without --storage.path resyncs ({initial} requests); with it, the first poll after a graceful restart {} requests ({:.2}× steady, {}), after a crash with a five-minute-old save {} ({:.2}× steady, {})",
        graceful.requests,
        graceful.requests as f64 / steady,
        graceful.resync.map_or("no resync", |r| r.as_str()),
        crashed.requests,
        crashed.requests as f64 / steady,
        crashed.resync.map_or("no resync", |r| r.as_str()),
    );
    shutdown.cancel();
}

fn rss_mib() -> (u64, u64) {
    let (rss, peak) = common::rss_kib(None);
    (rss / 1024, peak / 1024)
}
