//! A simulated week (or `--days N`) of one project replayed through a real Prometheus, to see
//! how the alerts behave: every injected incident must fire its alert within the alert's `for`
//! plus ten minutes, nothing may fire outside the incidents (the busiest hour, the catch-up after
//! a restart and after an outage included), and no incident may fire an alert unrelated to it.
//!
//! The simulator runs on its own clock with a working week's rhythm; the exporter's poller is
//! driven a minute at a time (a scrape a minute, as the promtool tests assume); every page is
//! written as OpenMetrics with its timestamp, backfilled with `promtool tsdb create-blocks-from
//! openmetrics`, the recording rules backfilled over it, and each alert of
//! `prometheus/alerts.yml` evaluated as a range query over the run, its `for` applied here.
//! Prints a table per alert and per incident; exits non-zero on a missed or late incident, a
//! false alert or an unrelated one.
//!
//! Run: `cargo bench --bench backtest` (a week), `-- --days 1` (a day; `.ci/run` does that).
//! Needs `promtool` and `prometheus` (Debian: `apt-get install prometheus`).

mod common;
#[path = "backtest/prom.rs"]
mod prom;
#[path = "backtest/replay.rs"]
mod replay;
#[path = "backtest/scenario.rs"]
mod scenario;

use std::path::Path;
use std::time::Instant;

use prom::{Prometheus, Rule};
use scenario::{Incident, DAY};

/// When an alert started firing (minutes from the start of the run).
struct Firing {
    alert: String,
    minute: u32,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let days = args
        .iter()
        .position(|a| a == "--days")
        .and_then(|i| args.get(i + 1))
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(7);
    for tool in ["promtool", "prometheus"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{tool} is missing (Debian: apt-get install prometheus)"
            );
            println!("SKIPPED: {tool} is missing (Debian: apt-get install prometheus)");
            return;
        }
    }
    let started = Instant::now();
    let work = common::scratch_dir("backtest");
    let incidents = scenario::incidents(days);
    let start_s = monday_before(days);
    let end_s = start_s + i64::from(days * DAY) * 60;
    generate(days, start_s, work.path(), &incidents);
    println!("generated in {:.0?}", started.elapsed());
    let firings = evaluate(work.path(), (start_s, end_s));
    let failures = report(&firings, &incidents, days);
    println!("\nthe backtest took {:.0?}", started.elapsed());
    assert!(
        failures == 0,
        "{failures} alerts missed, late, false or unrelated"
    );
}

/// 00:00 UTC of the Monday at least `days + 1` days ago: the run is over before Prometheus'
/// now, and starts a working week.
fn monday_before(days: u32) -> i64 {
    let now_s = corbado_exporter::clock::now_whole_seconds_ms() / 1000;
    let mut day = now_s / 86_400 - i64::from(days) - 1;
    // 1970-01-01 was a Thursday: day d is a Monday when (d + 3) % 7 == 0.
    day -= (day + 3).rem_euclid(7);
    day * 86_400
}

/// Replays the run into `work/scrapes.om` and backfills it into `work/tsdb`.
fn generate(days: u32, start_s: i64, work: &Path, incidents: &[Incident]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // The exporter's backoffs and rate limit wait on tokio's clock: paused, they take no
        // real time, while the simulator and the poller share the run's manual clock.
        .start_paused(true)
        .build()
        .expect("runtime");
    let scrapes = work.join("scrapes.om");
    let file = std::fs::File::create(&scrapes).expect("scrapes file");
    let state = work.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    runtime.block_on(async {
        let mut replay = replay::Replay::new(start_s * 1000, &state, file).await;
        for minute in 0..days * DAY {
            replay.minute(minute, incidents).await.expect("written");
        }
        println!("{} polls, {} failed", replay.polls, replay.failed);
        replay.finish().expect("written");
    });
    let tsdb = work.join("tsdb");
    let (om, db) = (scrapes.display().to_string(), tsdb.display().to_string());
    prom::promtool(&["tsdb", "create-blocks-from", "openmetrics", &om, &db]);
    let _ = std::fs::remove_file(scrapes);
}

/// Backfills the recording rules, then evaluates every alert over `span`.
fn evaluate(work: &Path, span: (i64, i64)) -> Vec<Firing> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recording = prom::read_rules(&repo.join("prometheus/recording.yml"));
    let alerts = prom::read_rules(&repo.join("prometheus/alerts.yml"));
    let tsdb = work.join("tsdb");
    runtime.block_on(async {
        let prometheus = Prometheus::start(&tsdb, work).await;
        let first = repo.join("prometheus/recording.yml");
        prom::backfill_rules(&prometheus.url, &first, span, &tsdb, work.join("rules-1"));
        prometheus.stop();
        let second = work.join("second-level.yml");
        prom::write_rule_file(&second, &prom::second_level(&recording));
        let prometheus = Prometheus::start(&tsdb, work).await;
        prom::backfill_rules(&prometheus.url, &second, span, &tsdb, work.join("rules-2"));
        prometheus.stop();
        let prometheus = Prometheus::start(&tsdb, work).await;
        let mut firings = Vec::new();
        for alert in &alerts {
            firings.extend(fire(&prometheus, alert, span).await);
        }
        prometheus.stop();
        firings
    })
}

