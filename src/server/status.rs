//! The status page at `/`: per project its state and its last polls, from the journal, the
//! snapshot and the exporter's own series; and links to everything else the exporter serves.
//! Server-rendered, no script; every value from outside (an upstream error) is escaped.

use std::fmt::Write as _;
use std::time::Duration;

use super::html::escape;
use super::Paths;
use crate::corbado::DOCUMENTED_REQUESTS_PER_SECOND;
use crate::journal::{Outcome, PollEntry, KEPT_POLLS};
use crate::published::Published;
use crate::snapshot::Store;

/// Requests Corbado documents per project and hour.
const CORBADO_HOURLY_QUOTA: u64 = (DOCUMENTED_REQUESTS_PER_SECOND * 3600.0) as u64;

/// The page's body.
pub fn body(published: &Published, paths: &Paths) -> String {
    let stores = published.stores();
    let mut out = String::new();
    let instance = &published.instance;
    let _ = write!(
        out,
        "<header>\n<h1>corbado-exporter</h1>\n<p class=\"muted\">version {} ({}), shard {} of \
         {}, {} project(s) polled here; page made {}</p>\n<nav><a href=\"{}\">Metrics</a>\
         <a href=\"{}\">Configuration</a><a href=\"{}\">Logs</a>\
         <a href=\"{}\">Runbook</a><a href=\"{}\">Readiness</a>\
         <a href=\"{}\">Health</a></nav>\n</header>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        escape(crate::REVISION),
        instance.shard_ordinal,
        instance.total_shards,
        stores.len(),
        utc(crate::clock::now_ms()),
        escape(&paths.telemetry_link()),
        escape(&paths.link("/config")),
        escape(&paths.link("/logs")),
        escape(&paths.link("/runbook")),
        escape(&paths.link("/-/ready")),
        escape(&paths.link("/-/healthy")),
    );
    let _ = match published.readiness() {
        Ok(()) => writeln!(out, "<p><span class=\"up\">Ready</span></p>"),
        Err(why) => writeln!(
            out,
            "<p><span class=\"down\">Not ready</span>: {}</p>",
            escape(&why)
        ),
    };
    if stores.is_empty() {
        out.push_str("<p>No project falls to this instance's shard.</p>\n");
    }
    for store in stores.iter() {
        project(&mut out, store);
    }
    out.push_str("</main>\n");
    out
}

/// One project's section: its state, then its last polls.
fn project(out: &mut String, store: &Store) {
    let journal = &store.journal;
    let now = journal.now_ms();
    let polls = journal.polls();
    let up = store.metrics.up.get() == 1;
    let id = escape(&store.project_id);
    let _ = write!(
        out,
        "<section id=\"project-{id}\">\n<h2>{id} <span class=\"{}\">{}</span></h2>\n<dl>\n",
        if up { "up" } else { "down" },
        if up { "up" } else { "down" },
    );
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    fact("Strategy", strategy(store, &polls));
    let snapshot = store.snapshot();
    fact(
        "Last success",
        snapshot
            .as_ref()
            .map_or("never".into(), |s| moment(s.now_ms, now)),
    );
    fact(
        "Last poll",
        polls.first().map_or("none yet".into(), |p| {
            format!("took {}, {} request(s)", seconds(p.duration), p.requests)
        }),
    );
    fact("Active sessions", active(store));
    if store.metrics.keeps_state() {
        fact("Saved state", saved_state(store, now));
    }
    fact("API requests, last hour", budget(store));
    fact(
        "Next poll",
        journal
            .next_poll_ms()
            .map_or("not scheduled".into(), |due| {
                if due > now {
                    format!("in {}", span(due - now))
                } else {
                    "due now (the previous poll is still running)".into()
                }
            }),
    );
    fact(
        "Last error",
        journal.last_error().map_or("none".into(), |(at, why)| {
            format!("{}: <code>{}</code>", moment(at, now), escape(&why))
        }),
    );
    out.push_str("</dl>\n");
    poll_table(out, &polls);
    out.push_str("</section>\n");
}

fn strategy(store: &Store, polls: &[PollEntry]) -> String {
    let configured = store.journal.plan.strategy;
    let used = polls
        .iter()
        .find(|p| p.outcome == Outcome::Succeeded)
        .map(|p| p.strategy);
    match used {
        Some(used) if used != configured => format!("{configured} (the last poll: {used})"),
        _ => configured.to_owned(),
    }
}

fn active(store: &Store) -> String {
    let Some(snapshot) = store.snapshot() else {
        return "not counted yet".into();
    };
    let counted = snapshot.summary.statuses.active;
    let mut text = format!("{} counted", group(counted));
    if matches!(store.journal.plan.strategy, "auto" | "incremental") {
        let held = store.metrics.active_set_sessions.get();
        let _ = write!(text, "; {} held between polls", group(held.max(0) as u64));
    }
    match &snapshot.users {
        Some(users) => {
            let _ = write!(
                text,
                "; per-user gauges from the active set of {}",
                utc(users.now_ms)
            );
        }
        None => text.push_str("; no complete active set yet"),
    }
    text
}

