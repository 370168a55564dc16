//! The HTTP endpoints: content types, readiness, gzip, staleness, failures.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::aggregate::parse_windows;
use corbado_exporter::aggregate::Summary;
use corbado_exporter::metrics::{ExporterMetrics, UserLabels};
use corbado_exporter::poller::{PollMethod, ResyncReason, Strategy};
use corbado_exporter::server::gate::{self, Gate};
use corbado_exporter::server::Paths;
use corbado_exporter::snapshot::Store;
use corbado_exporter::web_config::LiveWebConfig;

use crate::helpers::{
    config, parse_samples, serve_on_loopback, spawn_app, spawn_sim, value, SECRET,
};

#[tokio::test]
async fn endpoints_answer_as_the_contract_says() {
    let sim = spawn_sim(2_000, 1).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;

    let ready = reqwest::get(app.url("/-/ready")).await.expect("ready");
    assert_eq!(ready.status(), 503, "not ready before the first poll");
    let healthy = reqwest::get(app.url("/-/healthy")).await.expect("healthy");
    assert_eq!(healthy.status(), 200);

    // Before any poll: the exporter's own series are there, the session gauges are not.
    let before = app.scrape().await;
    assert!(before.contains("corbado_up{project_id=\"pro-test\"} 0"));
    assert!(before.contains("corbado_exporter_build_info{"));
    assert!(!before.contains("corbado_sessions{"));
    assert!(!before.contains("corbado_exporter_last_poll_success_timestamp_seconds"));

    app.poller.poll_once().await.expect("poll");
    assert_eq!(
        reqwest::get(app.url("/-/ready"))
            .await
            .expect("ready")
            .status(),
        200
    );

    let response = reqwest::get(app.url("/metrics")).await.expect("metrics");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let samples = parse_samples(&response.text().await.expect("body"));
    assert_eq!(value(&samples, "corbado_up", &[]), Some(1.0));
    assert_eq!(
        value(&samples, "corbado_exporter_polls_total", &[]),
        Some(1.0)
    );
    // Every series carries the project, except the instance's own three kinds and the process
    // metrics.
    const INSTANCE: [&str; 5] = [
        "corbado_exporter_config_last_reload_successful",
        "corbado_exporter_config_last_reload_success_timestamp_seconds",
        "corbado_exporter_shard_ordinal",
        "corbado_exporter_total_shards",
        "corbado_exporter_projects",
    ];
    for sample in &samples {
        let project = sample.labels.get("project_id").map(String::as_str);
        if INSTANCE.contains(&sample.name.as_str()) || sample.name.starts_with("process_") {
            assert_eq!(project, None, "{sample:?}");
        } else {
            assert_eq!(project, Some("pro-test"), "{sample:?}");
        }
    }
    assert_eq!(value(&samples, "corbado_exporter_projects", &[]), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );

    let landing = reqwest::get(app.url("/")).await.expect("landing");
    assert_eq!(landing.status(), 200);
    assert!(landing
        .text()
        .await
        .expect("body")
        .contains("href=\"/metrics\""));
    assert_eq!(
        reqwest::get(app.url("/nope")).await.expect("404").status(),
        404
    );
}

