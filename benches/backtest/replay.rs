//! The week itself: the simulator on its own clock, the exporter's poller driven a minute at a
//! time, the incidents acted out, and every scrape's page written as OpenMetrics with its
//! timestamp, as Prometheus would have stored it (`job` and `instance` added, `up` beside).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::clock::Clock;
use corbado_exporter::config::{Config, Storage};
use corbado_exporter::poller::Strategy;
use corbado_exporter::simulator::{Faults, Params, Semantics, Simulator};
use tokio_util::sync::CancellationToken;

use super::common::{self, Exporter};
use super::scenario::{self, Incident, Kind};

const PROJECT: &str = "pro-backtest";
const SECRET: &str = "backtest-secret";
const MINUTE: Duration = Duration::from_secs(60);
/// The labels Prometheus adds to every scraped series.
pub const TARGET: &str = r#"job="corbado",instance="exporter:9877""#;
/// Minutes before a mass expiry that its wave of logins arrives.
const WAVE_AHEAD: u32 = 120;

/// Active sessions at the start, and the user that a script logs in as.
const ACTIVE: u64 = 3_000;
const SCRIPT_USER: u32 = 29_999;

async fn start(config: &Config, shutdown: &CancellationToken) -> Exporter {
    common::start(config, PROJECT, shutdown).await
}

/// The run in progress.
pub struct Replay {
    sim: Arc<Simulator>,
    clock: Clock,
    config: Config,
    shutdown: CancellationToken,
    exporter: Option<Exporter>,
    arrival_rate_per_minute: f64,
    /// When the wave of a mass expiry arrived (Unix ms).
    wave_ms: i64,
    /// Active sessions when a revocation or logout incident began: its share is of those.
    active_at_start: u64,
    out: std::io::BufWriter<std::fs::File>,
    pub polls: u64,
    pub failed: u64,
}

impl Replay {
    /// A project of about 3,000 active sessions as of `start_ms`, and an exporter polling it
    /// (`auto`, state in `state_dir`); pages go to `out`.
    pub async fn new(start_ms: i64, state_dir: &std::path::Path, out: std::fs::File) -> Self {
        let params = Params {
            active: ACTIVE,
            // 20 sessions a user over the history: the heaviest user of the background holds
            // about 20 active sessions, as a person with many devices might.
            users: 30_000,
            // Revocations every day (a tenth of the ends), so that the catch-up after an
            // outage holds more of them than the alert's floor: the rules must tell it apart.
            mean_time_to_revocation: Duration::from_secs(24 * 3600),
            mean_time_between_bursts: Duration::from_secs(1 << 40),
            ..Params::realistic(ACTIVE * 20, 27)
        };
        let arrival_rate_per_minute = params.arrival_rate() * 60.0;
        let clock = Clock::manual(start_ms);
        let shutdown = CancellationToken::new();
        let (sim, address) =
            common::serve_population(params, (PROJECT, SECRET), &clock, &shutdown).await;
        let settings = common::settings(&format!("http://{address}/v2"), Strategy::Auto);
        let mut config = common::config(PROJECT, SECRET, settings, clock.clone());
        config.storage = Some(Storage {
            dir: state_dir.to_owned(),
            save_interval: Duration::from_secs(300),
        });
        let exporter = Some(start(&config, &shutdown).await);
        Replay {
            sim,
            clock,
            config,
            shutdown,
            exporter,
            arrival_rate_per_minute,
            wave_ms: 0,
            active_at_start: 0,
            out: std::io::BufWriter::new(out),
            polls: 0,
            failed: 0,
        }
    }

    /// Minute `minute` of the run: the rhythm and the incidents act, the clocks move on a
    /// minute, the exporter polls (when it runs), and Prometheus scrapes.
    pub async fn minute(&mut self, minute: u32, incidents: &[Incident]) -> std::io::Result<()> {
        let factor = scenario::rhythm(minute);
        self.sim.with_population(|p| p.set_arrival_factor(factor));
        for incident in incidents {
            self.act(incident, minute).await;
        }
        let now = self.clock.advance(MINUTE);
        self.sim.advance(now);
        let ts = now / 1000;
        let Some(exporter) = &self.exporter else {
            return writeln!(self.out, "up{{{TARGET}}} 0 {ts}");
        };
        self.polls += 1;
        if exporter.poller.poll_once().await.is_err() {
            self.failed += 1;
        }
        // The exporter saves every --storage.save-interval (5m) of wall time, which here is
        // the run's clock, not tokio's paused one.
        if minute.is_multiple_of(5) {
            exporter.poller.save_state().await;
        }
        writeln!(self.out, "up{{{TARGET}}} 1 {ts}")?;
        write_page(&mut self.out, &exporter.store.render(), ts)
    }

