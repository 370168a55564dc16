//! `promtool check metrics` (Prometheus' own linter) on a real scrape of several projects with
//! every family present: no remark is allowed.

use std::time::Duration;

use corbado_exporter::config::Storage;

use crate::helpers::{eventually, run_with_input, scratch_dir, spawn_app, tool_available};
use crate::projects::{file_config, project_sim, projects_yaml};

/// Every family the contract names (histograms by their own name), for a project polled with
/// `--storage.path` whose state was saved, and the process metrics.
const FAMILIES: [&str; 30] = [
    "corbado_sessions",
    "corbado_sessions_created_total",
    "corbado_sessions_ended_total",
    "corbado_sessions_created_in_window",
    "corbado_sessions_expiring_in_window",
    "corbado_sessions_expired_in_window",
    "corbado_users_with_active_sessions",
    "corbado_user_active_sessions_max",
    "corbado_user_active_sessions",
    "corbado_active_sessions_per_user",
    "corbado_up",
    "corbado_exporter_last_poll_success_timestamp_seconds",
    "corbado_exporter_last_poll_duration_seconds",
    "corbado_exporter_last_poll_requests",
    "corbado_exporter_last_poll_strategy",
    "corbado_exporter_strategy_fallbacks_total",
    "corbado_exporter_active_set_sessions",
    "corbado_exporter_active_set_timestamp_seconds",
    "corbado_exporter_resyncs_total",
    "corbado_exporter_repairs_total",
    "corbado_exporter_state_restored",
    "corbado_exporter_state_last_save_timestamp_seconds",
    "corbado_exporter_config_last_reload_successful",
    "corbado_exporter_shard_ordinal",
    "corbado_exporter_total_shards",
    "corbado_exporter_polls_total",
    "corbado_exporter_poll_failures_total",
    "corbado_exporter_api_requests_total",
    "corbado_exporter_api_request_duration_seconds",
    "corbado_exporter_build_info",
];

/// The process families every exporter serves, once per instance (no `project_id`).
pub const PROCESS_FAMILIES: [&str; 6] = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

#[tokio::test]
async fn promtool_finds_nothing_wrong_with_a_scrape_of_several_projects_and_every_family() {
    if !tool_available("promtool") {
        return;
    }
    let text = scrape_with_every_family().await;
    let said = promtool_check_metrics(&text);
    assert!(said.trim().is_empty(), "promtool has remarks: {said}");
}

/// A scrape of two projects polled with `--storage.path` whose state was saved, so that every
/// family is present (asserted): what promtool lints and the docs' metrics table is made of.
pub async fn scrape_with_every_family() -> String {
    let scratch = scratch_dir("every-family");
    let dir = scratch.path();
    let (a, b) = (
        project_sim("pro-a", 3_000, 21).await,
        project_sim("pro-b", 2_000, 22).await,
    );
    let path = dir.join("projects.yml");
    let yaml = projects_yaml(dir, &[("pro-a", &a), ("pro-b", &b)]);
    std::fs::write(&path, yaml).expect("config file");
    let mut config = file_config(path);
    config.storage = Some(Storage {
        dir: dir.join("state"),
        save_interval: Duration::from_secs(300),
    });
    let app = spawn_app(config).await;
    for id in ["pro-a", "pro-b"] {
        let (store, poller) = app.project(id);
        poller.poll_once().await.expect("poll");
        eventually(Duration::from_secs(30), "the state saved", || async {
            store
                .render()
                .contains("corbado_exporter_state_last_save_timestamp_seconds{")
        })
        .await;
    }
    // Each project keeps its own state file.
    for id in ["pro-a", "pro-b"] {
        let file = corbado_exporter::storage::path_for(&dir.join("state"), id);
        assert!(file.is_file(), "{} is missing", file.display());
    }
    let text = app.scrape().await;
    for family in FAMILIES.iter().chain(&PROCESS_FAMILIES) {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} is missing from the scrape"
        );
    }
    for id in ["pro-a", "pro-b"] {
        assert!(text.contains(&format!("corbado_up{{project_id=\"{id}\"}} 1")));
    }
    text
}

/// What `promtool check metrics` says about `text` (nothing when it finds nothing wrong).
fn promtool_check_metrics(text: &str) -> String {
    let output = run_with_input("promtool", &["check", "metrics"], text);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
