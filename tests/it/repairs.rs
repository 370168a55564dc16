//! Located repairs and the rolling check, over real HTTP against the simulator on a clock the
//! test moves: a failed proof re-pages only the created-time ranges that differ, a change no
//! query can see (re-activation by `PATCH`) is healed by the rolling check within
//! `--poll.verify-interval`, a failed repair leaves the last good gauges, and locating never
//! costs more than the resync it replaces.

use std::time::Duration;

use corbado_exporter::clock::{self, Clock};
use corbado_exporter::poller::{PollReport, RepairReason, ResyncReason, Strategy};
use corbado_exporter::simulator::{Faults, Params, Population, Semantics};

use crate::helpers::{config, poll_with_pages_refused, serve_sim, spawn_app, TestApp, TestSim};

const MINUTE: Duration = Duration::from_secs(60);

/// 100,000 sessions of which 20,000 active (a resync is 201 pages), about 5 ending a minute,
/// no bursts: few enough differences a poll that locating them is worth it.
fn quiet(seed: u64, semantics: Semantics) -> Params {
    Params {
        active: 20_000,
        users: 8_000,
        mean_time_to_logout: Duration::from_secs(100 * 3600),
        mean_time_to_inactivity: Duration::from_secs(200 * 3600),
        mean_time_to_revocation: Duration::from_secs(1000 * 3600),
        mean_time_between_bursts: Duration::from_secs(1000 * 24 * 3600),
        semantics,
        ..Params::realistic(100_000, seed)
    }
}

struct Run {
    sim: TestSim,
    app: TestApp,
    clock: Clock,
}

async fn start(params: Params, verify_interval: Duration) -> Run {
    let now = clock::now_whole_seconds_ms();
    let sim = serve_sim(Population::generate(params, now)).await;
    let clock = Clock::manual(now);
    let mut config = config(&sim.api_url(), Strategy::Auto);
    config.clock = clock.clone();
    config.settings.poll_interval = MINUTE;
    config.settings.verify_interval = verify_interval;
    config.settings.resync_interval = Duration::ZERO;
    let app = spawn_app(config).await;
    Run { sim, app, clock }
}

impl Run {
    /// Moves both clocks on a minute, evolving the population, and polls.
    async fn poll(&self, what: &str) -> PollReport {
        let now = self.clock.advance(MINUTE);
        self.sim.sim.advance(now);
        self.app.poller.poll_once().await.expect(what)
    }

    fn resyncs(&self, reason: ResyncReason) -> u64 {
        let m = &self.app.store.metrics;
        m.resyncs.with_label_values(&[reason.as_str()]).get()
    }

    fn repairs(&self, reason: RepairReason) -> u64 {
        let m = &self.app.store.metrics;
        m.repairs.with_label_values(&[reason.as_str()]).get()
    }
}

#[tokio::test]
async fn ended_sessions_keeping_updated_are_repaired_where_they_are_and_exact_after_every_poll() {
    let semantics = Semantics {
        ended_keeps_updated: true,
        ..Semantics::default()
    };
    let run = start(quiet(41, semantics), Duration::from_secs(3600)).await;
    let first = run.poll("the initial resync").await;
    run.sim.assert_exact(&run.app, &first, "the initial resync");
    assert_eq!(first.resync, Some(ResyncReason::Initial));
    let mut repaired_polls = 0;
    for i in 0..10 {
        let what = format!("poll {i}");
        let report = run.poll(&what).await;
        run.sim.assert_exact(&run.app, &report, &what);
        assert_eq!(report.resync, None, "{what}: located, not resynced");
        // Locating never costs more than the resync it replaces.
        assert!(
            report.requests < first.requests,
            "{what}: {} requests, a resync poll took {}",
            report.requests,
            first.requests
        );
        if report.repairs.mismatch > 0 {
            repaired_polls += 1;
            eprintln!(
                "{what}: {} ranges re-paged in {} requests",
                report.repairs.mismatch, report.requests
            );
        }
    }
    assert!(
        repaired_polls >= 8,
        "only {repaired_polls} of 10 polls repaired"
    );
    // The status page's poll table shows each repair beside the resyncs.
    let page = crate::helpers::fetch_text(&run.app.url("/")).await;
    assert!(page.contains("<td>resync: initial</td>"), "{page}");
    assert!(page.contains("(verify 0, mismatch "), "{page}");
    assert_eq!(run.resyncs(ResyncReason::Mismatch), 0);
    assert!(run.repairs(RepairReason::Mismatch) >= repaired_polls);

    // Damage everywhere (a third of the active sessions revoked, `updated` kept): locating
    // would cost more than re-paging, so the poll resyncs, and is exact.
    let now = run.clock.now_ms();
    run.sim.sim.with_population(|p| p.revoke_random(7_000, now));
    let report = run.poll("mass revocation").await;
    run.sim.assert_exact(&run.app, &report, "mass revocation");
    assert_eq!(report.resync, Some(ResyncReason::Mismatch));
    assert!(
        report.requests <= first.requests + 1,
        "{} requests against a resync's {}",
        report.requests,
        first.requests
    );
}