/// When `alert` fired over `span`: each run of consecutive evaluations at which its expression
/// held, once it had held for the alert's `for`.
async fn fire(prometheus: &Prometheus, alert: &Rule, span: (i64, i64)) -> Vec<Firing> {
    let name = alert.alert.clone().unwrap_or_default();
    let hold = i64::from(prom::minutes(alert.for_.as_deref().unwrap_or("0m"))) * 60;
    let mut firings = Vec::new();
    for series in prometheus.range(&alert.expr, span, 60).await {
        let mut run_start: Option<i64> = None;
        let mut previous = i64::MIN;
        let mut fired = false;
        for &t in &series.times {
            if t != previous + 60 {
                (run_start, fired) = (Some(t), false);
            }
            previous = t;
            let active_since = run_start.unwrap_or(t);
            if !fired && t - active_since >= hold {
                fired = true;
                let minute = ((t - span.0) / 60) as u32;
                firings.push(Firing {
                    alert: name.clone(),
                    minute,
                });
            }
        }
    }
    firings
}

/// Prints the tables; returns how many targets were missed.
fn report(firings: &[Firing], incidents: &[Incident], days: u32) -> usize {
    let alerts: Vec<String> = {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let rules = prom::read_rules(&repo.join("prometheus/alerts.yml"));
        rules
            .into_iter()
            .filter_map(|r| r.alert.map(|a| (a, r.for_)))
            .map(|(a, _)| a)
            .collect()
    };
    let fors = for_minutes();
    let mut failures = 0;
    println!("\n## {days} day(s): per incident\n");
    println!("| minute | incident | expected | fired (minutes after the start) | unrelated |");
    println!("|---:|---|---|---|---|");
    for incident in incidents {
        let inside: Vec<&Firing> = firings
            .iter()
            .filter(|f| incident.covers(f.minute))
            .collect();
        let mut fired = Vec::new();
        for expected in incident.kind.alerts() {
            let first = inside
                .iter()
                .filter(|f| f.alert == *expected)
                .map(|f| f.minute)
                .min();
            let limit = fors.get(*expected).copied().unwrap_or(0) + 10;
            match first.map(|m| m - incident.start) {
                Some(after) if after <= limit => fired.push(format!("{expected} {after}")),
                Some(after) => {
                    failures += 1;
                    fired.push(format!("{expected} {after} (LATE: limit {limit})"));
                }
                None => {
                    failures += 1;
                    fired.push(format!("{expected} MISSED"));
                }
            }
        }
        let unrelated: Vec<String> = inside
            .iter()
            .filter(|f| !incident.kind.alerts().contains(&f.alert.as_str()))
            .map(|f| format!("{} at +{}", f.alert, f.minute - incident.start))
            .collect();
        failures += unrelated.len();
        println!(
            "| {} | {} | {} | {} | {} |",
            incident.start,
            incident.kind.name(),
            incident.kind.alerts().join(", "),
            fired.join("; "),
            if unrelated.is_empty() {
                "none".to_owned()
            } else {
                unrelated.join("; ")
            }
        );
    }
    failures + per_alert(&alerts, firings, incidents, days, &fors)
}

/// The table per alert: incidents caught, minutes to fire, false alerts (firings outside every
/// incident); returns the false alerts.
fn per_alert(
    alerts: &[String],
    firings: &[Firing],
    incidents: &[Incident],
    days: u32,
    fors: &std::collections::HashMap<String, u32>,
) -> usize {
    println!("\n## {days} day(s): per alert\n");
    println!("| alert | for | incidents caught | minutes to fire | false alerts |");
    println!("|---|---:|---:|---|---:|");
    let mut false_alerts = 0;
    for alert in alerts {
        let expecting: Vec<&Incident> = incidents
            .iter()
            .filter(|i| i.kind.alerts().contains(&alert.as_str()))
            .collect();
        let mut caught = Vec::new();
        for incident in &expecting {
            let first = firings
                .iter()
                .filter(|f| f.alert == *alert && incident.covers(f.minute))
                .map(|f| f.minute - incident.start)
                .min();
            caught.extend(first);
        }
        let outside: Vec<u32> = firings
            .iter()
            .filter(|f| f.alert == *alert && !incidents.iter().any(|i| i.covers(f.minute)))
            .map(|f| f.minute)
            .collect();
        false_alerts += outside.len();
        let times: Vec<String> = caught.iter().map(u32::to_string).collect();
        let falses = if outside.is_empty() {
            "0".to_owned()
        } else {
            format!("{} (at minutes {outside:?})", outside.len())
        };
        println!(
            "| {alert} | {}m | {}/{} | {} | {falses} |",
            fors.get(alert).copied().unwrap_or(0),
            caught.len(),
            expecting.len(),
            if times.is_empty() {
                "–".to_owned()
            } else {
                times.join(", ")
            },
        );
    }
    false_alerts
}

/// Each alert's `for`, in minutes.
fn for_minutes() -> std::collections::HashMap<String, u32> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    prom::read_rules(&repo.join("prometheus/alerts.yml"))
        .into_iter()
        .filter_map(|r| Some((r.alert?, prom::minutes(r.for_.as_deref().unwrap_or("0m")))))
        .collect()
}
