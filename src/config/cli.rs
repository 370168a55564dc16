//! The command line as clap parses it: flags, subcommands, and the checks a single value can
//! make on its own (the low level; [`super::Config`] is the validated high level).
//!
//! Reads no file and no environment beyond what clap's `env` attributes name; the API secret is
//! deliberately not one of them (clap would print its value in `--help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::settings::Settings;
use super::values::parse_positive_duration;

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
    /// Print the user_id label value of a user ID: its pseudonym with --per-user.id-key-file,
    /// so that an operator can find one user in the per-user series.
    UserLabel(UserLabelArgs),
    /// Check each project before deploying: credentials, whether the API honours filters, the
    /// counts, and what each strategy would cost per poll. Takes the exporter's flags (or
    /// --config.file, or --demo). Exit 0 when every project can be polled, 1 otherwise.
    Check(Box<CheckArgs>),
    /// Ask a running exporter whether it is healthy (exit 0) or not (exit 1): for container
    /// HEALTHCHECKs, which have no shell or curl in a distroless image.
    Healthcheck(HealthcheckArgs),
}

/// `corbado-exporter check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// How to print the result: a table for people, or JSON for scripts.
    #[arg(
        long = "output",
        value_enum,
        default_value = "table",
        value_name = "FORMAT"
    )]
    pub output: CheckOutput,

    #[command(flatten)]
    pub exporter: ExporterArgs,
}

/// `check --output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckOutput {
    Table,
    Json,
}

/// `corbado-exporter user-label`.
#[derive(Debug, Args)]
pub struct UserLabelArgs {
    /// The key file the exporter uses (--per-user.id-key-file).
    #[arg(
        long = "per-user.id-key-file",
        env = "CORBADO_EXPORTER_USER_ID_KEY_FILE",
        value_name = "PATH"
    )]
    pub id_key_file: Option<PathBuf>,

    /// As the exporter's --per-user.max-id-length (used only without a key).
    #[arg(long = "per-user.max-id-length", default_value_t = 128, value_parser = clap::value_parser!(u32).range(16..=4096), value_name = "BYTES")]
    pub max_id_length: u32,

    /// The user ID (Corbado's userID) to look up.
    #[arg(value_name = "USER_ID")]
    pub user_id: String,
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

    /// The per-project settings (`config/settings.rs`): for the flags' project, and for every
    /// project of --config.file that leaves the key out.
    #[command(flatten)]
    pub settings: Settings,

    /// A user ID longer than this many bytes is exported as sha256: plus the first 16 hex
    /// digits of its SHA-256, so no label value can get a scrape rejected.
    #[arg(long = "per-user.max-id-length", default_value_t = 128, value_parser = clap::value_parser!(u32).range(16..=4096), value_name = "BYTES")]
    pub max_user_id_length: u32,

    /// File holding a key (its bytes, less one trailing newline): user_id label values become
    /// pseudonyms, the first 16 hex digits of HMAC-SHA256(key, user ID). Find a user's with
    /// `corbado-exporter user-label`.
    #[arg(
        long = "per-user.id-key-file",
        env = "CORBADO_EXPORTER_USER_ID_KEY_FILE",
        value_name = "PATH"
    )]
    pub user_id_key_file: Option<PathBuf>,

    /// Address to listen on for the web interface and telemetry; may be repeated: every
    /// address serves the same routes (TLS alike).
    #[arg(long = "web.listen-address", default_value = ":9877", value_parser = parse_listen_address, value_name = "ADDR", action = clap::ArgAction::Append)]
    pub listen_addresses: Vec<String>,

    /// Serve on the sockets systemd passes (socket activation, LISTEN_FDS) instead of
    /// --web.listen-address (Linux).
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// The URL under which the exporter is reached, behind a reverse proxy say
    /// (https://ops.example.com/corbado/): links on its pages use it, and its path is the
    /// default --web.route-prefix.
    #[arg(long = "web.external-url", value_parser = parse_external_url, value_name = "URL")]
    pub external_url: Option<reqwest::Url>,

    /// Prefix of every route (metrics, status pages, health, ready and reload endpoints)
    /// [default: the path of --web.external-url, else /].
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub route_prefix: Option<String>,

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

    /// Leave out the process metrics (process_*: CPU, memory, file descriptors, start time).
    #[arg(long = "web.disable-exporter-metrics")]
    pub disable_exporter_metrics: bool,

    /// OpenMetrics only: add the _created sample of every counter and histogram. Off by
    /// default because a Prometheus without the created-timestamp-zero-ingestion feature (its
    /// default) stores each _created line as a series of its own.
    #[arg(long = "web.enable-created-samples")]
    pub enable_created_samples: bool,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_name = "LEVEL")]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Poll the built-in simulated Corbado API instead of the real one; needs no credentials.
    #[arg(long = "demo")]
    pub demo: bool,

    /// YAML file of the projects to poll, each with its own secret and settings (see
    /// docs/configuration.md, "Several projects"). Not beside --corbado.project-id, a secret flag or --demo.
    #[arg(
        long = "config.file",
        env = "CORBADO_EXPORTER_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub config_file: Option<PathBuf>,

    /// How often --config.file and the secret and CA files it names are checked for a change
    /// of content; a change reloads as SIGHUP does. 0 = only SIGHUP and POST /-/reload.
    #[arg(long = "config.auto-reload-interval", default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub auto_reload_interval: Duration,

    /// This instance's shard among --total-shards, or auto: the number after the last '-' of
    /// the host name (a StatefulSet pod's ordinal).
    #[arg(long = "shard", default_value = "0", value_parser = parse_shard, value_name = "N|auto")]
    pub shard: ShardArg,

    /// Instances that share the projects of --config.file; each polls the projects whose shard
    /// is its own.
    #[arg(long = "total-shards", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N")]
    pub total_shards: u32,

    /// Accept POST /-/reload (re-read --config.file and --web.config.file).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Directory where each project's active set and last sync are kept, so that a restart
    /// resumes instead of resyncing; unset keeps nothing. The files hold user IDs: keep the
    /// directory readable by the exporter alone.
    #[arg(
        long = "storage.path",
        env = "CORBADO_EXPORTER_STORAGE_PATH",
        value_name = "DIR"
    )]
    pub storage_path: Option<PathBuf>,

    /// How often each project's state is written to --storage.path, besides at shutdown.
    #[arg(long = "storage.save-interval", default_value = "5m", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub storage_save_interval: Duration,
}

