//! The exact `/metrics` text for a fixed state: the session gauges of a fixed `Summary`, the
//! whole exposition of a project with the exporter's own series at fixed values, the pages a
//! scrape gets of two projects (the text format, and OpenMetrics when `Accept` prefers it, both in
//! `tests/golden/`), and the process families in both formats with their values masked.
//! Dashboards and alert rules depend on these names, labels and HELP texts: a change here must be
//! deliberate.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::aggregate::{parse_windows, StatusCounts, Summary, UserCount};
use corbado_exporter::metrics::{
    render_sessions, ExporterMetrics, InstanceMetrics, PageOptions, UserLabels,
};
use corbado_exporter::poller::{PollMethod, ResyncReason};
use corbado_exporter::published::Published;
use corbado_exporter::server::{router, Limits, Paths};
use corbado_exporter::snapshot::Store;
use corbado_exporter::web_config::LiveWebConfig;

use crate::helpers::serve_on_loopback;

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

/// The exporter's own series of [`fixed_store`] for `pro-golden`, which the whole exposition puts before the
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
# HELP corbado_exporter_resyncs_total Full re-pages of the active sessions by reason: initial (nothing usable held), mismatch (differences too wide to locate; paced within 100 requests a minute). scheduled and error stay 0: --poll.resync-interval is kept by a rolling re-page, and a failed change query holds the watermark.
# TYPE corbado_exporter_resyncs_total counter
corbado_exporter_resyncs_total{reason="error",project_id="pro-golden"} 0
corbado_exporter_resyncs_total{reason="initial",project_id="pro-golden"} 1
corbado_exporter_resyncs_total{reason="mismatch",project_id="pro-golden"} 0
corbado_exporter_resyncs_total{reason="scheduled",project_id="pro-golden"} 0
# HELP corbado_exporter_strategy_fallbacks_total Polls of the auto strategy whose filter check failed, so that they scanned instead.
# TYPE corbado_exporter_strategy_fallbacks_total counter
corbado_exporter_strategy_fallbacks_total{project_id="pro-golden"} 1
# HELP corbado_sessions_created_total Sessions this exporter saw created, any status. Only with a kept active set (incremental, auto). Counted by the poll after their creation; a poll that re-pages every active session instead of following the changes counts only those still active.
# TYPE corbado_sessions_created_total counter
corbado_sessions_created_total{project_id="pro-golden"} 11
# HELP corbado_sessions_ended_total Active sessions this exporter saw end, by the status they ended in; status="deleted" for active sessions that left the list altogether. Only with a kept active set (incremental, auto). Counted when a poll sees it, so a poll after an outage counts the whole outage at once; a session that began and ended between two polls is not counted; one that a repair found gone is looked up by its creation second, a few seconds a poll, so a mass ending seen only by repairs is counted over some polls; a held session that passed its expiry and left the active list unseen counts as expired.
# TYPE corbado_sessions_ended_total counter
corbado_sessions_ended_total{status="deleted",project_id="pro-golden"} 1
corbado_sessions_ended_total{status="expired",project_id="pro-golden"} 3
corbado_sessions_ended_total{status="inactivity_reached",project_id="pro-golden"} 0
corbado_sessions_ended_total{status="logged_out",project_id="pro-golden"} 4
corbado_sessions_ended_total{status="revoked",project_id="pro-golden"} 2
corbado_sessions_ended_total{status="unknown",project_id="pro-golden"} 0
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

/// A store of `project_id` as after three polls (one failed) that counted `summary`: every series
/// the alert rules and the dashboard read, with fixed values.
fn fixed_store(project_id: &str, summary: Summary) -> Store {
    let metrics = ExporterMetrics::new(project_id, &PollMethod::LABELS, &ResyncReason::LABELS)
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
    // An incremental project: what its kept set saw begin and end.
    metrics.keep_active_set();
    metrics.sessions_created.inc_by(11);
    for (status, ended) in [
        ("logged_out", 4),
        ("expired", 3),
        ("revoked", 2),
        ("deleted", 1),
    ] {
        metrics
            .sessions_ended
            .with_label_values(&[status])
            .inc_by(ended);
    }
    // The set holds what the counts call active, as after a complete sync.
    metrics.set_active_set(summary.statuses.active);
    metrics.api_requests.with_label_values(&["200"]).inc_by(36);
    metrics.api_requests.with_label_values(&["error"]).inc();
    for seconds in [0.0625, 0.25, 0.5] {
        metrics.api_request_duration.observe(seconds);
    }
    let windows = parse_windows("15m,1h,24h").expect("valid");
    let store = Store::new(
        project_id,
        windows,
        Duration::from_secs(300),
        metrics,
        UserLabels::default(),
        crate::helpers::journal(),
    );
    store
        .publish(summary, 1_795_626_000_000)
        .expect("publishes");
    store
}

#[test]
fn the_whole_exposition_renders_exactly_as_pinned() {
    let expected = EXPORTER_SERIES.replace("REVISION", corbado_exporter::REVISION) + GOLDEN;
    assert_eq!(fixed_store("pro-golden", summary()).render(), expected);
}

