//! Cost at scale: many projects in one exporter process. By default 100 projects of 10,000
//! sessions each, every project its own simulator process (so their memory is not the
//! exporter's), the exporter polling them all from one `--config.file` with the defaults
//! (`auto`, 5 requests/s per project) and `--poll.interval 30s`.
//!
//! Prints the exporter's RSS, the CPU time and the API requests of the first round (every
//! project's initial sync) and of a steady round (the average over `--rounds` intervals), and
//! the size of `/metrics`, and the size and serving time of the status page.
//!
//! Run: `cargo bench --bench projects` (`-- --projects 20 --sessions 5000 --rounds 2` for a
//! quicker look).

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{field, rss_mib, spawn, stop, Lines};

const SECRET: &str = "bench-secret";
const INTERVAL: Duration = Duration::from_secs(30);

fn main() {
    let binary = env!("CARGO_BIN_EXE_corbado-exporter");
    let projects = arg("--projects", 100);
    let sessions = arg("--sessions", 10_000);
    let rounds = arg("--rounds", 4);
    println!(
        "{projects} projects of {sessions} sessions, auto, 5 requests/s each, a poll every {}s\n",
        INTERVAL.as_secs()
    );

    let mut sims = Vec::new();
    let mut apis = Vec::new();
    for i in 0..projects {
        let (child, mut lines) = spawn(
            Command::new(binary)
                .args(["simulator", "--listen", "127.0.0.1:0"])
                .args([
                    "--sessions",
                    &sessions.to_string(),
                    "--seed",
                    &(i + 1).to_string(),
                ])
                .args(["--project-id", &project_id(i)])
                .env("CORBADO_API_SECRET", SECRET),
        );
        let line = lines.wait_for("listening", Duration::from_secs(60));
        apis.push(field(&line, "address").expect("simulator address"));
        sims.push((child, lines));
    }
    let sims_rss: u64 = sims.iter().map(|(c, _)| rss_mib(c.id()).0).sum();
    println!("simulators: {projects} processes, {sims_rss} MiB RSS together (not counted below)");

    // Declared before the exporter that reads from it, so it goes after the exporter stops.
    let scratch = common::scratch_dir("projects");
    let file = scratch.path().join("projects.yml");
    let mut yaml = format!(
        "defaults:\n  api_secret_env: BENCH_SECRET\n  poll_interval: {}s\nprojects:\n",
        INTERVAL.as_secs()
    );
    for (i, api) in apis.iter().enumerate() {
        yaml.push_str(&format!(
            "  - id: {}\n    api_url: http://{api}/v2\n",
            project_id(i as u64)
        ));
    }
    std::fs::write(&file, yaml).expect("config file");

    let (mut exporter, mut lines) = spawn(
        Command::new(binary)
            .args(["--config.file", file.to_str().expect("utf-8 path")])
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.format",
                "json",
            ])
            .env("BENCH_SECRET", SECRET),
    );
    let address = listening_address(&mut lines);
    let pid = exporter.id();
    let (rss_before, _) = rss_mib(pid);

    // The first round: every project counts and syncs its active set in full.
    let started = Instant::now();
    let first = wait_for_round(&address, projects);
    let first_cpu = cpu_seconds(pid);
    let first_time = started.elapsed();
    // Steady rounds: from the end of the first to `rounds` intervals later.
    let before = first;
    std::thread::sleep(INTERVAL * rounds as u32);
    let after = totals(&scrape(&address));
    let steady_cpu = (cpu_seconds(pid) - first_cpu) / rounds as f64;
    let (rss, peak) = rss_mib(pid);
    let body = scrape(&address);

    println!("\n| | figure |");
    println!("|---|---:|");
    println!("| exporter RSS once it listens | {rss_before} MiB |");
    println!(
        "| exporter RSS after {} rounds (peak) | {rss} MiB ({peak} MiB) |",
        rounds + 1
    );
    println!(
        "| first round: wall time until every project published | {:.1} s |",
        first_time.as_secs_f64()
    );
    println!(
        "| first round: API requests, all projects | {:.0} |",
        first.requests
    );
    println!("| first round: exporter CPU | {first_cpu:.2} s |");
    println!(
        "| steady round: API requests, all projects | {:.0} ({:.1} per project) |",
        (after.requests - before.requests) / rounds as f64,
        (after.requests - before.requests) / rounds as f64 / projects as f64
    );
    println!(
        "| steady round: exporter CPU | {steady_cpu:.3} s ({:.1} ms per project) |",
        steady_cpu * 1000.0 / projects as f64
    );
    println!(
        "| steady rounds: polls that failed | {:.0} |",
        after.failures - before.failures
    );
    println!(
        "| /metrics body | {} KiB, {} lines |",
        body.len() / 1024,
        body.lines().count()
    );

    // The status page is made anew on every request: its size and time for all projects.
    let started = Instant::now();
    const PAGES: u32 = 20;
    let mut status = String::new();
    for _ in 0..PAGES {
        status = get(&address, "/");
    }
    println!(
        "| status page `/` | {} KiB, {:.1} ms a request (mean of {PAGES}) |",
        status.len() / 1024,
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(PAGES)
    );

    stop(&mut exporter);
    for (mut child, _) in sims {
        stop(&mut child);
    }
}

fn project_id(i: u64) -> String {
    format!("pro-bench-{i:03}")
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn listening_address(lines: &mut Lines) -> String {
    let line = lines.wait_for("\"listening\"", Duration::from_secs(60));
    field(&line, "address").expect("exporter address")
}

/// What the exporter's page says, summed over projects.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    requests: f64,
    failures: f64,
    published: u64,
}

/// Waits until `projects` projects have published counts and a complete active set.
fn wait_for_round(address: &str, projects: u64) -> Totals {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let totals = totals(&scrape(address));
        if totals.published >= projects {
            return totals;
        }
        assert!(
            Instant::now() < deadline,
            "the first round did not end: {totals:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn totals(page: &str) -> Totals {
    let mut totals = Totals::default();
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if line.starts_with("corbado_exporter_api_requests_total{") {
            totals.requests += value;
        } else if line.starts_with("corbado_exporter_poll_failures_total{") {
            totals.failures += value;
        } else if line.starts_with("corbado_exporter_active_set_timestamp_seconds{") {
            totals.published += 1;
        }
    }
    totals
}

/// `GET /metrics`, over a plain HTTP/1.0 connection.
fn scrape(address: &str) -> String {
    get(address, "/metrics")
}

/// The body of `GET path`, over a plain HTTP/1.0 connection.
fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n").as_bytes())
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// User plus system CPU time of process `pid`, in seconds, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5); here 11 and 12 after the name.
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}
