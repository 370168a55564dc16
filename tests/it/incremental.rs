//! `incremental` (and `auto`, which is it with checks) poll after poll with churn in between,
//! against the simulator's ground truth, for every API behaviour the contract lists as
//! unverified: exact after every poll, resyncs counted by reason, and the budget respected.
//!
//! The exporter and the simulator share a clock the test moves: each step, the population
//! evolves by a minute (creations, logouts, refreshes that slide expiries, expiries, bursts),
//! then one poll runs and is checked.

use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::clock::{self, Clock};
use corbado_exporter::poller::{PollMethod, PollReport, ResyncReason, Strategy};
use corbado_exporter::simulator::{Faults, Params, Population, Semantics};

use crate::helpers::{config, poll_with_pages_refused, serve_sim, spawn_app, TestApp, TestSim};

const MINUTE: Duration = Duration::from_secs(60);

/// A lively project: 20,000 sessions, about 1,000 active, 30-minute lifetimes (so sessions
/// expire every minute), refreshes every 10 minutes, ends and arrivals a few times faster
/// than in real life, and bursts.
fn lively(seed: u64, semantics: Semantics) -> Params {
    Params {
        lifetime: Duration::from_secs(30 * 60),
        history: Duration::from_secs(2 * 24 * 3600),
        semantics,
        ..Params::demo(20_000, seed)
    }
}

struct Run {
    sim: TestSim,
    app: TestApp,
    clock: Clock,
}

async fn start(strategy: Strategy, params: Params, resync_interval: Duration) -> Run {
    let now = clock::now_whole_seconds_ms();
    let sim = serve_sim(Population::generate(params, now)).await;
    let clock = Clock::manual(now);
    let mut config = config(&sim.api_url(), strategy);
    config.clock = clock.clone();
    config.settings.resync_interval = resync_interval;
    let app = spawn_app(config).await;
    Run { sim, app, clock }
}

impl Run {
    /// Moves both clocks on by `by`, evolving the population, then polls and checks every
    /// gauge against the truth. Returns the poll's report.
    async fn step(&self, by: Duration, what: &str) -> PollReport {
        let now = self.clock.advance(by);
        self.sim.sim.advance(now);
        let report = self.app.poller.poll_once().await.expect(what);
        self.sim.assert_exact(&self.app, &report, what);
        report
    }

    fn resyncs(&self, reason: ResyncReason) -> u64 {
        self.app
            .store
            .metrics
            .resyncs
            .with_label_values(&[reason.as_str()])
            .get()
    }
}

/// `auto` on a lively project with `semantics`, resyncing hourly, after 22 polls of churn.
async fn churned(seed: u64, semantics: Semantics, name: &str) -> (Run, Vec<PollReport>) {
    let hourly = Duration::from_secs(3600);
    let run = start(Strategy::Auto, lively(seed, semantics), hourly).await;
    let reports = churn(&run, name).await;
    (run, reports)
}

/// `incremental` on a lively project with the documented semantics, resyncing hourly.
async fn start_incremental(seed: u64) -> Run {
    let hourly = Duration::from_secs(3600);
    start(
        Strategy::Incremental,
        lively(seed, Semantics::default()),
        hourly,
    )
    .await
}

/// 22 polls a minute apart; returns the reports.
async fn churn(run: &Run, name: &str) -> Vec<PollReport> {
    let mut reports = Vec::new();
    for i in 0..22 {
        let report = run.step(MINUTE, &format!("{name}: poll {i}")).await;
        assert_eq!(report.method, PollMethod::Incremental, "{name}: poll {i}");
        reports.push(report);
    }
    assert!(
        run.sim.sim.changed_sessions() > 500,
        "{name}: too little churn to mean anything ({})",
        run.sim.sim.changed_sessions()
    );
    reports
}

/// `--poll.resync-interval` (ten minutes here) is kept by re-paging a slice of the set every
/// poll, never by a resync: the rolling re-page's slices cover every held session within it.
#[tokio::test]
async fn the_documented_semantics_prove_every_poll_and_re_page_a_slice_instead_of_resyncing() {
    let run = start(
        Strategy::Incremental,
        lively(31, Semantics::default()),
        Duration::from_secs(10 * 60),
    )
    .await;
    let reports = churn(&run, "default").await;
    assert_eq!(run.resyncs(ResyncReason::Initial), 1);
    for reason in [
        ResyncReason::Scheduled,
        ResyncReason::Mismatch,
        ResyncReason::Error,
    ] {
        assert_eq!(run.resyncs(reason), 0, "{reason:?}");
    }
    let held = run.app.store.metrics.active_set_sessions.get() as u64;
    let repaged: u64 = reports[1..12].iter().map(|r| r.repairs.repaged).sum();
    assert!(
        reports[1..].iter().all(|r| r.repairs.repaged > 0),
        "every poll re-pages a slice"
    );
    assert!(
        repaged >= held,
        "ten minutes of slices re-paged {repaged} sessions, fewer than the {held} held"
    );
    // A steady poll pays for what changed, whatever the size: the 15 counts, a page or two for
    // each change walk and the settling, the proof's walk of the race (2), the rolling
    // check's two counts and the slice's page or two. (This project is too small for a full
    // re-page of its 6 pages to be dearer.)
    let active = run.sim.sim.with_population(|p| p.active_count()) as u64;
    let steady: Vec<u64> = reports
        .iter()
        .filter(|r| r.resync.is_none())
        .map(|r| r.requests)
        .collect();
    let worst = steady.iter().copied().max().expect("steady polls");
    assert!(worst <= 30, "a steady poll took {worst} requests");
    assert_eq!(
        run.app.store.metrics.active_set_sessions.get(),
        active as i64
    );
}