#[tokio::test]
async fn metrics_are_gzipped_when_asked_for() {
    let sim = spawn_sim(2_000, 2).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let plain = app.scrape().await;

    let client = reqwest::Client::new();
    let response = client
        .get(app.url("/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let bytes = response.bytes().await.expect("body");
    assert!(bytes.len() < plain.len());
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert!(text.contains("corbado_sessions{status=\"active\""));
}

#[tokio::test]
async fn a_custom_telemetry_path_moves_the_metrics() {
    let sim = spawn_sim(500, 2).await;
    let mut config = config(&sim.api_url(), Strategy::Scan);
    config.paths = Paths::root("/probe/metrics");
    let app = spawn_app(config).await;
    assert_eq!(
        reqwest::get(app.url("/probe/metrics"))
            .await
            .expect("scrape")
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(app.url("/metrics"))
            .await
            .expect("old path")
            .status(),
        404
    );
}

#[tokio::test(start_paused = true)]
async fn stale_session_gauges_are_dropped_and_the_exporter_series_stay() {
    let windows = parse_windows("15m").expect("valid");
    let metrics = ExporterMetrics::new("pro-stale", &PollMethod::LABELS, &ResyncReason::LABELS)
        .expect("metrics");
    let state = Store::new(
        "pro-stale",
        windows,
        Duration::from_secs(300),
        metrics,
        UserLabels::default(),
        crate::helpers::journal(),
    );
    let summary = Summary {
        created_in_window: vec![1],
        expiring_in_window: vec![2],
        expired_in_window: vec![3],
        ..Summary::default()
    };
    state.publish(summary, 1_795_626_000_000).expect("publish");
    state.metrics.up.set(1);
    assert!(state
        .render()
        .contains("corbado_sessions{status=\"active\""));

    tokio::time::advance(Duration::from_secs(300)).await;
    assert!(
        state.render().contains("corbado_sessions{"),
        "exactly at the limit: still fresh"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    let text = state.render();
    assert!(!text.contains("corbado_sessions{"));
    assert!(!text.contains("corbado_sessions_created_in_window"));
    assert!(text.contains("corbado_up{project_id=\"pro-stale\"} 1"));
    assert!(text.contains(
        "corbado_exporter_last_poll_success_timestamp_seconds{project_id=\"pro-stale\"} 1795626000"
    ));
    assert!(
        state.is_ready(),
        "ready stays true once a poll has succeeded"
    );
}

#[tokio::test]
async fn wrong_credentials_fail_the_poll_once_without_retrying_and_keep_the_old_snapshot() {
    let sim = spawn_sim(1_000, 4).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    app.poller.poll_once().await.expect("good poll");
    let good = app.store.snapshot().expect("snapshot");

    let mut wrong = config(&sim.api_url(), Strategy::Scan);
    if let corbado_exporter::config::Source::Flags { secret, .. } = &mut wrong.source {
        *secret = corbado_exporter::secret::Secret::new("not-the-secret");
    }
    let bad_app = spawn_app(wrong).await;
    let before = sim.sim.requests();
    let error = bad_app
        .poller
        .poll_once()
        .await
        .expect_err("401 fails the poll");
    let message = format!("{error:#}");
    assert!(
        message.contains("check --corbado.project-id and the API secret"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret") && !message.contains(SECRET));
    assert_eq!(sim.sim.requests() - before, 1, "401 is not retried");
    let samples = parse_samples(&bad_app.scrape().await);
    assert_eq!(value(&samples, "corbado_up", &[]), Some(0.0));
    assert_eq!(
        value(&samples, "corbado_exporter_poll_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_api_requests_total",
            &[("code", "401")]
        ),
        Some(1.0)
    );

    // The first exporter's snapshot is untouched by the other's failure, and by its own.
    assert!(std::sync::Arc::ptr_eq(
        &good,
        &app.store.snapshot().expect("snapshot")
    ));
}

/// The gate of every route, in front of a handler that holds its request until released: the
/// cap is reached deterministically, without racing a timer.
#[tokio::test]
async fn requests_over_the_cap_get_503_but_health_probes_pass() {
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let hold = Arc::new(std::sync::Mutex::new(Some((entered_tx, release_rx))));
    let slow = move || {
        let pair = hold.lock().expect("lock").take();
        async move {
            if let Some((entered, release)) = pair {
                let _ = entered.send(());
                let _ = release.await;
            }
            "done"
        }
    };
    let web = LiveWebConfig::load(None).expect("no web config");
    let router = axum::Router::new()
        .route("/slow", axum::routing::get(slow))
        .route("/-/healthy", axum::routing::get(|| async { "Healthy\n" }))
        .layer(axum::middleware::from_fn_with_state(
            Gate::new(Arc::clone(&web), 1, Paths::root("/metrics")),
            gate::guard,
        ));
    let (address, shutdown) = serve_on_loopback(router, web).await;
    let url = |path: &str| format!("http://{address}{path}");

    let held = tokio::spawn(reqwest::get(url("/slow")));
    entered_rx
        .await
        .expect("the first request reached its handler");
    let refused = reqwest::get(url("/slow")).await.expect("answered");
    assert_eq!(refused.status(), 503);
    let probe = reqwest::get(url("/-/healthy")).await.expect("answered");
    assert_eq!(probe.status(), 200, "health probes skip the cap");

    release_tx.send(()).expect("release");
    let first = held.await.expect("task").expect("answered");
    assert_eq!(first.status(), 200);
    let again = reqwest::get(url("/slow")).await.expect("answered");
    assert_eq!(
        again.status(),
        200,
        "the permit comes back when a request ends"
    );
    shutdown.cancel();
}
