//! Command line and environment → a validated [`Config`].
//!
//! Two steps, as ripgrep does it: clap parses flags into [`Cli`] (types and single-flag checks,
//! with clap's error format), then [`Config::from_cli`] does what needs several flags or the
//! outside world (the secret, the project ID unless `--demo`). Once a `Config` exists it is valid;
//! nothing downstream checks flags again.
//!
//! The API secret is read only from `CORBADO_API_SECRET` or `--corbado.api-secret-file`. It is
//! deliberately not a clap `env` argument: clap would print its value in `--help`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::corbado::client::RetryPolicy;
use crate::secret::Secret;
use crate::server::Limits;
use crate::web_config::WebConfig;

pub const DEFAULT_API_URL: &str = "https://backendapi.cloud.corbado.io/v2";

/// Environment variable holding the API secret.
pub const SECRET_ENV: &str = "CORBADO_API_SECRET";

#[derive(Debug, Parser)]
#[command(
    name = "corbado-exporter",
    version,
    about = "Prometheus exporter for the sessions of a Corbado project",
    long_about = "Polls Corbado's GET /sessions and serves session counts by status, creation and \
                  expiry windows and per-user active sessions as Prometheus metrics.\n\n\
                  The API secret is read from the CORBADO_API_SECRET environment variable or \
                  from --corbado.api-secret-file; it is never accepted on the command line.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub exporter: ExporterArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulated Corbado API on its own, for any client to poll.
    Simulator(SimulatorArgs),
    /// Ask a running exporter whether it is healthy (exit 0) or not (exit 1): for container
    /// HEALTHCHECKs, which have no shell or curl in a distroless image.
    Healthcheck(HealthcheckArgs),
}

/// `corbado-exporter healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to ask.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9877/-/healthy",
        value_name = "URL"
    )]
    pub url: String,

    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Accept any TLS certificate (for a self-signed one on loopback).
    #[arg(long)]
    pub insecure: bool,
}

/// The exporter's flags, named after the exporter-toolkit conventions.
#[derive(Debug, Args)]
pub struct ExporterArgs {
    /// Base URL of the Corbado Backend API; `/sessions` is appended.
    #[arg(long = "corbado.api-url", env = "CORBADO_API_URL", default_value = DEFAULT_API_URL, value_name = "URL")]
    pub api_url: String,

    /// Corbado project ID (the basic-auth user name). Required unless --demo.
    #[arg(
        long = "corbado.project-id",
        env = "CORBADO_PROJECT_ID",
        value_name = "ID"
    )]
    pub project_id: Option<String>,

    /// File holding the API secret (a trailing newline is ignored). Alternative to the
    /// CORBADO_API_SECRET environment variable.
    #[arg(
        long = "corbado.api-secret-file",
        env = "CORBADO_API_SECRET_FILE",
        value_name = "PATH"
    )]
    pub api_secret_file: Option<PathBuf>,

    /// Sessions per page (the API is known to accept up to 100).
    #[arg(long = "corbado.page-size", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N")]
    pub page_size: u32,

    /// Pages in flight at once.
    #[arg(long = "corbado.concurrency", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64), value_name = "N")]
    pub concurrency: u32,

    /// Client-side limit on requests per second, shared by all requests; 0 means none.
    #[arg(long = "corbado.max-requests-per-second", default_value = "20", value_parser = parse_rate, value_name = "RATE")]
    pub max_requests_per_second: f64,

    /// PEM file of CA certificates to trust for the Corbado API, besides the built-in roots (for
    /// a TLS-intercepting proxy, say).
    #[arg(long = "corbado.ca-file", env = "CORBADO_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// Timeout of one API request.
    #[arg(long = "corbado.timeout", default_value = "10s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Time between the starts of two polls.
    #[arg(long = "poll.interval", default_value = "60s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub poll_interval: Duration,

    /// After this long without a successful poll, the session gauges are dropped.
    #[arg(long = "poll.max-staleness", default_value = "5m", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub max_staleness: Duration,

    /// How to collect the numbers: filter (cheap, trusts the API's filters), scan (pages
    /// through every session) or auto (filter, checked, falling back to scan).
    #[arg(
        long = "poll.strategy",
        default_value = "auto",
        value_name = "STRATEGY"
    )]
    pub strategy: Strategy,

    /// Comma-separated windows of the *_in_window gauges, in whole seconds or more.
    #[arg(long = "sessions.windows", default_value = "15m,1h,24h", value_parser = parse_windows, value_name = "DURATIONS")]
    pub windows: Windows,

    /// Users exported with their own user_id series; 0 turns them off.
    #[arg(long = "per-user.top-k", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000), value_name = "K")]
    pub top_k: u32,

    /// Address to listen on for the web interface and telemetry.
    #[arg(long = "web.listen-address", default_value = ":9877", value_parser = parse_listen_address, value_name = "ADDR")]
    pub listen_address: String,

    /// exporter-toolkit web configuration file: TLS and bcrypt basic auth for every endpoint.
    /// Re-read when it changes and on SIGHUP.
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,

    /// Validate --web.config.file and exit (0 when valid, 2 with the reason when not).
    #[arg(long = "web.config.check", requires = "web_config_file")]
    pub web_config_check: bool,

    /// Requests served at once; more get 503. 0 means no limit.
    #[arg(long = "web.max-requests", default_value_t = 40, value_name = "N")]
    pub max_requests: u32,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", value_parser = parse_telemetry_path, value_name = "PATH")]
    pub telemetry_path: String,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_name = "LEVEL")]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Poll the built-in simulated Corbado API instead of the real one; needs no credentials.
    #[arg(long = "demo")]
    pub demo: bool,
}