#[tokio::test]
async fn ended_sessions_that_keep_updated_cost_resyncs_but_never_a_wrong_number() {
    let semantics = Semantics {
        ended_keeps_updated: true,
        ..Semantics::default()
    };
    let (run, reports) = churned(32, semantics, "ended keeps updated").await;
    let mismatches = run.resyncs(ResyncReason::Mismatch);
    assert!(mismatches >= 15, "only {mismatches} mismatches in 22 polls");
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.resync == Some(ResyncReason::Mismatch))
            .count() as u64,
        mismatches
    );
}

#[tokio::test]
async fn lazy_expiry_is_held_the_way_the_api_counts_it() {
    let semantics = Semantics {
        lazy_expiry: true,
        ..Semantics::default()
    };
    let (run, _) = churned(33, semantics, "lazy expiry").await;
    let past_due = run.sim.sim.with_population(|p| {
        let now = p.clock_ms();
        p.expected(now, &[], 0)
            .count(corbado_exporter::corbado::Status::Active)
            - p.expected(now, &[Duration::from_secs(1 << 30)], 0)
                .expiring_in_window[0]
    });
    assert!(
        past_due > 20,
        "the test needs sessions listed active past their expiry: {past_due}"
    );
    assert_eq!(run.resyncs(ResyncReason::Mismatch), 0);
}

#[tokio::test]
async fn deleted_revocations_are_caught_by_the_proof() {
    let semantics = Semantics {
        delete_revoked: true,
        ..Semantics::default()
    };
    let (run, _) = churned(34, semantics, "delete revoked").await;
    assert!(run.resyncs(ResyncReason::Mismatch) >= 1);
}

#[tokio::test]
async fn clock_skew_within_the_overlap_changes_nothing() {
    let semantics = Semantics {
        updated_lag: Duration::from_secs(20),
        ..Semantics::default()
    };
    let (run, _) = churned(35, semantics, "updated lags 20s").await;
    assert_eq!(run.resyncs(ResyncReason::Mismatch), 0);
}

/// Regression test for issue 26: a change query that failed during a 5xx burst was answered
/// with a full resync (`reason="error"`). It fails the poll instead; the watermark holds, and the
/// next poll catches up from it without a resync.
#[tokio::test]
async fn a_change_query_failing_in_a_5xx_burst_fails_the_poll_and_the_next_catches_up() {
    let run = start_incremental(36).await;
    run.step(MINUTE, "first poll").await;
    run.step(MINUTE, "second poll").await;
    let before = run.app.store.snapshot().expect("published").summary.clone();
    run.sim.sim.set_faults(Faults {
        fail_paging: Some(("updated:gt".into(), 503)),
        ..Faults::default()
    });
    let now = run.clock.advance(MINUTE);
    run.sim.sim.advance(now);
    let error = run
        .app
        .poller
        .poll_once()
        .await
        .expect_err("the change query fails");
    assert!(
        format!("{error:#}").contains("watermark holds"),
        "{error:#}"
    );
    assert_eq!(run.app.store.metrics.up.get(), 0);
    let kept = run.app.store.snapshot().expect("still published");
    assert_eq!(
        kept.summary.top_users, before.top_users,
        "the last good per-user gauges stay"
    );
    run.sim.sim.set_faults(Faults::default());
    let report = run.step(MINUTE, "change query back").await;
    assert_eq!(report.resync, None, "caught up from the watermark");
    assert_eq!(run.app.store.metrics.up.get(), 1);
    assert_eq!(run.resyncs(ResyncReason::Error), 0);
    assert_eq!(run.resyncs(ResyncReason::Initial), 1);
}

