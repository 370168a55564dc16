//! What the benches share: reading a process's memory from `/proc`, an exporter config that
//! polls a simulator at the documented budget and the exporter built from it, and child
//! processes ([`process`]). Each
//! bench uses a part of it.
#![allow(dead_code)]

pub mod day;
pub mod memory;
pub mod process;

use std::time::Duration;

use std::sync::Arc;

use corbado_exporter::aggregate::Summary;
use corbado_exporter::app::App;
use corbado_exporter::clock::Clock;
use corbado_exporter::config::{Config, LogLevel, Settings};
use corbado_exporter::poller::{Poller, Strategy};
use corbado_exporter::secret::Secret;
use corbado_exporter::simulator::{Params, Population, Simulator};
use corbado_exporter::snapshot::{Snapshot, Store};
use tokio_util::sync::CancellationToken;

/// A project's settings: `strategy` against `api_url`, 5 requests/s, a poll a minute.
pub fn settings(api_url: &str, strategy: Strategy) -> Settings {
    Settings {
        api_url: api_url.to_owned(),
        timeout: Duration::from_secs(3600),
        strategy,
        ..Settings::default()
    }
}

/// An exporter config for one project (`project_id`, `secret`) with `settings`, on port 0.
pub fn config(project_id: &str, secret: &str, settings: Settings, clock: Clock) -> Config {
    let mut config = Config::for_project(project_id, Secret::new(secret), settings);
    config.log_level = LogLevel::Warn;
    config.clock = clock;
    config.auto_reload_interval = Duration::ZERO;
    config
}

/// An exporter in this process: its app (for a reload), and one project's store and poller.
pub struct Exporter {
    pub app: App,
    pub store: Arc<Store>,
    pub poller: Arc<Poller>,
}

/// Builds the exporter of `config`, which polls `project_id`, until `shutdown`.
pub async fn start(config: &Config, project_id: &str, shutdown: &CancellationToken) -> Exporter {
    let app = App::build(config.clone(), shutdown)
        .await
        .expect("exporter builds");
    let (store, poller) = app.project(project_id).expect("the project is polled");
    Exporter { app, store, poller }
}

/// The per-user gauges checked against the poll whose set they say they show
/// (`corbado_exporter_active_set_timestamp_seconds`): a catch-up in slices or a paced resync
/// leaves an earlier poll's set published, which must have been exact then.
#[derive(Default)]
pub struct UsersCheck {
    /// The truth's per-user fields, by the `now` of each poll.
    truths: std::collections::BTreeMap<i64, Summary>,
    /// Polls whose gauges showed an earlier poll's set, and the oldest such set, in minutes.
    pub stale_polls: u64,
    pub stalest_minutes: i64,
}

impl UsersCheck {
    /// Notes `truth`, the poll's at `now_ms`, and returns whether `snapshot`'s per-user gauges
    /// are exact as of the poll they show, and how many minutes old that poll is.
    pub fn exact(&mut self, snapshot: &Snapshot, truth: &Summary, now_ms: i64) -> (bool, i64) {
        self.truths.insert(now_ms, users_only(truth));
        let shown_ms = snapshot.users.as_ref().map_or(0, |u| u.now_ms);
        let minutes = (now_ms - shown_ms) / 60_000;
        self.stale_polls += u64::from(minutes > 0);
        self.stalest_minutes = self.stalest_minutes.max(minutes);
        let exact = self.truths.get(&shown_ms) == Some(&users_only(&snapshot.summary));
        (exact, minutes)
    }
}

/// The per-user fields of `summary` alone.
pub fn users_only(summary: &Summary) -> Summary {
    let mut users = Summary::default();
    users.take_users_from(summary);
    users
}

/// `summary` without its per-user fields.
pub fn counts_only(summary: &Summary) -> Summary {
    let mut counts = summary.clone();
    counts.take_users_from(&Summary::default());
    counts
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