/// Whether the set was resumed from `--storage.path`, and how old the last save is.
fn saved_state(store: &Store, now: i64) -> String {
    let metrics = &store.metrics;
    let mut text = if metrics.state_restored.get() == 1 {
        "resumed from --storage.path at start".to_owned()
    } else {
        "synced afresh at start (nothing usable saved)".to_owned()
    };
    match metrics.state_last_save_ms() {
        Some(at) => {
            let _ = write!(text, "; last saved {}", moment(at, now));
        }
        None => text.push_str("; not saved yet"),
    }
    let failures = metrics.state_save_failures.get();
    if failures > 0 {
        let _ = write!(
            text,
            "; <span class=\"down\">{failures} save(s) failed</span> (see /logs)"
        );
    }
    text
}

fn budget(store: &Store) -> String {
    let journal = &store.journal;
    let used = journal.requests_last_hour();
    let quota = format!(
        "Corbado documents {} an hour per project",
        group(CORBADO_HOURLY_QUOTA)
    );
    match journal.hourly_budget() {
        Some(budget) => format!(
            "{} of the {} that --corbado.max-requests-per-second {} allows ({:.1} %); {quota}",
            group(used),
            group(budget),
            journal.plan.max_requests_per_second,
            used as f64 * 100.0 / budget.max(1) as f64,
        ),
        None => format!("{} (no client-side limit); {quota}", group(used)),
    }
}

fn poll_table(out: &mut String, polls: &[PollEntry]) {
    let _ = writeln!(out, "<h3>Last {KEPT_POLLS} polls</h3>");
    if polls.is_empty() {
        out.push_str("<p class=\"muted\">No poll has ended yet.</p>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table>\n<thead><tr><th>Start (UTC)</th><th>Duration</th>\
         <th>Strategy</th><th>Requests</th><th>Resync or repair</th><th>Outcome</th></tr></thead>\n<tbody>\n",
    );
    for poll in polls {
        let repairs = poll.repairs;
        let mut resync = match (poll.resync, poll.fell_back, repairs.total()) {
            (_, true, _) => "fell back to scan".to_owned(),
            (Some(why), false, _) => format!("resync: {why}"),
            (None, false, 0) => "no".to_owned(),
            (None, false, n) => format!(
                "repaired {n} range{} (verify {}, mismatch {})",
                if n == 1 { "" } else { "s" },
                repairs.verify,
                repairs.mismatch
            ),
        };
        // The rolling re-page's slice (or a paced resync's): what keeps the resync interval.
        if repairs.repaged > 0 {
            let _ = write!(resync, "; re-paged {} sessions", repairs.repaged);
        }
        let outcome = match &poll.outcome {
            Outcome::Succeeded => "<span class=\"up\">ok</span>".to_owned(),
            Outcome::CountsOnly => "counts published; active set syncing".to_owned(),
            Outcome::Failed(why) => {
                format!("<span class=\"down\">failed</span>: {}", escape(why))
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td>{resync}</td><td>{outcome}</td></tr>",
            utc(poll.started_ms),
            seconds(poll.duration),
            poll.strategy,
            poll.requests,
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
}

/// `at` as UTC and as an age: `2026-11-26 10:00:00 (12 s ago)`.
fn moment(at_ms: i64, now_ms: i64) -> String {
    format!("{} ({} ago)", utc(at_ms), span((now_ms - at_ms).max(0)))
}

/// A duration for people: `850 ms`, `4.2 s`.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A span of milliseconds, coarsely: `12 s`, `3 min 4 s`, `2 h 5 min`, `3 d 1 h`.
fn span(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        ..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` in UTC (the proleptic Gregorian calendar, from
/// the count of days since 1970-01-01).
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Shift the epoch to 0000-03-01, so that a leap day ends each 4-, 100- and 400-year cycle.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        // `date -u -d @1795626000`: Wed Nov 25 17:00:00 UTC 2026.
        assert_eq!(utc(1_795_626_000_000), "2026-11-25 17:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(4_107_542_399_000), "2100-02-28 23:59:59");
    }

    #[test]
    fn spans_and_numbers_read_as_people_write_them() {
        assert_eq!(span(12_400), "12 s");
        assert_eq!(span(184_000), "3 min 4 s");
        assert_eq!(span(7_500_000), "2 h 5 min");
        assert_eq!(span(90_000_000), "1 d 1 h");
        assert_eq!(group(0), "0");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(100), "100");
        assert_eq!(seconds(Duration::from_millis(850)), "850 ms");
        assert_eq!(seconds(Duration::from_millis(4_210)), "4.2 s");
    }
}
