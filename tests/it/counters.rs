//! `corbado_sessions_ended_total` and `corbado_sessions_created_total` against the simulator's
//! ground truth, under every API behaviour the contract lists as unverified: never more than
//! happened after any poll, and exactly what happened once the lookups of sessions that vanished
//! unseen have caught up. Absent under `filter` and `scan`.
//!
//! The truth is what the simulator reports it did each step ([`Changes`]). Its random bursts
//! are off, as a burst may end a session created in the same step, which no poll held; the
//! test injects its own mass revocation between steps instead, when every active session is
//! held.

use std::time::Duration;

use corbado_exporter::clock::{self, Clock};
use corbado_exporter::metrics::ENDED_STATUSES;
use corbado_exporter::poller::Strategy;
use corbado_exporter::simulator::{Changes, Params, Population, Semantics};

use crate::helpers::{config, serve_sim, spawn_app, TestApp, TestSim};

const MINUTE: Duration = Duration::from_secs(60);

/// What happened, by the labels of the counters: ended per [`ENDED_STATUSES`], then created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    ended: [u64; 6],
    created: u64,
}

impl Tally {
    /// Adds one step's changes; revocations are deletions when the API deletes them.
    fn add(&mut self, changes: &Changes, semantics: &Semantics) {
        let revoked = if semantics.delete_revoked { 5 } else { 3 };
        self.ended[0] += changes.logged_out;
        self.ended[1] += changes.expired;
        self.ended[2] += changes.inactivity_reached;
        self.ended[revoked] += changes.revoked;
        self.created += changes.created;
    }

    fn of(app: &TestApp) -> Tally {
        let metrics = &app.store.metrics;
        let mut tally = Tally {
            created: metrics.sessions_created.get(),
            ..Tally::default()
        };
        for (count, status) in tally.ended.iter_mut().zip(ENDED_STATUSES) {
            *count = metrics.sessions_ended.with_label_values(&[status]).get();
        }
        tally
    }
}

struct Run {
    sim: TestSim,
    app: TestApp,
    clock: Clock,
    semantics: Semantics,
    truth: Tally,
    /// PATCH swaps so far (reactivate-by-patch): each ends a session and revives another
    /// without moving `updated`, which the step's other changes do not count.
    patched: u64,
}

async fn start(strategy: Strategy, semantics: Semantics, seed: u64) -> Run {
    let params = Params {
        lifetime: Duration::from_secs(30 * 60),
        history: Duration::from_secs(2 * 24 * 3600),
        mean_time_between_bursts: Duration::from_secs(1 << 40),
        semantics: semantics.clone(),
        ..Params::demo(20_000, seed)
    };
    let now = clock::now_whole_seconds_ms();
    let sim = serve_sim(Population::generate(params, now)).await;
    let clock = Clock::manual(now);
    let mut config = config(&sim.api_url(), strategy);
    config.clock = clock.clone();
    let app = spawn_app(config).await;
    Run {
        sim,
        app,
        clock,
        semantics,
        truth: Tally::default(),
        patched: 0,
    }
}

impl Run {
    /// Revokes `revoke` sessions at the instant of the last poll (so every one was held),
    /// moves both clocks on by `by`, the population evolving, then polls.
    async fn step(&mut self, by: Duration, revoke: u64, what: &str) {
        let revoked = self
            .sim
            .sim
            .with_population(|p| p.revoke_random(revoke, p.clock_ms()));
        let now = self.clock.advance(by);
        let mut changes = self.sim.sim.advance(now);
        changes.revoked += revoked;
        self.truth.add(&changes, &self.semantics);
        self.patched += changes.patched;
        self.app.poller.poll_once().await.expect(what);
    }

    /// 20 polls a minute apart, a tenth of the active sessions revoked before the 10th, then
    /// polls without time moving until the lookups have caught up. Checks after every poll
    /// that nothing was counted that did not happen; returns the truth and the counters.
    async fn churn(&mut self, name: &str) -> (Tally, Tally) {
        self.step(MINUTE, 0, &format!("{name}: first sync")).await;
        (self.truth, self.patched) = (Tally::default(), 0);
        for i in 0..20 {
            let revoke = if i == 9 {
                self.sim.sim.with_population(|p| p.active_count()) as u64 / 10
            } else {
                0
            };
            self.step(MINUTE, revoke, &format!("{name}: poll {i}"))
                .await;
            self.assert_at_most(&format!("{name}: poll {i}"));
        }
        for i in 0..40 {
            self.step(Duration::ZERO, 0, &format!("{name}: catching up {i}"))
                .await;
        }
        (self.truth, Tally::of(&self.app))
    }

