//! The binary as users run it: exit codes and messages for bad flags, the secret's absence from
//! everything the process prints or serves, and graceful shutdown.

use std::time::Duration;

use base64::Engine as _;

use crate::helpers::{
    eventually, eventually_some, exporter, exporter_polling, fetch_text, scratch_dir, spawn_sim,
    Running, PROJECT, SECRET,
};

fn fails_with(args: &[&str], envs: &[(&str, &str)], first_line_has: &[&str]) {
    let output = exporter(args)
        .envs(envs.iter().copied())
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    let first = stderr.lines().next().unwrap_or("");
    for needle in first_line_has {
        assert!(
            first.contains(needle),
            "{args:?}: first line {first:?} lacks {needle:?}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn a_bad_config_file_exits_2_naming_the_file_the_line_and_the_key() {
    let scratch = scratch_dir("cli-file");
    let dir = scratch.path();
    let path = dir.join("projects.yml");
    let file = path.to_str().expect("utf-8 path");
    std::fs::write(
        &path,
        "projects:\n  - id: pro-1\n    api_secret: corbado1_inline\n",
    )
    .expect("write");
    fails_with(
        &["--config.file", file],
        &[],
        &["--config.file", "projects.yml:3:", "api_secret"],
    );
    std::fs::write(
        &path,
        "projects:\n  - id: pro-1\n    api_secret_env: S\n    colour: red\n",
    )
    .expect("write");
    fails_with(
        &["--config.file", file],
        &[],
        &["projects.yml:4:", "colour"],
    );
    fails_with(
        &["--config.file", file, "--corbado.project-id", "pro-2"],
        &[],
        &["--config.file", "--corbado.project-id"],
    );
    fails_with(
        &["--config.file", file],
        &[("CORBADO_API_SECRET", "s3cr3t")],
        &["--config.file", "CORBADO_API_SECRET"],
    );
}

#[tokio::test]
async fn sighup_reloads_the_config_file() {
    let scratch = scratch_dir("cli-hup");
    let dir = scratch.path();
    let sim = spawn_sim(300, 9).await;
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let project = |id: &str| {
        format!(
            "  - id: {id}\n    api_url: {}\n    api_secret_file: {}\n",
            sim.api_url(),
            secret_file.display()
        )
    };
    let path = dir.join("projects.yml");
    std::fs::write(&path, format!("projects:\n{}", project(PROJECT))).expect("v1");
    let running = Running::start(exporter(&[
        "--config.file",
        path.to_str().expect("utf-8 path"),
        "--web.listen-address",
        "127.0.0.1:0",
    ]));
    let metrics = format!("http://{}/metrics", running.address().await);
    eventually(Duration::from_secs(20), "the first project", || async {
        let text = fetch_text(&metrics).await;
        text.contains("corbado_up{project_id=\"pro-test\"} 1")
    })
    .await;
    // A second project (its secret is wrong for this simulator, which is fine: it need only
    // appear), then SIGHUP.
    std::fs::write(
        &path,
        format!("projects:\n{}{}", project(PROJECT), project("pro-other")),
    )
    .expect("v2");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &running.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(hup.success());
    // The log line is written after the new projects are applied: wait for both.
    eventually(Duration::from_secs(20), "the added project", || async {
        let text = fetch_text(&metrics).await;
        text.contains("corbado_up{project_id=\"pro-other\"}")
            && text.contains("corbado_exporter_projects 2")
            && running.log().contains("configuration reloaded")
    })
    .await;
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("configuration reloaded"), "{log}");
}

#[test]
fn bad_configuration_exits_2_naming_the_flag() {
    fails_with(
        &["--demo", "--poll.interval", "0s"],
        &[],
        &["--poll.interval", "greater than zero"],
    );
    fails_with(
        &["--demo", "--poll.strategy", "guess"],
        &[],
        &["--poll.strategy"],
    );
    fails_with(
        &["--demo", "--sessions.windows", "15m,1500ms"],
        &[],
        &["--sessions.windows", "whole seconds"],
    );
    fails_with(
        &["--demo", "--corbado.timeout", "fast"],
        &[],
        &["--corbado.timeout"],
    );
    fails_with(
        &["--demo", "--web.listen-address", "nowhere"],
        &[],
        &["--web.listen-address"],
    );
    fails_with(
        &["--demo", "--corbado.concurrency", "0"],
        &[],
        &["--corbado.concurrency"],
    );
    fails_with(
        &[],
        &[("CORBADO_API_SECRET", "x")],
        &["--corbado.project-id", "required"],
    );
    fails_with(
        &["--corbado.project-id", "pro-1"],
        &[],
        &["CORBADO_API_SECRET"],
    );
    fails_with(
        &[
            "--corbado.project-id",
            "pro-1",
            "--corbado.api-secret-file",
            "/nonexistent/secret",
        ],
        &[],
        &["--corbado.api-secret-file", "cannot read"],
    );
    fails_with(
        &[
            "--corbado.project-id",
            "pro-1",
            "--corbado.api-url",
            "ftp://example.test",
        ],
        &[("CORBADO_API_SECRET", "x")],
        &["--corbado.api-url"],
    );
    fails_with(&["--no-such-flag"], &[], &["--no-such-flag"]);
}

#[test]
fn help_never_shows_the_secret() {
    let output = exporter(&["--help"])
        .env("CORBADO_API_SECRET", SECRET)
        .env("CORBADO_PROJECT_ID", PROJECT)
        .output()
        .expect("binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--corbado.api-secret-file"));
    assert!(help.contains("CORBADO_API_SECRET"));
    assert!(!help.contains(SECRET));
}

