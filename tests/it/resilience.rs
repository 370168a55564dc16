//! Polling under a slow, flaky, rate-limited, misbehaving upstream, driven by the simulator's
//! fault injection. Assertions are on the final metrics and on the requests the simulator saw.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::corbado::Status;
use corbado_exporter::poller::Strategy;
use corbado_exporter::simulator::{Faults, Injected};

use crate::helpers::{config, parse_samples, spawn_app, spawn_sim, value, TestApp};

fn script(faults: &[Injected]) -> Faults {
    Faults {
        script: faults.iter().cloned().collect::<VecDeque<_>>(),
        ..Faults::default()
    }
}

async fn counter(app: &TestApp, code: &str) -> f64 {
    let samples = parse_samples(&app.scrape().await);
    value(
        &samples,
        "corbado_exporter_api_requests_total",
        &[("code", code)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn server_errors_are_retried_and_every_attempt_is_counted() {
    let sim = spawn_sim(1_000, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.settings.concurrency = 1;
    let app = spawn_app(cfg).await;
    sim.sim.set_faults(script(&[
        Injected::Status(500),
        Injected::Status(503),
        Injected::Status(502),
    ]));

    let report = app.poller.poll_once().await.expect("retries get through");
    let pages = 10;
    assert_eq!(report.requests, pages + 3);
    assert_eq!(sim.sim.requests(), pages + 3);
    assert_eq!(counter(&app, "500").await, 1.0);
    assert_eq!(counter(&app, "503").await, 1.0);
    assert_eq!(counter(&app, "502").await, 1.0);
    assert_eq!(counter(&app, "200").await, pages as f64);
    let samples = parse_samples(&app.scrape().await);
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_api_request_duration_seconds_count",
            &[]
        ),
        Some((pages + 3) as f64),
        "every attempt is timed too"
    );
    sim.assert_exact(&app, &report, "summary against the ground truth");
}

#[tokio::test]
async fn a_persistent_server_error_fails_the_poll_after_bounded_attempts() {
    let sim = spawn_sim(1_000, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.settings.concurrency = 1;
    let app = spawn_app(cfg).await;
    sim.sim.set_faults(Faults {
        on_page: vec![(3, Injected::Status(500), 100)],
        ..Faults::default()
    });
    let error = app
        .poller
        .poll_once()
        .await
        .expect_err("page 3 never works");
    let message = format!("{error:#}");
    assert!(
        message.contains("page 3") && message.contains("HTTP 500"),
        "{message}"
    );
    assert_eq!(counter(&app, "500").await, 5.0, "max_attempts is 5");
}

#[tokio::test]
async fn rate_limits_are_waited_out_with_and_without_retry_after() {
    let sim = spawn_sim(1_000, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Filter);
    cfg.settings.concurrency = 1;
    let app = spawn_app(cfg).await;
    sim.sim.set_faults(script(&[
        Injected::TooManyRequests {
            retry_after: Some("1".into()),
        },
        Injected::TooManyRequests { retry_after: None },
        Injected::TooManyRequests {
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        },
    ]));
    let report = app.poller.poll_once().await.expect("429s are waited out");
    assert_eq!(counter(&app, "429").await, 3.0);
    sim.assert_exact(&app, &report, "summary against the ground truth");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_say_what_the_api_said() {
    let sim = spawn_sim(1_000, 1).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    sim.sim.set_faults(script(&[Injected::Status(404)]));
    let error = app.poller.poll_once().await.expect_err("404 is final");
    let message = format!("{error:#}");
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(
        message.contains("injected_error"),
        "the API's error.type: {message}"
    );
    assert!(
        message.contains("requestID req-"),
        "the API's requestID: {message}"
    );
    assert_eq!(sim.sim.requests(), 1);
}

#[tokio::test]
async fn bad_bodies_fail_the_poll_with_a_reason_and_the_last_snapshot_stays() {
    let sim = spawn_sim(1_000, 1).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    app.poller.poll_once().await.expect("a good poll first");
    let good = app.store.snapshot().expect("snapshot");

    let cases: [(Injected, &str); 6] = [
        (Injected::Truncated, "malformed response"),
        (Injected::Malformed, "malformed response"),
        (Injected::WrongTypes, "malformed response"),
        (Injected::Oversized(9 * 1024 * 1024), "larger than"),
        (Injected::TotalPages(-1), "negative paging"),
        (Injected::TotalPages(1_000_000_000), "refusing to follow"),
    ];
    for (fault, reason) in cases {
        sim.sim.set_faults(Faults {
            on_page: vec![(1, fault.clone(), 1000)],
            ..Faults::default()
        });
        let error = app
            .poller
            .poll_once()
            .await
            .expect_err("bad body fails the poll");
        let message = format!("{error:#}");
        assert!(message.contains(reason), "{fault:?}: {message}");
        assert!(
            Arc::ptr_eq(&good, &app.store.snapshot().expect("snapshot")),
            "{fault:?}"
        );
    }
    let samples = parse_samples(&app.scrape().await);
    assert_eq!(value(&samples, "corbado_up", &[]), Some(0.0));
    assert_eq!(
        value(&samples, "corbado_exporter_poll_failures_total", &[]),
        Some(6.0)
    );
    assert!(
        samples.iter().any(|s| s.name == "corbado_sessions"),
        "still fresh, still served"
    );

    // A body cut short once is a hiccup: the retry gets the whole page.
    sim.sim.set_faults(Faults {
        on_page: vec![(4, Injected::Truncated, 1)],
        ..Faults::default()
    });
    let report = app.poller.poll_once().await.expect("recovers");
    sim.assert_exact(&app, &report, "summary against the ground truth");
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let sim = spawn_sim(2_000, 4).await;
    sim.sim.set_faults(Faults {
        unknown_fields: true,
        ..Faults::default()
    });
    for strategy in [Strategy::Scan, Strategy::Filter] {
        let app = spawn_app(config(&sim.api_url(), strategy)).await;
        let report = app.poller.poll_once().await.expect("poll");
        sim.assert_exact(&app, &report, &format!("{strategy:?}"));
    }
}

#[tokio::test]
async fn random_errors_at_a_ten_percent_rate_are_absorbed() {
    let sim = spawn_sim(5_000, 2).await;
    sim.sim.set_faults(Faults {
        error_rate: 0.1,
        random_status: 503,
        ..Faults::default()
    });
    let app = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    let report = app
        .poller
        .poll_once()
        .await
        .expect("poll absorbs the errors");
    assert!(counter(&app, "503").await >= 1.0);
    assert_eq!(report.requests, sim.sim.requests());
    sim.assert_exact(&app, &report, "summary against the ground truth");
}

/// The residual error while data moves, bounded: every status count, and the total, is off from
/// the truth at the end of the poll by no more than the sessions that changed during it.
#[tokio::test]
async fn data_changing_during_a_poll_is_neither_double_counted_nor_followed_forever() {
    for strategy in [Strategy::Scan, Strategy::Filter] {
        let sim = spawn_sim(20_000, 6).await;
        // Every third request, the population moves on by a minute.
        sim.sim.set_faults(Faults {
            advance_every: Some((3, Duration::from_secs(60))),
            ..Faults::default()
        });
        let app = spawn_app(config(&sim.api_url(), strategy)).await;
        let report = app.poller.poll_once().await.expect("poll");
        let changed = sim.sim.changed_sessions();
        assert!(changed > 0, "the population did move");
        assert_eq!(report.duplicates, 0);
        let end = sim.truth(&app, &report);
        let got = &app.store.snapshot().expect("snapshot").summary;
        for status in Status::ALL {
            let diff = got.count(status).abs_diff(end.count(status));
            assert!(
                diff <= changed,
                "{strategy:?} status {status}: off by {diff}, {changed} changed"
            );
        }
        assert!(got.total().abs_diff(end.total()) <= changed);
        let pages_at_end = end.total().div_ceil(100);
        if strategy == Strategy::Scan {
            assert!(
                report.requests <= pages_at_end + 2,
                "{} requests",
                report.requests
            );
        }
    }
}

/// On the paused clock, so that "promptly" is a fact of the schedule, not a wall-clock race: the
/// upstream holds the request for 30 virtual seconds, and the poller must be gone without the
/// clock moving. (Before, a 10 s wall-clock bound stood here; a loaded machine could break it.)
#[tokio::test(start_paused = true)]
async fn shutdown_cancels_an_in_flight_poll_promptly() {
    let sim = spawn_sim(1_000, 1).await;
    sim.sim.set_faults(Faults {
        latency: Duration::from_secs(30),
        ..Faults::default()
    });
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    // Only the shutdown may end the hanging request, not the client's own timeout.
    cfg.settings.timeout = Duration::from_secs(3600);
    let app = spawn_app(cfg).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let poller = Arc::clone(&app.poller);
    let token = shutdown.clone();
    let running = tokio::spawn(async move { poller.run(token).await });
    // Virtual time runs ahead while the runtime waits on the socket: the limit is generous, as
    // the upstream's 30 s hold starts only when the request arrives.
    crate::helpers::eventually(Duration::from_secs(3600), "the first request", || async {
        sim.sim.requests() >= 1
    })
    .await;
    let cancelled_at = tokio::time::Instant::now();
    shutdown.cancel();
    running.await.expect("no panic");
    let waited = tokio::time::Instant::now() - cancelled_at;
    // Well short of the 30 s hold: a poller that sat out the request would wait most of it.
    assert!(
        waited < Duration::from_secs(1),
        "the poller waited {waited:?} of virtual time: it sat out the hanging request"
    );
    assert!(app.store.snapshot().is_none());
}

#[tokio::test(start_paused = true)]
async fn the_shared_limiter_paces_every_request_of_a_poll() {
    let sim = spawn_sim(2_000, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.settings.max_requests_per_second = 5.0;
    cfg.settings.concurrency = 4;
    let app = spawn_app(cfg).await;
    let started = tokio::time::Instant::now();
    let report = app.poller.poll_once().await.expect("poll");
    assert_eq!(report.requests, 20);
    // 20 requests at 5 per second: the first at once, the last 3.8 s later.
    assert!(
        started.elapsed() >= Duration::from_millis(3800),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_back_the_request_for_as_long_as_it_says() {
    let sim = spawn_sim(1_000, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.retry.max_retry_after = Duration::from_secs(30);
    let app = spawn_app(cfg).await;
    sim.sim.set_faults(script(&[Injected::TooManyRequests {
        retry_after: Some("7".into()),
    }]));
    let started = tokio::time::Instant::now();
    app.poller.poll_once().await.expect("poll");
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(counter(&app, "429").await, 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_poll_longer_than_the_interval_delays_the_next_and_polls_never_overlap() {
    let sim = spawn_sim(1_000, 1).await;
    // 10 pages, one at a time, 4 s each: a 40 s poll against a 5 s interval.
    sim.sim.set_faults(Faults {
        latency: Duration::from_secs(4),
        ..Faults::default()
    });
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.settings.concurrency = 1;
    cfg.settings.poll_interval = Duration::from_secs(5);
    let app = spawn_app(cfg).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let poller = Arc::clone(&app.poller);
    let token = shutdown.clone();
    let running = tokio::spawn(async move { poller.run(token).await });

    tokio::time::sleep(Duration::from_secs(100)).await;
    shutdown.cancel();
    running.await.expect("no panic");
    let samples = parse_samples(&app.store.render());
    let polls = value(&samples, "corbado_exporter_polls_total", &[]).expect("polls");
    // Back to back, 40 s each: the third poll is under way at 100 s; a fourth never started.
    assert_eq!(polls, 3.0);
    // Requests are counted on arrival: the third poll sent its 5th at 96 s.
    assert_eq!(
        sim.sim.requests(),
        2 * 10 + 5,
        "two whole polls and part of a third"
    );
}
