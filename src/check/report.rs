//! How `check` prints what it found: a table per project for people, or one JSON document for
//! scripts (`--output json`).

use std::fmt::Write as _;

use serde::Serialize;

use super::ProjectCheck;

/// The JSON document: every project, and whether all of them can be polled.
#[derive(Serialize)]
struct Document<'a> {
    pollable: bool,
    projects: &'a [ProjectCheck],
}

/// Whether every project can be polled (the exit status).
pub fn all_pollable(checks: &[ProjectCheck]) -> bool {
    checks.iter().all(|c| c.pollable)
}

pub fn json(checks: &[ProjectCheck]) -> String {
    let document = Document {
        pollable: all_pollable(checks),
        projects: checks,
    };
    serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The report for people.
pub fn table(checks: &[ProjectCheck]) -> String {
    let mut out = String::new();
    if checks.is_empty() {
        out.push_str("No project to check (none falls to this --shard).\n");
    }
    for check in checks {
        project(&mut out, check);
    }
    let polled = checks.iter().filter(|c| c.pollable).count();
    let _ = writeln!(
        out,
        "{polled} of {} project(s) can be polled as configured.",
        checks.len()
    );
    out
}

fn project(out: &mut String, check: &ProjectCheck) {
    let _ = writeln!(out, "Project {}", check.project_id);
    line(out, "credentials", check.credentials);
    let filters = match check.filters_honoured {
        Some(true) => "honoured (totals add up, filtered pages match their filters)",
        Some(false) => "NOT honoured",
        None => "not checked",
    };
    line(out, "filters", filters);
    if let Some(counts) = &check.counts {
        counted(out, counts);
    }
    if let Some(costs) = &check.costs {
        cost_table(out, costs);
    }
    for note in &check.notes {
        line(out, "note", note);
    }
    line(out, "pollable", if check.pollable { "yes" } else { "NO" });
    line(
        out,
        "this check's cost",
        &format!("{} request(s)", check.requests_made),
    );
    out.push('\n');
}

/// One `name value` line of a project's report.
fn line(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "  {name:<20} {value}");
}

/// The counts: sessions by status, the windows, the active sessions, the changes.
fn counted(out: &mut String, counts: &super::Counted) {
    let statuses: Vec<String> = counts
        .by_status
        .iter()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    line(
        out,
        "sessions",
        &format!("{} ({})", counts.total, statuses.join(", ")),
    );
    for (name, pick) in [
        ("created in", 0usize),
        ("expiring in", 1),
        ("expired in", 2),
    ] {
        let values: Vec<String> = counts
            .windows
            .iter()
            .map(|w| {
                let n = [w.created, w.expiring, w.expired][pick];
                format!("{} {n}", w.window)
            })
            .collect();
        line(out, name, &values.join(", "));
    }
    line(
        out,
        "active sessions",
        &format!(
            "{} held by {} users (the most one user holds: {})",
            counts.active_sessions,
            counts.users_with_active_sessions,
            counts.user_active_sessions_max
        ),
    );
    line(
        out,
        "changed per interval",
        &format!(
            "{} updated, {} created in the last --poll.interval",
            counts.updated_per_interval, counts.created_per_interval
        ),
    );
}

/// What each strategy costs a poll, as a table.
fn cost_table(out: &mut String, costs: &super::Costs) {
    let _ = writeln!(
        out,
        "  cost per poll at {}/s ({}):",
        costs.budget_per_second, costs.budget_from
    );
    let _ = writeln!(
        out,
        "    {:<12} {:>9} {:>10} {:>9} {:>19} {:>17}",
        "strategy", "requests", "time", "re-page", "repair per session", "shortest interval"
    );
    for cost in &costs.strategies {
        let shortest = format!("{}s", cost.shortest_interval_seconds);
        let exact = if cost.exact { "" } else { "  (inexact here)" };
        let _ = writeln!(
            out,
            "    {:<12} {:>9} {:>9.1}s {:>9} {:>19} {:>17}{exact}",
            cost.strategy,
            cost.requests_per_poll,
            cost.seconds_per_poll,
            cost.repage_requests_per_poll,
            cost.repair_requests_per_session,
            shortest
        );
    }
}
