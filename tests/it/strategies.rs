//! Every strategy, one poll each, against the simulator's ground truth: exactly.

use corbado_exporter::corbado::Status;
use corbado_exporter::poller::{PollMethod, Strategy};
use corbado_exporter::simulator::Faults;

use crate::helpers::{config, parse_samples, spawn_app, spawn_sim, value};

async fn assert_exact(strategy: Strategy, page_size: u32, concurrency: usize) {
    let sim = spawn_sim(12_000, 11).await;
    let mut config = config(&sim.api_url(), strategy);
    config.settings.page_size = page_size;
    config.settings.concurrency = concurrency;
    let app = spawn_app(config).await;

    let report = app.poller.poll_once().await.expect("poll succeeds");
    sim.assert_exact(
        &app,
        &report,
        &format!("{strategy:?}: summary differs from ground truth"),
    );
    let truth = sim.truth(&app, &report);
    assert_eq!(report.duplicates, 0);

    // And what Prometheus would see says the same.
    let samples = parse_samples(&app.scrape().await);
    for status in Status::ALL {
        assert_eq!(
            value(&samples, "corbado_sessions", &[("status", status.as_str())]),
            Some(truth.count(status) as f64),
            "{status}"
        );
    }
    for (i, window) in ["15m", "1h", "24h"].iter().enumerate() {
        let w = [("window", *window)];
        assert_eq!(
            value(&samples, "corbado_sessions_created_in_window", &w),
            Some(truth.created_in_window[i] as f64)
        );
        assert_eq!(
            value(&samples, "corbado_sessions_expiring_in_window", &w),
            Some(truth.expiring_in_window[i] as f64)
        );
        assert_eq!(
            value(&samples, "corbado_sessions_expired_in_window", &w),
            Some(truth.expired_in_window[i] as f64)
        );
    }
    assert_eq!(
        value(&samples, "corbado_users_with_active_sessions", &[]),
        Some(truth.users_with_active_sessions as f64)
    );
    assert_eq!(
        value(&samples, "corbado_user_active_sessions_max", &[]),
        Some(truth.user_active_sessions_max as f64)
    );
    for user in &truth.top_users {
        assert_eq!(
            value(
                &samples,
                "corbado_user_active_sessions",
                &[("user_id", &user.user_id)]
            ),
            Some(user.active_sessions as f64)
        );
    }
    assert_eq!(value(&samples, "corbado_up", &[]), Some(1.0));
    assert_eq!(
        value(&samples, "corbado_exporter_last_poll_requests", &[]),
        Some(report.requests as f64)
    );
    assert_eq!(
        report.requests,
        sim.sim.requests(),
        "every request the simulator saw is counted"
    );
}

#[tokio::test]
async fn scan_matches_the_ground_truth_exactly() {
    assert_exact(Strategy::Scan, 100, 4).await;
}

#[tokio::test]
async fn filter_matches_the_ground_truth_exactly() {
    assert_exact(Strategy::Filter, 100, 4).await;
}

#[tokio::test]
async fn auto_matches_the_ground_truth_exactly() {
    assert_exact(Strategy::Auto, 100, 4).await;
}

#[tokio::test]
async fn odd_page_sizes_and_one_page_at_a_time_change_nothing() {
    assert_exact(Strategy::Scan, 7, 1).await;
    assert_exact(Strategy::Filter, 33, 2).await;
}

#[tokio::test]
async fn filter_costs_counts_plus_active_pages_and_scan_one_request_per_page() {
    let sim = spawn_sim(12_000, 3).await;
    let active = sim.sim.with_population(|p| p.active_count()) as u64;
    let total = 12_000u64;

    let filter = spawn_app(config(&sim.api_url(), Strategy::Filter)).await;
    let report = filter.poller.poll_once().await.expect("filter poll");
    // unfiltered total + 5 statuses + created, expiring and expired per window (3) + active pages.
    assert_eq!(report.requests, 1 + 5 + 3 * 3 + active.div_ceil(100));
    assert_eq!(report.method, PollMethod::Filter);

    let before = sim.sim.requests();
    let scan = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    let report = scan.poller.poll_once().await.expect("scan poll");
    assert_eq!(report.requests, total.div_ceil(100));
    assert_eq!(sim.sim.requests() - before, total.div_ceil(100));
    assert_eq!(report.paged, total);
}

#[tokio::test]
async fn auto_falls_back_to_scan_when_the_api_ignores_filters_and_stays_exact() {
    let sim = spawn_sim(6_000, 5).await;
    sim.sim.set_faults(Faults {
        ignore_filters: true,
        ..Faults::default()
    });
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    for _ in 0..2 {
        let report = app
            .poller
            .poll_once()
            .await
            .expect("poll succeeds by scanning");
        assert!(report.fell_back);
        assert_eq!(report.method, PollMethod::Scan);
        sim.assert_exact(&app, &report, "summary against the ground truth");
    }
    let samples = parse_samples(&app.scrape().await);
    assert_eq!(
        value(&samples, "corbado_exporter_strategy_fallbacks_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_last_poll_strategy",
            &[("strategy", "scan")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_last_poll_strategy",
            &[("strategy", "filter")]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn unknown_statuses_are_counted_by_every_strategy() {
    let sim = spawn_sim(6_000, 9).await;
    let injected = sim.sim.with_population(|p| p.inject_unknown_statuses(25));
    assert_eq!(injected, 25);
    for strategy in [Strategy::Scan, Strategy::Filter, Strategy::Auto] {
        let app = spawn_app(config(&sim.api_url(), strategy)).await;
        let report = app.poller.poll_once().await.expect("poll");
        let summary = app.store.snapshot().expect("snapshot").summary.clone();
        assert_eq!(summary.statuses.unknown, 25, "{strategy:?}");
        // auto sees totals that do not add up, and scans to stay exact.
        if strategy == Strategy::Auto {
            assert!(report.fell_back);
        }
        sim.assert_exact(&app, &report, &format!("{strategy:?}"));
    }
}

#[tokio::test]
async fn changes_between_polls_show_up_in_the_next_poll() {
    let sim = spawn_sim(6_000, 13).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    let first = app.poller.poll_once().await.expect("first poll");
    // Ten simulated minutes, in whole seconds, starting from the population's own clock.
    let start = sim.sim.with_population(|p| p.clock_ms());
    for s in 1..=600 {
        sim.sim.advance(start + s * 1000);
    }
    let second = app.poller.poll_once().await.expect("second poll");
    sim.assert_exact(&app, &second, "after ten simulated minutes");
    let summary = &app.store.snapshot().expect("snapshot").summary;
    assert!(summary.total() > 6_000, "new sessions arrived");
    assert!(second.now_ms >= first.now_ms);
}