    /// What `incident` does at `minute`, if anything.
    async fn act(&mut self, incident: &Incident, minute: u32) {
        let now = self.clock.now_ms();
        let active = self.sim.with_population(|p| p.active_count()) as u64;
        if minute + WAVE_AHEAD == incident.start && incident.kind == Kind::MassExpiry {
            // A wave of logins, a sixth of the active sessions, in one minute.
            let factor = active as f64 / 6.0 / self.arrival_rate_per_minute;
            self.sim.with_population(|p| p.set_arrival_factor(factor));
            self.wave_ms = now + MINUTE.as_millis() as i64;
        }
        let Some(k) = minute.checked_sub(incident.start) else {
            return;
        };
        if k == 0 {
            self.active_at_start = active;
        }
        let share = |divisor: u64| self.active_at_start / divisor;
        match (incident.kind, k) {
            (Kind::MassRevocation, 0..5) => self.with(|p| p.revoke_random(share(50), now)),
            (Kind::DeletedRevocations, 0..5) => {
                self.sim.set_semantics(Semantics {
                    delete_revoked: true,
                    ..Semantics::default()
                });
                self.with(|p| p.revoke_random(share(50), now));
            }
            (Kind::DeletedRevocations, 5) => self.sim.set_semantics(Semantics::default()),
            (Kind::MassExpiry, 0) => {
                let wave = self.wave_ms;
                self.with(|p| p.expire_created_between(wave - 1_000, wave, now));
            }
            (Kind::MassLogout, 0..10) => self.with(|p| p.log_out_random(share(20), now)),
            (Kind::ApiDown, 0) => self.sim.set_faults(faults(1.0, 503)),
            (Kind::RateLimited, 0) => self.sim.set_faults(faults(0.25, 429)),
            (Kind::ApiDown, 60) | (Kind::RateLimited, 90) => self.sim.set_faults(Faults::default()),
            (Kind::UserSessions, 0..20) => {
                self.sim
                    .with_population(|p| p.log_in_as(SCRIPT_USER, 10, now));
            }
            (Kind::ExporterDown, 0) => {
                if let Some(exporter) = self.exporter.take() {
                    exporter.poller.save_state().await;
                }
            }
            (Kind::ExporterDown, 60) => {
                self.exporter = Some(start(&self.config, &self.shutdown).await);
            }
            _ => {}
        }
    }

    fn with(&self, change: impl FnOnce(&mut corbado_exporter::simulator::Population) -> u64) {
        self.sim.with_population(change);
    }

    /// Writes `# EOF` and stops the simulator.
    pub fn finish(mut self) -> std::io::Result<()> {
        writeln!(self.out, "# EOF")?;
        self.out.flush()?;
        self.shutdown.cancel();
        Ok(())
    }
}

fn faults(share: f64, status: u16) -> Faults {
    Faults {
        error_rate: share,
        random_status: status,
        ..Faults::default()
    }
}

/// One text-format page as OpenMetrics samples at `ts` (Unix seconds), with the target's
/// labels; no metadata (every family is read as `unknown`, which the rules do not mind), and
/// no histogram buckets, which no rule reads.
fn write_page(out: &mut impl std::io::Write, page: &str, ts: i64) -> std::io::Result<()> {
    for line in page.lines() {
        if line.starts_with('#') || line.is_empty() || line.contains("_bucket{") {
            continue;
        }
        match line.find('{') {
            Some(brace) => {
                let (name, rest) = line.split_at(brace);
                writeln!(out, "{name}{{{TARGET},{} {ts}", &rest[1..])?;
            }
            None => {
                let (name, value) = line.split_once(' ').unwrap_or((line, "0"));
                writeln!(out, "{name}{{{TARGET}}} {value} {ts}")?;
            }
        }
    }
    Ok(())
}
