//! What the benches share: reading a process's memory from `/proc`, and an exporter config
//! that polls a simulator at the documented budget, and child processes ([`process`]). Each
//! bench uses a part of it.
#![allow(dead_code)]

pub mod process;

use std::time::Duration;

use std::sync::Arc;

use corbado_exporter::aggregate::parse_windows;
use corbado_exporter::clock::Clock;
use corbado_exporter::config::{CaBundle, Config, LogFormat, LogLevel, Settings, Source};
use corbado_exporter::corbado::RetryPolicy;
use corbado_exporter::poller::Strategy;
use corbado_exporter::secret::Secret;
use corbado_exporter::server::Limits;
use corbado_exporter::shard::Shard;
use corbado_exporter::simulator::{Params, Population, Simulator};
use tokio_util::sync::CancellationToken;

/// A project's settings: `strategy` against `api_url`, 5 requests/s, a poll a minute.
pub fn settings(api_url: &str, strategy: Strategy) -> Settings {
    Settings {
        api_url: api_url.to_owned(),
        ca: CaBundle::default(),
        page_size: 100,
        concurrency: 4,
        max_requests_per_second: 5.0,
        timeout: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(60),
        max_staleness: Duration::from_secs(300),
        strategy,
        resync_interval: Duration::from_secs(24 * 3600),
        verify_interval: Duration::from_secs(3600),
        change_overlap: Duration::from_secs(30),
        windows: parse_windows("15m,1h,24h").expect("valid windows"),
        top_k: 10,
    }
}

/// An exporter config for one project (`project_id`, `secret`) with `settings`, on port 0.
pub fn config(project_id: &str, secret: &str, settings: Settings, clock: Clock) -> Config {
    Config {
        source: Source::Flags {
            project_id: project_id.to_owned(),
            secret: Secret::new(secret),
        },
        settings,
        shard: Shard::ALONE,
        enable_lifecycle: false,
        max_user_id_length: 128,
        user_id_key: None,
        listen_address: "127.0.0.1:0".to_owned(),
        telemetry_path: "/metrics".to_owned(),
        log_level: LogLevel::Warn,
        log_format: LogFormat::Text,
        retry: RetryPolicy::default(),
        web_config: None,
        limits: Limits::default(),
        clock,
        storage: None,
        auto_reload_interval: Duration::ZERO,
    }
}

/// `(VmRSS, VmHWM)` of process `pid` (this one when `None`), in KiB; zeros where unreadable.
pub fn rss_kib(pid: Option<u32>) -> (u64, u64) {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

/// A population generated from `params` as of `clock`'s now, served on loopback as `project_id`
/// with `secret` until `shutdown`; the simulator and its address. Says what it generated.
pub async fn serve_population(
    params: Params,
    (project_id, secret): (&str, &str),
    clock: &Clock,
    shutdown: &CancellationToken,
) -> (Arc<Simulator>, String) {
    let population = Population::generate(params, clock.now_ms());
    println!(
        "population: {} sessions, {} active",
        population.len(),
        population.active_count()
    );
    let sim = Simulator::new(population, project_id, secret);
    let address = sim
        .spawn("127.0.0.1:0", shutdown.clone())
        .await
        .expect("bind");
    (sim, address.to_string())
}

/// A fresh folder for `bench`'s files under the system's temporary folder, removed with all it
/// holds when the guard drops, even when the bench panics half-way. Declare it before any
/// process or exporter that writes there, so those stop first.
pub fn scratch_dir(bench: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("corbado-bench-{bench}-"))
        .tempdir()
        .expect("a temporary folder")
}
