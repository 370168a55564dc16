//! The population's own tests: generation, indexes against brute force, paging, evolution.

use super::*;
use crate::corbado::query::{format_time, parse_time, Field, Filter, Op, Sort};
use std::time::Duration;

const NOW: i64 = 1_795_626_000_000;

fn small() -> Population {
    Population::generate(Params::realistic(20_000, 7), NOW)
}

fn windows() -> Vec<Duration> {
    vec![
        Duration::from_secs(900),
        Duration::from_secs(3600),
        Duration::from_secs(86_400),
    ]
}

#[test]
fn generation_is_deterministic_and_realistic() {
    let a = small();
    let b = small();
    let ea = a.expected(NOW, &windows(), 5);
    assert_eq!(ea, b.expected(NOW, &windows(), 5));
    assert_eq!(a.len(), 20_000);
    let active = ea.count(Status::Active);
    assert!(
        (800..=1200).contains(&active),
        "about 5% active, got {active}"
    );
    for status in Status::ALL {
        assert!(ea.count(status) > 0, "{status} should occur");
    }
    assert!(ea.user_active_sessions_max >= 5, "skewed users: {ea:?}");
    assert!(ea.created_in_window[2] > 0 && ea.expired_in_window[2] > 0);
    let other = Population::generate(Params::realistic(20_000, 8), NOW);
    assert_ne!(other.expected(NOW, &windows(), 5), ea);
}

#[test]
fn indexed_counts_agree_with_brute_force() {
    let mut p = small();
    p.advance(NOW + 120_000);
    let now = p.clock_ms() / 1000;
    let truth = p.expected(now * 1000, &windows(), 0);
    for status in Status::ALL {
        let r = p.query(&[Filter::status(status)], None, 1, 1);
        assert_eq!(r.total, truth.count(status), "{status}");
    }
    for (k, w) in windows().iter().enumerate() {
        let since = now - w.as_secs() as i64;
        let created = p.query(
            &[
                Filter::time(Field::Created, Op::Gt, since),
                Filter::time(Field::Created, Op::Lt, now + 1),
            ],
            None,
            1,
            1,
        );
        assert_eq!(created.total, truth.created_in_window[k]);
        let expired = p.query(
            &[
                Filter::status(Status::Expired),
                Filter::time(Field::Expires, Op::Gt, since),
                Filter::time(Field::Expires, Op::Lt, now + 1),
            ],
            None,
            1,
            1,
        );
        assert_eq!(expired.total, truth.expired_in_window[k]);
    }
}

#[test]
fn paging_walks_every_match_once_in_creation_order() {
    let p = small();
    let filters = [Filter::status(Status::Active)];
    let first = p.query(&filters, Some(Sort::CREATED_ASC), 1, 100);
    let mut seen = Vec::new();
    let pages = first.total.div_ceil(100);
    for page in 1..=pages + 1 {
        seen.extend(
            p.query(&filters, Some(Sort::CREATED_ASC), page, 100)
                .indexes,
        );
    }
    assert_eq!(seen.len() as u64, first.total);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let all = p.query(&[], None, 3, 7);
    assert_eq!(all.indexes, (14..21).collect::<Vec<u32>>());
    assert_eq!(all.total, 20_000);
}

#[test]
fn other_sorts_and_text_filters_work() {
    let p = small();
    let desc = p.query(&[], Some("created:desc".parse().unwrap()), 1, 3);
    assert_eq!(desc.indexes, vec![19_999, 19_998, 19_997]);
    let by_expiry = p.query(
        &[Filter::status(Status::Active)],
        Some("expires:asc".parse().unwrap()),
        1,
        50,
    );
    let expiries: Vec<i64> = by_expiry
        .indexes
        .iter()
        .map(|&i| p.sessions[i as usize].expires_ms)
        .collect();
    assert!(expiries.windows(2).all(|w| w[0] <= w[1]));
    let one = p.query(&["ID:eq:ses-0000000042".parse().unwrap()], None, 1, 10);
    assert_eq!(one.indexes, vec![42]);
    let user = user_id(p.sessions[42].user);
    let mine = p.query(
        &[format!("userID:eq:{user}").parse().unwrap()],
        None,
        1,
        1000,
    );
    assert!(mine.indexes.contains(&42));
    assert!(mine
        .indexes
        .iter()
        .all(|&i| user_id(p.sessions[i as usize].user) == user));
    let nothing = p.query(
        &[
            Filter::status(Status::Active),
            Filter::status(Status::Revoked),
        ],
        None,
        1,
        10,
    );
    assert_eq!(nothing.total, 0);
}

#[test]
fn evolution_moves_sessions_between_states_and_keeps_indexes_right() {
    let mut p = small();
    let before = p.expected(NOW, &windows(), 0);
    let mut bursts = 0;
    let mut now = NOW;
    for _ in 0..3600 {
        now += 1000;
        let changes = p.advance(now);
        bursts += u32::from(changes.burst.is_some());
    }
    let after = p.expected(now, &windows(), 0);
    assert_eq!(after.total(), p.len() as u64);
    assert!(after.total() > before.total(), "new sessions arrived");
    assert!(after.count(Status::Revoked) > before.count(Status::Revoked));
    assert!(after.count(Status::LoggedOut) > before.count(Status::LoggedOut));
    assert!(bursts >= 1, "an hour should see a burst");
    for status in Status::ALL {
        assert_eq!(
            p.query(&[Filter::status(status)], None, 1, 1).total,
            after.count(status)
        );
        assert_eq!(
            p.by_expiry[status.index()].len(),
            p.by_status[status.index()].len()
        );
    }
    assert_eq!(p.active.len() as u64, after.count(Status::Active));
    for (pos, &index) in p.active.iter().enumerate() {
        assert_eq!(p.sessions[index as usize].active_pos as usize, pos);
    }
    let times = format_time(now / 1000);
    assert!(parse_time(&times).is_some());
}