fn assert_no_secret(what: &str, text: &str, secret: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{PROJECT}:{secret}"));
    assert!(!text.contains(secret), "{what} contains the secret");
    assert!(
        !text.contains(&basic),
        "{what} contains the Authorization header"
    );
}

#[tokio::test]
async fn the_secret_appears_in_no_log_line_or_metric_even_at_trace_level() {
    let sim = spawn_sim(1_500, 31).await;
    for (secret, format) in [(SECRET, "text"), ("corbado1_wrong_Xy7", "json")] {
        let command = exporter_polling(
            &sim.api_url(),
            secret,
            &[
                "--log.level",
                "trace",
                "--log.format",
                format,
                "--corbado.max-requests-per-second",
                "0",
            ],
        );
        let running = Running::start(command);
        let address = running.address().await;
        // Wait for what is asserted: the poll's own line in `/logs` ("poll finished" or "poll
        // failed"), written when the poll ends. (`corbado_exporter_polls_total` moves when a
        // poll starts, before that line exists: waiting on it failed under load.)
        let logs_url = format!("http://{address}/logs");
        let logs = eventually_some(Duration::from_secs(30), "the poll's log line", || async {
            let text = reqwest::get(&logs_url).await.ok()?.text().await.ok()?;
            text.contains("poll f").then_some(text)
        })
        .await;
        // `/logs` keeps info and above, whatever --log.level sends to stderr.
        assert!(logs.contains("projects configured"), "{logs}");
        assert!(!logs.contains("DEBUG") && !logs.contains("TRACE"), "{logs}");
        let mut pages = vec![("/logs".to_owned(), logs)];
        for page in ["/metrics", "/", "/config", "/runbook"] {
            let text = fetch_text(&format!("http://{address}{page}")).await;
            pages.push((page.to_owned(), text));
        }
        for (page, text) in &pages {
            assert_no_secret(page, text, secret);
        }
        assert!(
            pages[1]
                .1
                .contains("corbado_exporter_polls_total{project_id=\"pro-test\"} 1"),
            "the poll is counted: {}",
            pages[1].1
        );
        let (code, log) = running.terminate().await;
        assert_eq!(code, Some(0), "clean exit on SIGTERM: {log}");
        assert!(log.contains("poll"), "trace logs were written: {log}");
        assert_no_secret("the log", &log, secret);
        // Nor the users' e-mail addresses (`identifierValue`; the simulator gives every
        // session user<N>@example.com), which the exporter never keeps.
        pages.push(("the log".to_owned(), log.clone()));
        for (what, text) in &pages {
            assert!(
                !text.contains("@example.com"),
                "{what} shows an e-mail address"
            );
            assert!(!text.contains("identifierValue"), "{what} names the field");
        }
        if secret != SECRET {
            assert!(
                log.contains("check --corbado.project-id and the API secret"),
                "{log}"
            );
        }
    }
}

#[tokio::test]
async fn demo_mode_serves_every_contract_metric_and_shuts_down_on_sigterm() {
    let running = Running::start(exporter(&["--demo", "--web.listen-address", "127.0.0.1:0"]));
    let address = running.address().await;
    let url = format!("http://{address}/-/ready");
    eventually(Duration::from_secs(30), "the demo to be ready", || async {
        reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    // Ready once counted; the per-user gauges follow when the first active set is complete
    // (2,500 active sessions at the default 5 requests/s: a few seconds).
    let metrics = format!("http://{address}/metrics");
    let text = eventually_some(Duration::from_secs(60), "the first active set", || async {
        let text = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
        text.contains("corbado_exporter_active_set_timestamp_seconds{")
            .then_some(text)
    })
    .await;
    for name in [
        "corbado_sessions{",
        "corbado_sessions_created_in_window{",
        "corbado_sessions_expiring_in_window{",
        "corbado_sessions_expired_in_window{",
        "corbado_users_with_active_sessions{",
        "corbado_user_active_sessions_max{",
        "corbado_user_active_sessions{",
        "corbado_active_sessions_per_user_bucket{",
        "corbado_up{",
        "corbado_exporter_active_set_sessions{",
        "corbado_exporter_active_set_timestamp_seconds{",
        "corbado_exporter_resyncs_total{",
        "corbado_exporter_last_poll_strategy{",
        "corbado_exporter_strategy_fallbacks_total{",
        "corbado_exporter_last_poll_success_timestamp_seconds{",
        "corbado_exporter_last_poll_duration_seconds{",
        "corbado_exporter_last_poll_requests{",
        "corbado_exporter_polls_total{",
        "corbado_exporter_poll_failures_total{",
        "corbado_exporter_api_requests_total{",
        "corbado_exporter_api_request_duration_seconds_bucket{",
        "corbado_exporter_build_info{",
        "corbado_exporter_config_last_reload_successful ",
        "corbado_exporter_config_last_reload_success_timestamp_seconds ",
        "corbado_exporter_shard_ordinal ",
        "corbado_exporter_total_shards ",
        "corbado_exporter_projects ",
    ] {
        assert!(
            text.contains(name),
            "{name} missing from the demo's metrics"
        );
    }
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0), "{log}");
}