/// An hour on the simulator's clock in which every request fails (5xx), polls every ten
/// minutes: the first poll after it walks an hour of changes from the watermark, is exact, and
/// resyncs nothing.
#[tokio::test]
async fn an_hour_long_outage_is_caught_up_from_the_watermark_without_a_resync() {
    let daily = Duration::from_secs(24 * 3600);
    let run = start(
        Strategy::Incremental,
        lively(39, Semantics::default()),
        daily,
    )
    .await;
    let first = run.step(MINUTE, "first poll").await;
    run.step(MINUTE, "second poll").await;
    let changed_before = run.sim.sim.changed_sessions();
    run.sim.sim.set_faults(Faults {
        error_rate: 1.0,
        random_status: 503,
        ..Faults::default()
    });
    for i in 0..6 {
        let now = run.clock.advance(10 * MINUTE);
        run.sim.sim.advance(now);
        let outcome = run.app.poller.poll_once().await;
        assert!(outcome.is_err(), "poll {i} of the outage succeeded");
    }
    run.sim.sim.set_faults(Faults::default());
    let report = run.step(MINUTE, "after the outage").await;
    assert_eq!(report.resync, None, "caught up from the watermark");
    let changed = run.sim.sim.changed_sessions() - changed_before;
    assert!(
        changed > 500,
        "too little changed in the hour to mean anything: {changed}"
    );
    assert!(
        report.requests < first.requests + changed.div_ceil(100) + 20,
        "{} requests to catch up {changed} changes",
        report.requests
    );
    run.step(MINUTE, "and the poll after").await;
    for reason in [
        ResyncReason::Error,
        ResyncReason::Mismatch,
        ResyncReason::Scheduled,
    ] {
        assert_eq!(run.resyncs(reason), 0, "{reason:?}");
    }
    assert_eq!(run.resyncs(ResyncReason::Initial), 1);
}

#[tokio::test]
async fn a_failed_resync_fails_the_poll_but_keeps_its_counts_and_the_next_poll_resyncs_again() {
    let run = start_incremental(37).await;
    let error =
        poll_with_pages_refused(&run.sim, &run.app, &run.clock, MINUTE, "status:eq:active").await;
    assert!(error.contains("resync (initial)"), "{error}");
    let snapshot = run.app.store.snapshot().expect("the counts were published");
    assert!(snapshot.users.is_none());
    assert_eq!(run.app.store.metrics.up.get(), 0);
    run.sim.sim.set_faults(Faults::default());
    let report = run.step(MINUTE, "recovered").await;
    assert_eq!(report.resync, Some(ResyncReason::Initial));
    assert_eq!(
        run.resyncs(ResyncReason::Initial),
        2,
        "the failed one counts too"
    );
    assert_eq!(run.app.store.metrics.up.get(), 1);
}

/// A first sync of a large active set at 5 requests/s outlasts several intervals: the counts
/// keep coming every interval meanwhile, `/-/ready` does not wait, the per-user gauges appear
/// when the set is complete, and no second in the whole run saw more than 5 requests.
#[tokio::test(start_paused = true)]
async fn a_long_first_sync_runs_in_the_background_while_counts_keep_coming() {
    let now = clock::now_whole_seconds_ms();
    let params = Params {
        active: 10_000,
        ..Params::realistic(60_000, 38)
    };
    let sim = serve_sim(Population::generate(params, now)).await;
    sim.sim.keep_arrivals();
    let active = sim.sim.with_population(|p| p.active_count()) as u64;
    let mut config = config(&sim.api_url(), Strategy::Auto);
    config.clock = Clock::manual(now);
    config.settings.max_requests_per_second = 5.0;
    config.settings.poll_interval = Duration::from_secs(4);
    config.settings.windows = corbado_exporter::aggregate::parse_windows("15m").expect("valid");
    config.settings.timeout = Duration::from_secs(3600);
    let app = spawn_app(config).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let poller = Arc::clone(&app.poller);
    let polling = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { poller.run(shutdown).await }
    });

    // 9 count requests take 1.8 s of each 4 s interval; the 100-odd pages of the first sync
    // get the rest, so it needs several intervals.
    tokio::time::sleep(Duration::from_secs(13)).await;
    let metrics = &app.store.metrics;
    assert!(metrics.polls.get() >= 3, "polls: {}", metrics.polls.get());
    let snapshot = app.store.snapshot().expect("counts published");
    assert!(
        snapshot.users.is_none(),
        "the first sync cannot be done yet"
    );
    assert_eq!(
        snapshot
            .summary
            .count(corbado_exporter::corbado::Status::Active),
        active
    );
    assert!(
        app.store.is_ready(),
        "ready does not wait for the active set"
    );
    let scrape = app.scrape().await;
    assert!(scrape.contains("corbado_sessions{status=\"active\""));
    assert!(!scrape.contains("corbado_users_with_active_sessions"));

    tokio::time::sleep(Duration::from_secs(60)).await;
    let snapshot = app.store.snapshot().expect("published");
    let users = snapshot.users.as_ref().expect("the first sync completed");
    let truth = sim
        .sim
        .expected(users.now_ms, &[Duration::from_secs(900)], 10);
    assert_eq!(snapshot.summary.top_users, truth.top_users);
    assert_eq!(
        snapshot.summary.users_with_active_sessions,
        truth.users_with_active_sessions
    );
    assert_eq!(metrics.active_set_sessions.get(), active as i64);
    assert_eq!(
        metrics
            .resyncs
            .with_label_values(&[ResyncReason::Initial.as_str()])
            .get(),
        1
    );
    shutdown.cancel();
    polling.await.expect("the poller stops");

    let arrivals = sim.sim.arrivals();
    assert!(arrivals.len() > 60, "{} requests", arrivals.len());
    for (i, pair) in arrivals.windows(6).enumerate() {
        assert!(
            pair[5] - pair[0] >= Duration::from_secs(1),
            "requests {i}..{} came within {:?}: more than 5 in a second",
            i + 5,
            pair[5] - pair[0]
        );
    }
}
