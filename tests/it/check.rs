//! `corbado-exporter check`, run as the binary against the simulator: a healthy project, one
//! whose secret is refused, one whose API ignores filters (under `auto` and under `filter`), a
//! config file with both kinds, and `--demo`.

use std::process::Output;

use corbado_exporter::simulator::Faults;
use serde_json::Value;

use crate::helpers::{exporter, scratch_dir, spawn_sim, TestSim, PROJECT, SECRET};

/// Runs `check` with `args` (and `secret` in the environment, if any).
async fn check(args: &[&str], secret: Option<&str>) -> Output {
    let mut command = exporter(&["check"]);
    command.args(args);
    if let Some(secret) = secret {
        command.env("CORBADO_API_SECRET", secret);
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("the binary runs")
}

/// `check --output json` of the one project `sim` serves, with `extra` flags.
async fn check_json(sim: &TestSim, secret: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let api = sim.api_url();
    let mut args = vec![
        "--corbado.api-url",
        &api,
        "--corbado.project-id",
        PROJECT,
        "--corbado.max-requests-per-second",
        "0",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = check(&args, Some(secret)).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (output.status.code(), json)
}

#[tokio::test]
async fn a_healthy_project_is_counted_costed_and_pollable() {
    let sim = spawn_sim(2_000, 7).await;
    let before = sim.sim.requests();
    let (code, json) = check_json(&sim, SECRET, &[]).await;
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["pollable"], true);
    let project = &json["projects"][0];
    assert_eq!(project["credentials"], "ok");
    assert_eq!(project["filters_honoured"], true);
    let counts = &project["counts"];
    assert_eq!(counts["total"], 2_000);
    let by_status: u64 = counts["by_status"]
        .as_object()
        .expect("an object")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(by_status, 2_000);
    assert_eq!(counts["windows"][0]["window"], "15m");
    let costs = &project["costs"]["strategies"];
    assert_eq!(costs[0]["strategy"], "scan");
    assert_eq!(
        costs[0]["requests_per_poll"], 20,
        "2,000 sessions in pages of 100"
    );
    let active = counts["active_sessions"].as_u64().expect("active");
    assert_eq!(
        costs[1]["requests_per_poll"].as_u64(),
        Some(15 + active.div_ceil(100).max(1)),
        "filter: the counts and the active pages"
    );
    assert_eq!(project["costs"]["budget_per_second"], 10.0);
    // What the check says it cost is what the simulator served.
    assert_eq!(
        project["requests_made"].as_u64(),
        Some(sim.sim.requests() - before)
    );
}

#[tokio::test]
async fn a_refused_secret_fails_the_check_without_showing_the_secret() {
    let sim = spawn_sim(500, 7).await;
    let (code, json) = check_json(&sim, "corbado1_wrong_secret_value", &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(json["pollable"], false);
    let project = &json["projects"][0];
    assert_eq!(project["credentials"], "refused");
    assert_eq!(project["filters_honoured"], Value::Null);
    assert!(project["notes"][0]
        .as_str()
        .is_some_and(|n| n.contains("HTTP 401")));
}

#[tokio::test]
async fn an_api_that_ignores_filters_is_pollable_by_auto_but_not_by_filter() {
    let sim = spawn_sim(1_000, 7).await;
    sim.sim.set_faults(Faults {
        ignore_filters: true,
        ..Faults::default()
    });
    let (code, json) = check_json(&sim, SECRET, &[]).await;
    assert_eq!(code, Some(0), "auto scans instead: {json:#}");
    let project = &json["projects"][0];
    assert_eq!(project["filters_honoured"], false);
    assert_eq!(project["counts"]["total"], 1_000, "counted by a scan");
    let auto = &project["costs"]["strategies"][3];
    assert_eq!(auto["strategy"], "auto");
    assert_eq!(
        auto["requests_per_poll"],
        15 + 10,
        "the counts, then a scan"
    );
    assert_eq!(project["costs"]["strategies"][1]["exact"], false);

    let (code, json) = check_json(&sim, SECRET, &["--poll.strategy", "filter"]).await;
    assert_eq!(code, Some(1), "filter would export wrong numbers");
    let note = json["projects"][0]["notes"][0].as_str().unwrap_or_default();
    assert!(note.contains("configure `auto` or `scan`"), "{note}");
}

#[tokio::test]
async fn a_config_file_is_checked_project_by_project() {
    let good = crate::helpers::serve_project(
        corbado_exporter::simulator::Population::generate(
            corbado_exporter::simulator::Params::realistic(300, 1),
            corbado_exporter::clock::now_whole_seconds_ms(),
        ),
        "pro-good",
        "corbado1_good_secret",
    )
    .await;
    let scratch = scratch_dir("check-file");
    let dir = scratch.path();
    std::fs::write(dir.join("good"), "corbado1_good_secret\n").expect("write");
    std::fs::write(dir.join("bad"), "corbado1_bad_secret\n").expect("write");
    let file = dir.join("projects.yml");
    std::fs::write(
        &file,
        format!(
            "defaults:\n  api_url: {}\n  max_requests_per_second: 0\nprojects:\n  - id: pro-good\n    \
             api_secret_file: {}\n  - id: pro-bad\n    api_secret_file: {}\n",
            good.api_url(),
            dir.join("good").display(),
            dir.join("bad").display()
        ),
    )
    .expect("write");
    let output = check(&["--config.file", &file.to_string_lossy()], None).await;
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{table}");
    let good_part = table.split("Project pro-bad").next().unwrap_or_default();
    assert!(
        good_part.contains("Project pro-good") && good_part.contains("pollable             yes")
    );
    assert!(table.contains("credentials          refused"), "{table}");
    assert!(table.contains("1 of 2 project(s) can be polled as configured."));
    assert!(!table.contains("corbado1_"), "no secret in {table}");
}

#[tokio::test]
async fn the_demo_checks_out() {
    let output = check(&["--demo", "--corbado.max-requests-per-second", "0"], None).await;
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{table}");
    assert!(table.starts_with("Project pro-demo\n"), "{table}");
    assert!(table.contains("filters              honoured"));
    // The demo's population of DEMO_SESSIONS grows while it evolves (every 5 s).
    let total: u64 = table
        .split("sessions             ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a session total in {table}"));
    let demo = corbado_exporter::simulator::DEMO_SESSIONS;
    assert!((demo..demo + 1_000).contains(&total), "{total}");
}
