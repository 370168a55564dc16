//! The exact `/metrics` text for a fixed state: the session gauges of a fixed `Summary`, the
//! whole exposition with the exporter's own series at fixed values, and the process families in
//! both formats with their values masked. Dashboards and alert rules depend on these names,
//! labels and HELP texts: a change here must be deliberate.

use std::time::Duration;

use corbado_exporter::aggregate::{parse_windows, StatusCounts, Summary, UserCount};
use corbado_exporter::metrics::{render_sessions, ExporterMetrics, UserLabels};
use corbado_exporter::poller::{PollMethod, ResyncReason};
use corbado_exporter::snapshot::Store;

const GOLDEN: &str = r#"# HELP corbado_sessions Sessions per status; statuses outside the documented enum count as unknown. As of the last successful poll.
# TYPE corbado_sessions gauge
corbado_sessions{status="active",project_id="pro-golden"} 120
corbado_sessions{status="expired",project_id="pro-golden"} 300
corbado_sessions{status="inactivity_reached",project_id="pro-golden"} 40
corbado_sessions{status="logged_out",project_id="pro-golden"} 250
corbado_sessions{status="revoked",project_id="pro-golden"} 9
corbado_sessions{status="unknown",project_id="pro-golden"} 1
# HELP corbado_sessions_created_in_window Sessions of any status created within the last window. As of the last successful poll.
# TYPE corbado_sessions_created_in_window gauge
corbado_sessions_created_in_window{window="15m",project_id="pro-golden"} 3
corbado_sessions_created_in_window{window="1h",project_id="pro-golden"} 11
corbado_sessions_created_in_window{window="24h",project_id="pro-golden"} 150
# HELP corbado_sessions_expired_in_window Expired sessions whose expiry lies within the last window. As of the last successful poll.
# TYPE corbado_sessions_expired_in_window gauge
corbado_sessions_expired_in_window{window="15m",project_id="pro-golden"} 0
corbado_sessions_expired_in_window{window="1h",project_id="pro-golden"} 4
corbado_sessions_expired_in_window{window="24h",project_id="pro-golden"} 77
# HELP corbado_sessions_expiring_in_window Active sessions that expire within the next window. As of the last successful poll.
# TYPE corbado_sessions_expiring_in_window gauge
corbado_sessions_expiring_in_window{window="15m",project_id="pro-golden"} 2
corbado_sessions_expiring_in_window{window="1h",project_id="pro-golden"} 8
corbado_sessions_expiring_in_window{window="24h",project_id="pro-golden"} 120
# HELP corbado_active_sessions_per_user One observation per user holding an active session: its number of active sessions (_count is corbado_users_with_active_sessions, _sum the active sessions they hold). As of the last complete active set (corbado_exporter_active_set_timestamp_seconds).
# TYPE corbado_active_sessions_per_user histogram
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="1"} 30
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="2"} 40
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="3"} 45
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="5"} 50
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="10"} 55
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="20"} 57
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="50"} 57
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="100"} 57
corbado_active_sessions_per_user_bucket{project_id="pro-golden",le="+Inf"} 57
corbado_active_sessions_per_user_sum{project_id="pro-golden"} 144
corbado_active_sessions_per_user_count{project_id="pro-golden"} 57
# HELP corbado_user_active_sessions Active sessions of the top-k users by active sessions (ties by user ID); IDs longer than --per-user.max-id-length as sha256:<16 hex digits>, an empty ID as (empty). As of the last complete active set (corbado_exporter_active_set_timestamp_seconds).
# TYPE corbado_user_active_sessions gauge
corbado_user_active_sessions{user_id="usr-1",project_id="pro-golden"} 12
corbado_user_active_sessions{user_id="usr-2",project_id="pro-golden"} 12
# HELP corbado_user_active_sessions_max The most active sessions one user holds. As of the last complete active set (corbado_exporter_active_set_timestamp_seconds).
# TYPE corbado_user_active_sessions_max gauge
corbado_user_active_sessions_max{project_id="pro-golden"} 12
# HELP corbado_users_with_active_sessions Distinct users holding at least one active session. As of the last complete active set (corbado_exporter_active_set_timestamp_seconds).
# TYPE corbado_users_with_active_sessions gauge
corbado_users_with_active_sessions{project_id="pro-golden"} 57
"#;

