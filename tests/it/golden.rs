//! The exact `/metrics` text for a fixed `Summary`. Dashboards and alert rules depend on these
//! names, labels and HELP texts: a change here must be deliberate.

use corbado_exporter::aggregate::parse_windows;
use corbado_exporter::aggregate::{StatusCounts, Summary, UserCount};
use corbado_exporter::metrics::render_sessions;

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
# HELP corbado_user_active_sessions Active sessions of the top-k users by active sessions (ties by user ID). As of the last successful poll.
# TYPE corbado_user_active_sessions gauge
corbado_user_active_sessions{user_id="usr-1",project_id="pro-golden"} 12
corbado_user_active_sessions{user_id="usr-2",project_id="pro-golden"} 12
# HELP corbado_user_active_sessions_max The most active sessions one user holds. As of the last successful poll.
# TYPE corbado_user_active_sessions_max gauge
corbado_user_active_sessions_max{project_id="pro-golden"} 12
# HELP corbado_users_with_active_sessions Distinct users holding at least one active session. As of the last successful poll.
# TYPE corbado_users_with_active_sessions gauge
corbado_users_with_active_sessions{project_id="pro-golden"} 57
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
    }
}

#[test]
fn session_gauges_render_exactly_as_pinned() {
    let windows = parse_windows("15m,1h,24h").expect("valid").0;
    let text = render_sessions(&summary(), "pro-golden", &windows).expect("renders");
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
    let text = render_sessions(&summary, "pro-golden", &windows).expect("renders");
    assert!(!text.contains("corbado_user_active_sessions{"));
    assert!(text.contains("corbado_user_active_sessions_max{project_id=\"pro-golden\"} 12"));
    assert!(!text.contains("window=\"1h\""));
}
