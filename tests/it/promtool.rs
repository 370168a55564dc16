//! `promtool check metrics` (Prometheus' own linter) on a real scrape.
//!
//! One remark is expected and allowed: the contract makes `corbado_users_by_active_sessions` a
//! gauge with an `le` label (a cumulative distribution of users, not a histogram of
//! observations), which the linter flags for every non-histogram. Any other remark fails.

use std::io::Write as _;
use std::process::{Command, Stdio};

use corbado_exporter::poller::Strategy;

use crate::helpers::{config, spawn_app, spawn_sim, tool_available};

#[tokio::test]
async fn promtool_finds_nothing_wrong_with_a_real_scrape() {
    if !tool_available("promtool") {
        return;
    }
    let sim = spawn_sim(3_000, 21).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let text = app.scrape().await;
    assert!(text.contains("corbado_sessions{"));

    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write scrape");
    let output = child.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let expected =
        "corbado_users_by_active_sessions non-histogram metrics should not have \"le\" label";
    let remarks: Vec<&str> = said
        .lines()
        .filter(|line| !line.trim().is_empty() && line.trim() != expected)
        .collect();
    assert!(remarks.is_empty(), "promtool has remarks: {said}");
    assert!(
        said.contains(expected),
        "the distribution gauge was not linted: {said}"
    );
}