#[test]
fn unknown_statuses_are_injected_and_counted() {
    let mut p = small();
    assert_eq!(p.inject_unknown_statuses(7), 7);
    let truth = p.expected(NOW, &windows(), 0);
    assert_eq!(truth.statuses.unknown, 7);
    assert_eq!(truth.total(), 20_000);
}

#[test]
fn live_arrivals_match_the_density_of_the_generated_history() {
    let mut population = Population::generate(Params::demo(50_000, 3), NOW);
    let hour = Duration::from_secs(3600);
    let history = population.expected(NOW, &[hour], 0).created_in_window[0];
    for minute in 1..=60 {
        population.advance(NOW + minute * 60 * SECOND);
    }
    let live = population
        .expected(NOW + HOUR, &[hour], 0)
        .created_in_window[0];
    let ratio = live as f64 / history as f64;
    assert!(
        (0.8..1.25).contains(&ratio),
        "created in the hour before start {history}, in the hour after {live}"
    );
}

/// The index of the first active session, and the population with `semantics`.
fn with_semantics(semantics: Semantics) -> (Population, u32) {
    let mut population = small();
    population.set_semantics(semantics);
    let first = population.active[0];
    (population, first)
}

#[test]
fn ending_moves_updated_unless_the_semantics_say_it_does_not() {
    for keeps in [false, true] {
        let (mut p, index) = with_semantics(Semantics {
            ended_keeps_updated: keeps,
            ..Semantics::default()
        });
        let before = p.sessions[index as usize].updated_ms;
        p.end(index, Status::LoggedOut, NOW + 5 * SECOND);
        let after = p.sessions[index as usize].updated_ms;
        assert_eq!(after == before, keeps, "keeps updated: {keeps}");
        assert_eq!(
            p.sessions[index as usize].status,
            Status::LoggedOut.index() as u8
        );
    }
}

#[test]
fn a_refresh_slides_the_expiry_and_lazy_expiry_keeps_sessions_active_until_read() {
    let later = NOW + HOUR;
    let past_due_active = |lazy: bool| {
        // Two-hour sessions whose users rarely come back: many run into their expiry.
        let params = Params {
            lifetime: Duration::from_secs(2 * 3600),
            mean_time_between_refreshes: Duration::from_secs(100 * 86_400),
            semantics: Semantics {
                lazy_expiry: lazy,
                ..Semantics::default()
            },
            ..Params::realistic(20_000, 7)
        };
        let mut p = Population::generate(params, NOW);
        for minute in 1..=60 {
            p.advance(NOW + minute * 60 * SECOND);
        }
        p.sessions
            .iter()
            .filter(|s| s.status == Status::Active.index() as u8 && s.expires_ms <= later)
            .count()
    };
    assert!(past_due_active(true) > 0, "lazy expiry leaves them active");
    assert_eq!(past_due_active(false), 0, "the expiry job ends them");

    let (mut p, index) = with_semantics(Semantics::default());
    p.advance(NOW + SECOND);
    let old = p.sessions[index as usize].expires_ms;
    p.touch_random(1_000_000, NOW + HOUR);
    let slid = p
        .sessions
        .iter()
        .filter(|s| s.expires_ms == NOW + HOUR + millis(p.params.lifetime))
        .count();
    assert!(slid > 0 && old < NOW + HOUR + millis(p.params.lifetime));
}

#[test]
fn deleted_revocations_vanish_from_lists_counts_and_truth() {
    let (mut p, index) = with_semantics(Semantics {
        delete_revoked: true,
        ..Semantics::default()
    });
    let listed = p.listed() as u64;
    p.end(index, Status::Revoked, NOW + SECOND);
    assert_eq!(p.listed() as u64, listed - 1);
    assert_eq!(p.query(&[], None, 1, 1).total, listed - 1);
    let truth = p.expected(NOW + SECOND, &[], 0);
    assert_eq!(truth.total(), listed - 1);
    let all: Vec<u32> = p.query(&[], None, 1, 100_000).indexes;
    assert!(!all.contains(&index));
}

/// Before: every few minutes a burst ended 5–15% of the demo's active sessions and nothing made
/// up for them, so they fell from 2,479 to about 1,250 in half an hour.
#[test]
fn the_demo_holds_its_level_through_its_bursts_for_an_hour() {
    let mut p = Population::generate(Params::demo(crate::simulator::DEMO_SESSIONS, 1), NOW);
    let first = p.active_count() as f64;
    let (mut low, mut high, mut bursts) = (first, first, 0);
    for tick in 1..=720 {
        let changes = p.advance(NOW + tick * 5 * SECOND);
        bursts += u32::from(changes.burst.is_some());
        let active = p.active_count() as f64;
        (low, high) = (low.min(active), high.max(active));
    }
    assert!(
        bursts >= 5,
        "the hour needs its bursts to mean anything: {bursts}"
    );
    assert!(
        low >= first * 0.85 && high <= first * 1.15,
        "{first} active at first, then between {low} and {high}"
    );
}