#[tokio::test]
async fn reactivations_by_patch_are_healed_by_the_rolling_check_within_the_verify_interval() {
    let verify_interval = Duration::from_secs(10 * 60);
    let run = start(quiet(42, Semantics::default()), verify_interval).await;
    let first = run.poll("the initial resync").await;
    run.sim.assert_exact(&run.app, &first, "the initial resync");
    // Ended sessions re-activated while as many active ones end, `updated` untouched and the
    // counts the proof compares unchanged: no query sees it.
    let now = run.clock.now_ms();
    let swapped = run.sim.sim.with_population(|p| p.patch_swap(10, now));
    assert_eq!(swapped, 10);
    // Either the rolling check finds a slice's count changed, or a user coming back to a
    // re-activated session shows it to the change query and the proof fails: a repair either way.
    let mut last = first;
    for i in 0..10 {
        last = run.poll(&format!("poll {i}")).await;
        assert_eq!(last.resync, None, "poll {i}: repaired, not resynced");
    }
    run.sim
        .assert_exact(&run.app, &last, "ten polls (the verify interval) later");
    assert!(run.repairs(RepairReason::Verify) + run.repairs(RepairReason::Mismatch) >= 1);
    assert_eq!(run.resyncs(ResyncReason::Mismatch), 0);
    assert_eq!(run.resyncs(ResyncReason::Scheduled), 0);
}

#[tokio::test]
async fn a_repair_whose_pages_fail_fails_the_poll_and_keeps_the_last_good_gauges() {
    let semantics = Semantics {
        ended_keeps_updated: true,
        ..Semantics::default()
    };
    let run = start(quiet(43, semantics), Duration::from_secs(3600)).await;
    let first = run.poll("the initial resync").await;
    let users_before = run.app.store.snapshot().expect("published").summary.clone();
    let now = run.clock.now_ms();
    run.sim.sim.with_population(|p| p.revoke_random(3, now));
    // Range pages (and only they) carry `created:lt`.
    let error = poll_with_pages_refused(&run.sim, &run.app, &run.clock, MINUTE, "created:lt").await;
    assert!(error.contains("created-time range"), "{error}");
    assert_eq!(run.app.store.metrics.up.get(), 0);
    let snapshot = run.app.store.snapshot().expect("still published");
    assert_eq!(snapshot.summary.top_users, users_before.top_users);
    assert_eq!(
        snapshot.summary.users_with_active_sessions,
        users_before.users_with_active_sessions
    );
    assert_eq!(
        run.repairs(RepairReason::Mismatch),
        0,
        "nothing was repaired"
    );

    run.sim.sim.set_faults(Faults::default());
    let report = run.poll("pages back").await;
    run.sim.assert_exact(&run.app, &report, "pages back");
    assert_eq!(report.resync, None);
    assert!(report.repairs.mismatch >= 1);
    assert!(report.requests < first.requests);
}