/// `--shard`: a number, or `auto` (from the host name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardArg {
    Ordinal(u32),
    Auto,
}

fn parse_shard(text: &str) -> Result<ShardArg, String> {
    if text == "auto" {
        return Ok(ShardArg::Auto);
    }
    text.parse()
        .map(ShardArg::Ordinal)
        .map_err(|_| "expected a shard number or auto".into())
}

/// The ordinal in a host name such as `corbado-exporter-2`: the number after the last `-`.
pub fn ordinal_of_hostname(host: &str) -> Result<u32, String> {
    host.rsplit_once('-')
        .and_then(|(_, ordinal)| ordinal.parse().ok())
        .ok_or_else(|| {
            format!("host name {host:?} does not end in -<number> (a StatefulSet pod's name does)")
        })
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

    /// Project ID the simulator accepts [default: the demo's, pro-demo] (the API secret comes
    /// from CORBADO_API_SECRET, or is `demo-secret`).
    #[arg(long = "project-id", value_name = "ID")]
    pub project_id: Option<String>,

    /// Keep the population as generated instead of evolving it in real time.
    #[arg(long)]
    pub frozen: bool,

    /// Unverified API behaviour: ending a session (logout, inactivity, revocation, expiry)
    /// leaves `updated` alone.
    #[arg(long = "ended-keeps-updated")]
    pub ended_keeps_updated: bool,

    /// Unverified API behaviour: no job expires sessions; one past its expiry stays active until
    /// its user comes back.
    #[arg(long = "lazy-expiry")]
    pub lazy_expiry: bool,

    /// Unverified API behaviour: revoking a session deletes it from the list.
    #[arg(long = "delete-revoked")]
    pub delete_revoked: bool,

    /// Unverified API behaviour: ended sessions are re-activated by PATCH while others end,
    /// neither moving `updated` nor any count (about 1% of the active sessions an hour).
    #[arg(long = "reactivate-by-patch")]
    pub reactivate_by_patch: bool,

    /// Unverified API behaviour: `updated` is stamped this far behind the clock (clock skew).
    #[arg(long = "updated-lag", default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub updated_lag: Duration,

    #[arg(long = "log.level", default_value = "info", value_name = "LEVEL")]
    pub log_level: LogLevel,
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

/// `--web.external-url`: an absolute http(s) URL, with no credentials, query or fragment.
fn parse_external_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url)
}

/// The pages the server serves besides the telemetry path (and `/-/…`).
const PAGES: [&str; 3] = ["/config", "/logs", "/runbook"];

fn parse_telemetry_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text == "/" {
        return Err("must start with '/' and not be '/' itself".into());
    }
    if text.starts_with("/-/") {
        return Err("paths under /-/ are reserved for health endpoints".into());
    }
    if PAGES.contains(&text) {
        return Err(format!("{text} is the exporter's own page"));
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
            vec!["--web.telemetry-path", "/logs"],
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
    fn shard_auto_takes_the_number_after_the_last_dash() {
        assert_eq!(ordinal_of_hostname("corbado-exporter-2"), Ok(2));
        assert_eq!(ordinal_of_hostname("web-0"), Ok(0));
        assert!(ordinal_of_hostname("corbado-exporter").is_err());
        assert!(ordinal_of_hostname("exporter7").is_err());
        assert!(ordinal_of_hostname("exporter-").is_err());
        assert_eq!(parse_shard("auto"), Ok(ShardArg::Auto));
        assert_eq!(parse_shard("4"), Ok(ShardArg::Ordinal(4)));
        assert!(parse_shard("-1").is_err());
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