/// The exporter's own series of [`fixed_store`], which the whole exposition puts before the
/// session gauges. `REVISION` stands for the git revision the test binary was built from.
const EXPORTER_SERIES: &str = r#"# HELP corbado_exporter_active_set_sessions Active sessions held between polls (incremental and auto).
# TYPE corbado_exporter_active_set_sessions gauge
corbado_exporter_active_set_sessions{project_id="pro-golden"} 120
# HELP corbado_exporter_active_set_timestamp_seconds Unix time of the poll whose active sessions the per-user gauges show.
# TYPE corbado_exporter_active_set_timestamp_seconds gauge
corbado_exporter_active_set_timestamp_seconds{project_id="pro-golden"} 1795626000
# HELP corbado_exporter_api_request_duration_seconds Latency of Corbado API requests, each attempt on its own.
# TYPE corbado_exporter_api_request_duration_seconds histogram
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="0.01"} 0
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="0.025"} 0
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="0.05"} 0
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="0.1"} 1
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="0.25"} 2
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="0.5"} 3
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="1"} 3
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="2.5"} 3
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="5"} 3
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="10"} 3
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="30"} 3
corbado_exporter_api_request_duration_seconds_bucket{project_id="pro-golden",le="+Inf"} 3
corbado_exporter_api_request_duration_seconds_sum{project_id="pro-golden"} 0.8125
corbado_exporter_api_request_duration_seconds_count{project_id="pro-golden"} 3
# HELP corbado_exporter_api_requests_total Corbado API responses by HTTP status code; code="error" for timeouts and transport failures. Retries count.
# TYPE corbado_exporter_api_requests_total counter
corbado_exporter_api_requests_total{code="200",project_id="pro-golden"} 36
corbado_exporter_api_requests_total{code="error",project_id="pro-golden"} 1
# HELP corbado_exporter_build_info Version and git revision of the exporter; always 1.
# TYPE corbado_exporter_build_info gauge
corbado_exporter_build_info{revision="REVISION",version="0.1.0",project_id="pro-golden"} 1
# HELP corbado_exporter_last_poll_duration_seconds Wall time of the last poll, successful or not.
# TYPE corbado_exporter_last_poll_duration_seconds gauge
corbado_exporter_last_poll_duration_seconds{project_id="pro-golden"} 1.25
# HELP corbado_exporter_last_poll_requests API requests the last poll made, retries included.
# TYPE corbado_exporter_last_poll_requests gauge
corbado_exporter_last_poll_requests{project_id="pro-golden"} 37
# HELP corbado_exporter_last_poll_strategy 1 for the strategy the last poll used (auto resolves to incremental or scan).
# TYPE corbado_exporter_last_poll_strategy gauge
corbado_exporter_last_poll_strategy{strategy="filter",project_id="pro-golden"} 0
corbado_exporter_last_poll_strategy{strategy="incremental",project_id="pro-golden"} 1
corbado_exporter_last_poll_strategy{strategy="scan",project_id="pro-golden"} 0
# HELP corbado_exporter_last_poll_success_timestamp_seconds Unix time of the last successful poll (its start, in whole seconds).
# TYPE corbado_exporter_last_poll_success_timestamp_seconds gauge
corbado_exporter_last_poll_success_timestamp_seconds{project_id="pro-golden"} 1795626000
# HELP corbado_exporter_poll_failures_total Polls that failed.
# TYPE corbado_exporter_poll_failures_total counter
corbado_exporter_poll_failures_total{project_id="pro-golden"} 1
# HELP corbado_exporter_polls_total Polls started.
# TYPE corbado_exporter_polls_total counter
corbado_exporter_polls_total{project_id="pro-golden"} 3
# HELP corbado_exporter_repairs_total Created-time ranges of the active set re-paged alone, by reason: verify (the rolling check found the range's count changed), mismatch (a failed proof, located by counting ranges).
# TYPE corbado_exporter_repairs_total counter
corbado_exporter_repairs_total{reason="mismatch",project_id="pro-golden"} 2
corbado_exporter_repairs_total{reason="verify",project_id="pro-golden"} 1
# HELP corbado_exporter_resyncs_total Full re-pages of the active sessions by reason: initial, scheduled (--poll.resync-interval), mismatch (the set failed its proof or check and locating the difference would cost more), error (a change query failed).
# TYPE corbado_exporter_resyncs_total counter
corbado_exporter_resyncs_total{reason="error",project_id="pro-golden"} 0
corbado_exporter_resyncs_total{reason="initial",project_id="pro-golden"} 1
corbado_exporter_resyncs_total{reason="mismatch",project_id="pro-golden"} 0
corbado_exporter_resyncs_total{reason="scheduled",project_id="pro-golden"} 0
# HELP corbado_exporter_strategy_fallbacks_total Polls of the auto strategy whose filter check failed, so that they scanned instead.
# TYPE corbado_exporter_strategy_fallbacks_total counter
corbado_exporter_strategy_fallbacks_total{project_id="pro-golden"} 1
# HELP corbado_up 1 if the last poll of the Corbado API succeeded, else 0.
# TYPE corbado_up gauge
corbado_up{project_id="pro-golden"} 1
"#;