/// `corbado-exporter simulator`: the simulated API as a standalone server.
#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Address to listen on; keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8377", value_name = "ADDR")]
    pub listen: String,

    /// Sessions in the initial population.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(0..=20_000_000), value_name = "N")]
    pub sessions: u32,

    /// Seed of the population and of its evolution.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,

    /// Project ID the simulator accepts (the API secret comes from CORBADO_API_SECRET, or is
    /// `demo-secret`).
    #[arg(long = "project-id", default_value = crate::simulator::DEMO_PROJECT_ID, value_name = "ID")]
    pub project_id: String,

    /// Keep the population as generated instead of evolving it in real time.
    #[arg(long)]
    pub frozen: bool,

    #[arg(long = "log.level", default_value = "info", value_name = "LEVEL")]
    pub log_level: LogLevel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    Auto,
    Filter,
    Scan,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Filter => "filter",
            Strategy::Scan => "scan",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// One `--sessions.windows` entry: the text the user wrote (the `window` label) and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub label: String,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windows(pub Vec<Window>);

/// Where the sessions come from.
#[derive(Clone, Debug)]
pub enum Source {
    Corbado {
        api_url: String,
        project_id: String,
        secret: Secret,
    },
    /// The built-in simulator, started by the exporter itself.
    Demo,
}

/// The exporter's validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub source: Source,
    pub page_size: u32,
    pub concurrency: usize,
    pub max_requests_per_second: f64,
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub max_staleness: Duration,
    pub strategy: Strategy,
    pub windows: Vec<Window>,
    pub top_k: usize,
    pub listen_address: String,
    pub telemetry_path: String,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// Retry and backoff; not a flag (the defaults suit the API), set by tests.
    pub retry: RetryPolicy,
    pub ca_file: Option<PathBuf>,
    pub web_config_file: Option<PathBuf>,
    /// Limits against hostile clients; only `max_requests` is a flag.
    pub limits: Limits,
}

/// A configuration problem: the flag (or variable) and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub flag: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value for '{}': {}", self.flag, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Validates the parsed flags. `env_secret` is the value of `CORBADO_API_SECRET`, passed in
    /// so tests need not touch the process environment.
    pub fn from_cli(args: ExporterArgs, env_secret: Option<String>) -> Result<Config, ConfigError> {
        let source = if args.demo {
            Source::Demo
        } else {
            let project_id = args
                .project_id
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| ConfigError {
                    flag: "--corbado.project-id",
                    problem: "required unless --demo is given (or set CORBADO_PROJECT_ID)".into(),
                })?;
            if project_id.contains(':') || project_id.chars().any(char::is_control) {
                return Err(ConfigError {
                    flag: "--corbado.project-id",
                    problem: "must not contain ':' or control characters".into(),
                });
            }
            Source::Corbado {
                api_url: validate_api_url(&args.api_url)?,
                project_id,
                secret: read_secret(args.api_secret_file, env_secret)?,
            }
        };
        Ok(Config {
            source,
            page_size: args.page_size,
            concurrency: args.concurrency as usize,
            max_requests_per_second: args.max_requests_per_second,
            timeout: args.timeout,
            poll_interval: args.poll_interval,
            max_staleness: args.max_staleness,
            strategy: args.strategy,
            windows: args.windows.0,
            top_k: args.top_k as usize,
            listen_address: args.listen_address,
            telemetry_path: args.telemetry_path,
            log_level: args.log_level,
            log_format: args.log_format,
            retry: RetryPolicy::default(),
            ca_file: validate_ca_file(args.ca_file)?,
            web_config_file: validate_web_config(args.web_config_file)?,
            limits: Limits {
                max_requests: args.max_requests as usize,
                ..Limits::default()
            },
        })
    }

    pub fn window_durations(&self) -> Vec<Duration> {
        self.windows.iter().map(|w| w.duration).collect()
    }
}

