//! End-to-end figures for docs/benchmarks.md: requests and wall time of one poll per strategy, the
//! exporter's peak memory during a scan, and `/metrics` serving under 64 concurrent scrapers.
//!
//! Reference population (the issue's): 1,000,000 sessions, 50,000 active across 20,000 users,
//! `pageSize` 100, `--corbado.concurrency 4`, client-side limit off. The simulator runs as its own
//! process (`corbado-exporter simulator`), and so does each exporter, so neither's CPU or memory
//! is counted as the other's. Everything stays on loopback.
//!
//! Run: `cargo bench --bench poll` (add `-- --sessions 200000` for a quicker look). Set
//! `CORBADO_EXPORTER_BIN` to measure another build of the binary, e.g. an older release.

mod common;

use common::process::{field, rss_mib, spawn, stop};

use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";
const SCRAPERS: usize = 64;
const SCRAPES: usize = 20_000;

fn main() {
    let binary = std::env::var("CORBADO_EXPORTER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_corbado-exporter").to_owned());
    let args: Vec<String> = std::env::args().collect();
    let sessions = args
        .iter()
        .position(|a| a == "--sessions")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(1_000_000);

    println!("binary: {binary}");
    println!("population: {sessions} sessions (5% active, one user per 50 sessions), pageSize 100, concurrency 4, no rate limit\n");
    let started = Instant::now();
    let (mut simulator, mut sim_lines) = spawn(
        Command::new(&binary)
            .args([
                "simulator",
                "--listen",
                "127.0.0.1:0",
                "--frozen",
                "--seed",
                "1",
            ])
            .args(["--sessions", &sessions.to_string()])
            .env("CORBADO_API_SECRET", SECRET),
    );
    let sim_line = sim_lines.wait_for("listening", Duration::from_secs(120));
    let api = field(&sim_line, "address").expect("simulator address");
    println!(
        "simulator ready in {:.1} s, RSS {} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib(simulator.id()).0
    );

    println!("\n| strategy | requests | poll wall time | exporter peak RSS |");
    println!("|---|---:|---:|---:|");
    for strategy in ["filter", "auto", "scan"] {
        let (mut exporter, mut lines) = spawn(&mut exporter(&binary, &api, strategy));
        let line = lines.wait_for("poll finished", Duration::from_secs(300));
        let (_, peak) = rss_mib(exporter.id());
        println!(
            "| {strategy} | {} | {:.2} s | {peak} MiB |",
            field(&line, "requests").unwrap_or_default(),
            field(&line, "duration_ms")
                .and_then(|ms| ms.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / 1000.0,
        );
        if strategy == "auto" {
            let address = lines
                .seen
                .iter()
                .find(|l| l.contains("\"listening\""))
                .and_then(|l| field(l, "address"))
                .expect("exporter address");
            scrape_load(&address);
        }
        stop(&mut exporter);
    }
    stop(&mut simulator);
}

fn exporter(binary: &str, api: &str, strategy: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["--corbado.api-url", &format!("http://{api}/v2")])
        .args(["--corbado.project-id", "pro-demo"])
        .args(["--corbado.max-requests-per-second", "0"])
        .args(["--corbado.concurrency", "4"])
        .args(["--poll.strategy", strategy])
        .args(["--poll.interval", "1h"])
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(["--log.format", "json"])
        .env("CORBADO_API_SECRET", SECRET);
    command
}

/// 64 concurrent scrapers, 20,000 scrapes in all; prints throughput and latency percentiles.
fn scrape_load(address: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("http://{address}/metrics");
    let (latencies, elapsed, bytes) = runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(SCRAPERS)
            .build()
            .expect("client");
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..SCRAPERS {
            let client = client.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut own = Vec::with_capacity(SCRAPES / SCRAPERS);
                let mut bytes = 0;
                for _ in 0..SCRAPES / SCRAPERS {
                    let t = Instant::now();
                    let body = client
                        .get(&url)
                        .send()
                        .await
                        .expect("scrape")
                        .bytes()
                        .await
                        .expect("body");
                    own.push(t.elapsed());
                    bytes = body.len();
                }
                (own, bytes)
            }));
        }
        let mut all = Vec::new();
        let mut bytes = 0;
        for task in tasks {
            let (own, b) = task.await.expect("scraper");
            all.extend(own);
            bytes = b;
        }
        (all, started.elapsed(), bytes)
    });
    let mut sorted = latencies;
    sorted.sort();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    eprintln!(
        "\n/metrics under {SCRAPERS} concurrent scrapers ({} scrapes, {bytes}-byte body, auto-strategy exporter): \
         {:.0} scrapes/s, p50 {:.2} ms, p99 {:.2} ms",
        sorted.len(),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}