fn summary() -> Summary {
    Summary {
        statuses: StatusCounts {
            active: 120,
            logged_out: 250,
            expired: 300,
            inactivity_reached: 40,
            revoked: 9,
            unknown: 1,
        },
        created_in_window: vec![3, 11, 150],
        expiring_in_window: vec![2, 8, 120],
        expired_in_window: vec![0, 4, 77],
        users_with_active_sessions: 57,
        user_active_sessions_max: 12,
        top_users: vec![
            UserCount {
                user_id: "usr-1".into(),
                active_sessions: 12,
            },
            UserCount {
                user_id: "usr-2".into(),
                active_sessions: 12,
            },
        ],
        users_by_active_sessions: vec![30, 40, 45, 50, 55, 57, 57, 57, 57],
        user_active_sessions_sum: 144,
    }
}

#[test]
fn session_gauges_render_exactly_as_pinned() {
    let windows = parse_windows("15m,1h,24h").expect("valid").0;
    let text = render_sessions(&summary(), "pro-golden", &windows, &UserLabels::default())
        .expect("renders");
    assert_eq!(text, GOLDEN);
}

#[test]
fn top_k_of_zero_drops_the_per_user_family() {
    let windows = parse_windows("15m").expect("valid").0;
    let mut summary = summary();
    summary.top_users.clear();
    summary.created_in_window.truncate(1);
    summary.expiring_in_window.truncate(1);
    summary.expired_in_window.truncate(1);
    let text =
        render_sessions(&summary, "pro-golden", &windows, &UserLabels::default()).expect("renders");
    assert!(!text.contains("corbado_user_active_sessions{"));
    assert!(text.contains("corbado_user_active_sessions_max{project_id=\"pro-golden\"} 12"));
    assert!(!text.contains("window=\"1h\""));
}

/// A store as after three polls (one failed): every series the alert rules and the dashboard
/// read, with fixed values.
fn fixed_store() -> Store {
    let metrics = ExporterMetrics::new("pro-golden", &PollMethod::LABELS, &ResyncReason::LABELS)
        .expect("metrics");
    metrics.polls.inc_by(3);
    metrics.poll_failures.inc();
    metrics.strategy_fallbacks.inc();
    metrics.up.set(1);
    metrics.last_poll_duration.set(1.25);
    metrics.last_poll_requests.set(37);
    metrics.set_strategy(PollMethod::Incremental.as_str());
    metrics.resyncs.with_label_values(&["initial"]).inc();
    metrics.repairs.with_label_values(&["mismatch"]).inc_by(2);
    metrics.repairs.with_label_values(&["verify"]).inc();
    metrics.set_active_set(120);
    metrics.api_requests.with_label_values(&["200"]).inc_by(36);
    metrics.api_requests.with_label_values(&["error"]).inc();
    for seconds in [0.0625, 0.25, 0.5] {
        metrics.api_request_duration.observe(seconds);
    }
    let windows = parse_windows("15m,1h,24h").expect("valid");
    let store = Store::new(
        "pro-golden",
        windows,
        Duration::from_secs(300),
        metrics,
        UserLabels::default(),
        crate::helpers::journal(),
    );
    store
        .publish(summary(), 1_795_626_000_000)
        .expect("publishes");
    store
}

#[test]
fn the_whole_exposition_renders_exactly_as_pinned() {
    let expected = EXPORTER_SERIES.replace("REVISION", corbado_exporter::REVISION) + GOLDEN;
    assert_eq!(fixed_store().render(), expected);
}

/// The process families as both formats write them, values masked (they are this test
/// process's own): the names, types, HELP and units client_golang gives them.
const PROCESS_TEXT: &str =
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total V
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds V
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds V
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes V
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds V
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes V
";

const PROCESS_OPENMETRICS: &str =
    "# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
process_cpu_seconds_total V
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds V
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds V
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
# UNIT process_resident_memory_bytes bytes
process_resident_memory_bytes V
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
# UNIT process_start_time_seconds seconds
process_start_time_seconds V
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
# UNIT process_virtual_memory_bytes bytes
process_virtual_memory_bytes V
# EOF
";

/// The page from its first process family on, each sample's value as `V`.
fn process_part_masked(page: &[u8]) -> String {
    let page = std::str::from_utf8(page).expect("utf-8");
    let start = page.find("# HELP process_").expect("process families");
    page[start..]
        .lines()
        .map(|line| match line.rsplit_once(' ') {
            Some((series, _)) if !line.starts_with('#') => format!("{series} V\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn the_process_families_render_exactly_as_pinned_in_both_formats() {
    use corbado_exporter::metrics::InstanceMetrics;
    use corbado_exporter::published::Published;
    let published = Published::new(InstanceMetrics::new(0, 1).expect("instance"));
    let text = published.exposition();
    assert_eq!(process_part_masked(&text.plain), PROCESS_TEXT);
    let openmetrics = published.openmetrics();
    assert_eq!(process_part_masked(&openmetrics.plain), PROCESS_OPENMETRICS);
}