/// A second project's counts, unlike the first's in every family, and with no top-k users
/// (as with `--per-user.top-k 0`): a family that only one project has must still merge.
fn second_summary() -> Summary {
    Summary {
        statuses: StatusCounts {
            active: 7,
            logged_out: 5,
            expired: 4,
            inactivity_reached: 3,
            revoked: 2,
            unknown: 0,
        },
        created_in_window: vec![1, 2, 9],
        expiring_in_window: vec![0, 1, 7],
        expired_in_window: vec![1, 1, 4],
        users_with_active_sessions: 5,
        user_active_sessions_max: 3,
        top_users: Vec::new(),
        users_by_active_sessions: vec![3, 4, 5, 5, 5, 5, 5, 5, 5],
        user_active_sessions_sum: 7,
    }
}

/// An instance (shard 0 of 1, configured at a fixed time) polling `pro-golden` and `pro-second`
/// at fixed values; and the Unix seconds within which its stores were made, which their
/// OpenMetrics `_created` samples say (the one value no fixed input sets). With
/// `--web.enable-created-samples`, so that the `_created` lines are pinned too, and without the
/// process metrics, whose values no input fixes (their own golden test masks them).
fn two_projects() -> (Arc<Published>, RangeInclusive<f64>) {
    let instance = InstanceMetrics::new(0, 1).expect("instance metrics");
    instance.record_reload(true, 1_795_625_000.0);
    let page = PageOptions {
        process_metrics: false,
        created_samples: true,
    };
    let published = Arc::new(Published::new(instance).with_page(page));
    let before = unix_seconds();
    // Out of order on purpose: the page sorts projects by ID.
    let stores = vec![
        Arc::new(fixed_store("pro-second", second_summary())),
        Arc::new(fixed_store("pro-golden", summary())),
    ];
    let made = before..=unix_seconds();
    published.set_stores(stores);
    (published, made)
}

fn unix_seconds() -> f64 {
    corbado_exporter::clock::now_ms() as f64 / 1000.0
}

/// `GET /metrics` of `published` with `accept`, through the exporter's own router and listener:
/// the response's `Content-Type` and body.
async fn scrape(published: Arc<Published>, accept: &str) -> (String, String) {
    let web = LiveWebConfig::load(None).expect("no web config");
    let routes = router(
        published,
        &Paths::root("/metrics"),
        Arc::clone(&web),
        &Limits::default(),
        None,
    );
    let (address, shutdown) = serve_on_loopback(routes, web).await;
    let _stop = shutdown.drop_guard();
    let response = reqwest::Client::new()
        .get(format!("http://{address}/metrics"))
        .header("Accept", accept)
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    (content_type, response.text().await.expect("body"))
}

/// `text` with the build's git revision written as `REVISION`, as the golden files hold it.
fn revision_pinned(text: &str) -> String {
    text.replace(
        &format!("revision=\"{}\"", corbado_exporter::REVISION),
        "revision=\"REVISION\"",
    )
}

/// `text` with the value of each `_created` sample written as `CREATED`, once it is checked to
/// lie in `made`: when the store began counting.
fn created_pinned(text: &str, made: &RangeInclusive<f64>) -> String {
    let mut pinned = String::with_capacity(text.len());
    for line in text.lines() {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        match line.rsplit_once(' ') {
            Some((series, value)) if !line.starts_with('#') && name.ends_with("_created") => {
                let seconds: f64 = value.parse().expect("a number");
                assert!(made.contains(&seconds), "{line}: not within {made:?}");
                pinned.push_str(series);
                pinned.push_str(" CREATED");
            }
            _ => pinned.push_str(line),
        }
        pinned.push('\n');
    }
    pinned
}

/// Asserts that `actual` is the golden file `tests/golden/<name>`. After a deliberate change,
/// `UPDATE_GOLDEN=1 cargo test --test it golden` rewrites the files instead; review their diff.
fn assert_golden(name: &str, actual: &str) {
    let path: PathBuf = crate::helpers::repo(&format!("tests/golden/{name}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if actual == expected {
        return;
    }
    // The first line that differs, rather than two pages of text to compare by eye.
    let (pinned, now): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    let at = pinned
        .iter()
        .zip(&now)
        .position(|(p, n)| p != n)
        .unwrap_or(pinned.len().min(now.len()));
    panic!(
        "{name} differs from line {}:\n  pinned: {:?}\n  now:    {:?}\nthe page now:\n{actual}\n\
         if the change is deliberate, rerun with UPDATE_GOLDEN=1 and review the diff",
        at + 1,
        pinned.get(at),
        now.get(at),
    );
}

#[tokio::test]
async fn a_scrape_of_two_projects_gets_exactly_the_pinned_text() {
    let (published, _) = two_projects();
    let (content_type, text) = scrape(published, "text/plain;version=0.0.4").await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_golden("two-projects.txt", &revision_pinned(&text));
}

/// The `_created` samples are pinned as they are now, every counter and histogram's; whether
/// they stay is for a later change to decide (by updating this file).
#[tokio::test]
async fn a_scrape_that_prefers_openmetrics_gets_exactly_the_pinned_page() {
    let (published, made) = two_projects();
    let (content_type, text) =
        scrape(published, "application/openmetrics-text;version=1.0.0").await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let pinned = created_pinned(&revision_pinned(&text), &made);
    assert_golden("two-projects.openmetrics.txt", &pinned);
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