    /// Nothing counted that did not happen; a PATCH swap's ending (not in the truth) allowed.
    fn assert_at_most(&self, what: &str) {
        let slack = self.patched;
        let got = Tally::of(&self.app);
        for (i, status) in ENDED_STATUSES.iter().enumerate() {
            assert!(
                got.ended[i] <= self.truth.ended[i].saturating_add(slack),
                "{what}: {status}: counted {} of {} that ended",
                got.ended[i],
                self.truth.ended[i]
            );
        }
        assert!(got.created <= self.truth.created, "{what}: created {got:?}");
    }
}

async fn exact_under(semantics: Semantics, seed: u64, name: &str) -> Tally {
    let mut run = start(Strategy::Auto, semantics, seed).await;
    let (truth, got) = run.churn(name).await;
    assert_eq!(got, truth, "{name}: counted (left) against what happened");
    assert!(
        truth.ended.iter().sum::<u64>() > 250 && truth.created > 250,
        "{name}: too little churn to mean anything: {truth:?}"
    );
    truth
}

#[tokio::test]
async fn the_documented_semantics_count_every_ending_and_creation_exactly() {
    let truth = exact_under(Semantics::default(), 41, "default").await;
    assert!(
        truth.ended[3] >= 50,
        "the injected mass revocation: {truth:?}"
    );
}

#[tokio::test]
async fn endings_that_keep_updated_are_counted_exactly_by_lookups_after_the_repairs() {
    let semantics = Semantics {
        ended_keeps_updated: true,
        ..Semantics::default()
    };
    exact_under(semantics, 42, "ended keeps updated").await;
}

#[tokio::test]
async fn lazy_expiry_counts_an_expiry_when_the_api_says_so() {
    let semantics = Semantics {
        lazy_expiry: true,
        ..Semantics::default()
    };
    exact_under(semantics, 43, "lazy expiry").await;
}

#[tokio::test]
async fn deleted_revocations_are_counted_as_deleted() {
    let semantics = Semantics {
        delete_revoked: true,
        ..Semantics::default()
    };
    let truth = exact_under(semantics, 44, "delete revoked").await;
    assert_eq!(truth.ended[3], 0);
    assert!(
        truth.ended[5] >= 50,
        "the injected mass revocation: {truth:?}"
    );
}

#[tokio::test]
async fn clock_skew_within_the_overlap_counts_nothing_twice() {
    let semantics = Semantics {
        updated_lag: Duration::from_secs(20),
        ..Semantics::default()
    };
    exact_under(semantics, 45, "updated lags 20s").await;
}

#[tokio::test]
async fn reactivation_by_patch_is_counted_when_a_repair_sees_it_and_never_too_often() {
    let semantics = Semantics {
        reactivate_by_patch: true,
        ..Semantics::default()
    };
    let mut run = start(Strategy::Auto, semantics, 46).await;
    let (truth, got) = run.churn("reactivate by patch").await;
    // A swap's ending moves no `updated`: it is counted (as logged_out) once the rolling check
    // re-pages its range, within --poll.verify-interval; a revived session that ends before the
    // check holds it again is not. Each swap can thus be off by one either way, nothing else.
    assert!(run.patched > 0, "no swaps happened");
    assert_eq!(got.created, truth.created);
    for (i, status) in ENDED_STATUSES.iter().enumerate() {
        assert!(
            got.ended[i].abs_diff(truth.ended[i]) <= run.patched,
            "{status}: {} counted, {} happened, {} swaps",
            got.ended[i],
            truth.ended[i],
            run.patched
        );
    }
}

#[tokio::test]
async fn the_counters_exist_only_with_a_kept_active_set() {
    for (strategy, kept) in [
        (Strategy::Incremental, true),
        (Strategy::Auto, true),
        (Strategy::Filter, false),
        (Strategy::Scan, false),
    ] {
        let run = start(strategy, Semantics::default(), 47).await;
        let page = run.app.store.metrics.render();
        for status in ENDED_STATUSES {
            let series = format!("corbado_sessions_ended_total{{status=\"{status}\"");
            assert_eq!(
                page.contains(&series),
                kept,
                "{strategy:?}: {status}\n{page}"
            );
        }
        assert_eq!(
            page.contains("corbado_sessions_created_total"),
            kept,
            "{strategy:?}"
        );
    }
}
