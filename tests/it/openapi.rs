//! Our client and our simulator checked against third parties' reading of the OpenAPI page
//! (`tests/openapi/sessions.yaml`): Prism mocks the API and validates every request the exporter
//! sends; schemathesis fuzzes the simulator and validates every response it gives.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use corbado_exporter::poller::Strategy;

use crate::helpers::{
    config, eventually, free_port, scratch_dir, spawn_app, spawn_sim, tool_available, PROJECT,
    SECRET,
};

fn spec() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/sessions.yaml")
}

/// Kills the child when dropped, so a failing test leaves no mock behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_exporter_polls_a_prism_mock_without_a_request_violation() {
    if !tool_available("prism") {
        return;
    }
    let port = free_port();
    // --errors: a request that violates the spec gets an error status instead of a warning
    // header, so any violation fails the poll and this test.
    let _prism = KillOnDrop(
        Command::new("prism")
            .args([
                "mock",
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .arg(spec())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prism starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let probe = format!("{base}/sessions");
    eventually(Duration::from_secs(60), "prism to listen", || async {
        reqwest::get(&probe).await.is_ok()
    })
    .await;

    // Without credentials Prism refuses, as the security scheme says.
    assert_eq!(reqwest::get(&probe).await.expect("probe").status(), 401);

    for strategy in [Strategy::Scan, Strategy::Filter, Strategy::Auto] {
        let app = spawn_app(config(&base, strategy)).await;
        let report = app
            .poller
            .poll_once()
            .await
            .unwrap_or_else(|e| panic!("{strategy:?} against Prism: {e:#}"));
        assert!(report.requests >= 1);
        let text = app.scrape().await;
        assert!(
            text.contains("corbado_exporter_api_requests_total{code=\"200\""),
            "{text}"
        );
        assert!(
            !text.contains("code=\"422\"") && !text.contains("code=\"400\""),
            "{text}"
        );
        // Prism's canned page holds one active session.
        assert!(text.contains("corbado_users_with_active_sessions{project_id=\"pro-test\"} 1"));
    }
}

#[tokio::test]
async fn schemathesis_finds_the_simulator_faithful_to_the_spec() {
    if !tool_available("st") {
        return;
    }
    let sim = spawn_sim(2_000, 3).await;
    let api = sim.api_url();
    let auth = format!("{PROJECT}:{SECRET}");
    let spec = spec();
    // It keeps a cache in its working folder: one of its own, out of the repository, removed
    // after the run.
    let scratch = scratch_dir("schemathesis");
    let cwd = scratch.path().to_owned();
    // schemathesis blocks; run it off the runtime that serves the simulator.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("st")
            .arg("run")
            .arg(&spec)
            .args(["--url", &api, "-a", &auth])
            .args(["--checks", "all", "--max-examples", "100"])
            .args(["--seed", "20261125"])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .current_dir(cwd)
            .output()
            .expect("schemathesis runs")
    })
    .await
    .expect("join");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{said}"
    );
    assert!(said.contains("No issues found"), "{said}");
    assert!(
        sim.sim.requests() > 50,
        "schemathesis sent {} requests",
        sim.sim.requests()
    );
}