fn validate_ca_file(path: Option<PathBuf>) -> Result<Option<PathBuf>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let pem = std::fs::read(&path).map_err(|e| ConfigError {
        flag: "--corbado.ca-file",
        problem: format!("cannot read {}: {e}", path.display()),
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(Some(path)),
        _ => Err(ConfigError {
            flag: "--corbado.ca-file",
            problem: format!("{} holds no PEM certificate", path.display()),
        }),
    }
}

fn validate_web_config(path: Option<PathBuf>) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = &path {
        WebConfig::load(path).map_err(|e| ConfigError {
            flag: "--web.config.file",
            problem: e.to_string(),
        })?;
    }
    Ok(path)
}

fn validate_api_url(url: &str) -> Result<String, ConfigError> {
    let error = |problem: &str| ConfigError {
        flag: "--corbado.api-url",
        problem: problem.to_owned(),
    };
    // The URL is not echoed back: it may hold credentials someone pasted by mistake.
    let parsed = reqwest::Url::parse(url).map_err(|e| error(&format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(error("must start with http:// or https://"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(error(
            "must not contain credentials; use --corbado.project-id and CORBADO_API_SECRET",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(error(
            "must not have a query or fragment; /sessions is appended to it",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn read_secret(file: Option<PathBuf>, env: Option<String>) -> Result<Secret, ConfigError> {
    let value = match (file, env.filter(|v| !v.is_empty())) {
        (Some(_), Some(_)) => {
            return Err(ConfigError {
                flag: "--corbado.api-secret-file",
                problem: "give the secret either in a file or in CORBADO_API_SECRET, not both"
                    .into(),
            })
        }
        (Some(path), None) => {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                flag: "--corbado.api-secret-file",
                problem: format!("cannot read {}: {e}", path.display()),
            })?;
            let value = text.strip_suffix('\n').unwrap_or(&text);
            let value = value.strip_suffix('\r').unwrap_or(value);
            if value.is_empty() {
                return Err(ConfigError {
                    flag: "--corbado.api-secret-file",
                    problem: format!("{} is empty", path.display()),
                });
            }
            value.to_owned()
        }
        (None, Some(value)) => value,
        (None, None) => {
            return Err(ConfigError {
                flag: SECRET_ENV,
                problem: "the API secret is required unless --demo is given: set \
                          CORBADO_API_SECRET or --corbado.api-secret-file"
                    .into(),
            })
        }
    };
    if value.chars().any(char::is_control) {
        // Said without the value, of course.
        return Err(ConfigError {
            flag: SECRET_ENV,
            problem: "the API secret contains control characters".into(),
        });
    }
    Ok(Secret::new(value))
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(duration)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| "not a number of requests per second".to_string())?;
    if !rate.is_finite() || rate < 0.0 || (rate > 0.0 && rate < 0.001) {
        return Err("must be zero (no limit) or at least 0.001".into());
    }
    Ok(rate)
}

pub fn parse_windows(text: &str) -> Result<Windows, String> {
    let mut windows: Vec<Window> = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err("empty window in the list".into());
        }
        let duration = humantime::parse_duration(part).map_err(|e| format!("{part}: {e}"))?;
        if duration < Duration::from_secs(1) || duration.subsec_nanos() != 0 {
            return Err(format!(
                "{part}: windows must be whole seconds (the API filters by the second)"
            ));
        }
        if windows.iter().any(|w| w.duration == duration) {
            return Err(format!("{part}: the same window is listed twice"));
        }
        windows.push(Window {
            label: part.to_owned(),
            duration,
        });
    }
    Ok(Windows(windows))
}

/// Accepts `host:port`, `[v6]:port` and Go's `:port` (all interfaces).
fn parse_listen_address(text: &str) -> Result<String, String> {
    let address = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| "expected host:port or :port".to_string())?;
    port.parse::<u16>()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    if host.is_empty() {
        return Err("expected host:port or :port".into());
    }
    Ok(address)
}

fn parse_telemetry_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text == "/" {
        return Err("must start with '/' and not be '/' itself".into());
    }
    if text.starts_with("/-/") {
        return Err("paths under /-/ are reserved for health endpoints".into());
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err("must be a plain path".into());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ExporterArgs {
        let mut argv = vec!["corbado-exporter"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("flags parse").exporter
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::from_cli(args(&["--demo"]), None).expect("valid");
        assert!(matches!(config.source, Source::Demo));
        assert_eq!(config.page_size, 100);
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.max_requests_per_second, 20.0);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.poll_interval, Duration::from_secs(60));
        assert_eq!(config.max_staleness, Duration::from_secs(300));
        assert_eq!(config.strategy, Strategy::Auto);
        let labels: Vec<&str> = config.windows.iter().map(|w| w.label.as_str()).collect();
        assert_eq!(labels, ["15m", "1h", "24h"]);
        assert_eq!(config.top_k, 10);
        assert_eq!(config.listen_address, "0.0.0.0:9877");
        assert_eq!(config.telemetry_path, "/metrics");
    }

    #[test]
    fn a_real_project_needs_an_id_and_a_secret() {
        let error = Config::from_cli(args(&[]), Some("s".into())).unwrap_err();
        assert_eq!(error.flag, "--corbado.project-id");
        let error = Config::from_cli(args(&["--corbado.project-id", "pro-1"]), None).unwrap_err();
        assert_eq!(error.flag, "CORBADO_API_SECRET");
        let config = Config::from_cli(
            args(&["--corbado.project-id", "pro-1"]),
            Some("s3cr3t".into()),
        )
        .expect("valid");
        match config.source {
            Source::Corbado {
                api_url,
                project_id,
                secret,
            } => {
                assert_eq!(api_url, DEFAULT_API_URL);
                assert_eq!(project_id, "pro-1");
                assert_eq!(secret.expose(), "s3cr3t");
            }
            Source::Demo => panic!("expected a real source"),
        }
    }

    #[test]
    fn the_secret_file_loses_its_trailing_newline_only() {
        let dir = std::env::temp_dir().join(format!("corbado-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("secret");
        std::fs::write(&path, "  s3cr3t \n").expect("write");
        let secret = read_secret(Some(path.clone()), None).expect("readable");
        assert_eq!(secret.expose(), "  s3cr3t ");
        std::fs::write(&path, "\n").expect("write");
        assert!(read_secret(Some(path.clone()), None).is_err());
        assert!(read_secret(Some(path), Some("x".into())).is_err());
        assert!(read_secret(Some(dir.join("missing")), None).is_err());
    }

    #[test]
    fn api_urls_with_credentials_are_refused_without_echoing_them() {
        let error = validate_api_url("https://me:hunter2@example.test/v2").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
        assert!(validate_api_url("ftp://example.test").is_err());
        assert_eq!(
            validate_api_url("http://127.0.0.1:1/v2/").as_deref(),
            Ok("http://127.0.0.1:1/v2")
        );
    }

    #[test]
    fn flag_values_are_checked_where_they_are_parsed() {
        for bad in [
            vec!["--poll.interval", "0s"],
            vec!["--poll.interval", "soon"],
            vec!["--corbado.timeout", "0ms"],
            vec!["--poll.strategy", "guess"],
            vec!["--sessions.windows", "15m,,1h"],
            vec!["--sessions.windows", "1500ms"],
            vec!["--sessions.windows", "1h,60m"],
            vec!["--corbado.page-size", "0"],
            vec!["--corbado.concurrency", "0"],
            vec!["--corbado.max-requests-per-second", "-1.5"],
            vec!["--corbado.max-requests-per-second", "1e-30"],
            vec!["--web.listen-address", "9877"],
            vec!["--web.telemetry-path", "metrics"],
            vec!["--web.telemetry-path", "/-/ready"],
            vec!["--log.level", "loud"],
        ] {
            let joined = format!("{}={}", bad[0], bad[1]);
            let argv = vec!["corbado-exporter", "--demo", joined.as_str()];
            let error = Cli::try_parse_from(&argv).expect_err(&format!("{bad:?} should fail"));
            assert!(
                error.to_string().contains(bad[0]),
                "{bad:?}: error should name the flag: {error}"
            );
        }
    }

    #[test]
    fn listen_addresses_accept_go_and_rust_forms() {
        assert_eq!(parse_listen_address(":9877").as_deref(), Ok("0.0.0.0:9877"));
        assert_eq!(
            parse_listen_address("127.0.0.1:0").as_deref(),
            Ok("127.0.0.1:0")
        );
        assert_eq!(
            parse_listen_address("[::1]:9877").as_deref(),
            Ok("[::1]:9877")
        );
        assert!(parse_listen_address("localhost").is_err());
    }
}
