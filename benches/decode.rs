//! Decode + aggregate throughput on recorded page bytes: the CPU cost of a poll per session.
//!
//! The pages are what the simulator serves for a realistic project (100 sessions a page), made
//! once up front; the measured loop is exactly what the poller does with a page body: decode it
//! (borrowing strings), reduce each session to the facts the aggregator needs, and fold them in.
//!
//! `cargo bench --bench decode` (criterion); the figure to read is the throughput in elements/s.

use std::time::Duration;

use corbado_exporter::aggregate::{Aggregator, SessionFacts};
use corbado_exporter::corbado::client::decode_page;
use corbado_exporter::corbado::query::Sort;
use corbado_exporter::simulator::{Params, Population};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const NOW: i64 = 1_795_626_000_000;
const SESSIONS: u64 = 100_000;
const PAGE: u64 = 100;

fn recorded_pages() -> Vec<Vec<u8>> {
    let population = Population::generate(Params::realistic(SESSIONS, 1), NOW);
    (1..=SESSIONS / PAGE)
        .map(|page| {
            let result = population.query(&[], Some(Sort::CREATED_ASC), page, PAGE);
            let mut body = String::from("{\"sessions\":[");
            population.write_sessions_json(&result.indexes, &mut body);
            body.push_str(&format!(
                "],\"paging\":{{\"page\":{page},\"totalPages\":{},\"totalItems\":{}}}}}",
                SESSIONS / PAGE,
                SESSIONS
            ));
            body.into_bytes()
        })
        .collect()
}

fn decode_and_aggregate(c: &mut Criterion) {
    let pages = recorded_pages();
    let windows = [
        Duration::from_secs(900),
        Duration::from_secs(3600),
        Duration::from_secs(86_400),
    ];
    let mut group = c.benchmark_group("poll");
    group.throughput(Throughput::Elements(SESSIONS));
    group.sample_size(20);
    group.bench_function("decode_and_aggregate_100k_sessions", |b| {
        b.iter(|| {
            let mut aggregator = Aggregator::new(NOW, &windows, 10);
            for body in &pages {
                let list = decode_page(body).expect("recorded pages are valid");
                for session in &list.sessions {
                    aggregator.observe(SessionFacts::from_wire(session));
                }
            }
            aggregator.finish()
        })
    });
    group.finish();
}

criterion_group!(benches, decode_and_aggregate);
criterion_main!(benches);
