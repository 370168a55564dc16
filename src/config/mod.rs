//! Command line and environment → a validated [`Config`].
//!
//! Two steps, as ripgrep does it: clap parses flags into [`cli::Cli`] (types and single-flag
//! checks, with clap's error format), then [`Config::from_cli`] does what needs several flags or
//! the outside world (the secret, the CA file, the web config file, `--config.file`, the shard).
//! Each file is read and parsed once, here; once a `Config` exists it is valid and nothing
//! downstream checks flags again. Only the wiring (`app/`), `check` and `main` use this module: every
//! other part receives its own settings type, built from a `Config` by the wiring.
//!
//! - [`cli`]: the flags as clap parses them.
//! - [`project`]: one project's settings ([`ProjectConfig`]), from the flags or from a file.
//! - [`file`]: `--config.file`, several projects in YAML, read again on every reload.
//!
//! An API secret is read only from `CORBADO_API_SECRET`, `--corbado.api-secret-file`, or the
//! file or variable a config file names: never from the command line or the config file itself.

pub mod cli;
pub(crate) mod declare;
pub mod effective;
pub mod file;
pub mod project;
mod seeds;
pub mod settings;
pub mod values;

use std::time::Duration;

use crate::clock::Clock;
use crate::corbado::RetryPolicy;
use crate::metrics::{PageOptions, PseudonymKey};
use crate::secret::Secret;
use crate::server::{Limits, Paths};
use crate::shard::Shard;
use crate::web_config::WebConfigFile;
pub use cli::{
    CheckArgs, CheckOutput, Cli, Command, ExporterArgs, HealthcheckArgs, LogFormat, LogLevel,
    SimulatorArgs, UserLabelArgs,
};
pub use effective::InstanceView;
pub use file::ConfigFile;
pub use project::{CaBundle, ProjectConfig, SecretSource};
pub use settings::{Settings, DEFAULT_API_URL};

/// Environment variable holding the API secret.
pub const SECRET_ENV: &str = "CORBADO_API_SECRET";

/// Where the projects to poll come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// One project named by the flags; its settings are [`Config::settings`].
    Flags {
        project_id: String,
        secret: Secret,
        secret_source: SecretSource,
    },
    /// The built-in simulator, started by the exporter itself.
    Demo,
    /// `--config.file`, and the projects it held when it was read (all of them, before sharding).
    File {
        file: ConfigFile,
        projects: Vec<ProjectConfig>,
    },
}

/// The exporter's validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub source: Source,
    /// The per-project flags: the settings of the flags' project and of `--demo`, and what
    /// every key a config file leaves out means.
    pub settings: Settings,
    /// The certificates of `settings.ca_file`, read at start.
    pub ca: CaBundle,
    /// `--shard` and `--total-shards`.
    pub shard: Shard,
    /// `--web.enable-lifecycle`: accept `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// `--per-user.max-id-length`.
    pub max_user_id_length: usize,
    /// `--per-user.id-key-file`, read at start.
    pub user_id_key: Option<PseudonymKey>,
    /// `--web.listen-address`, each once; ignored with `systemd_socket`.
    pub listen_addresses: Vec<String>,
    /// `--web.systemd-socket`: serve on the sockets systemd passes.
    pub systemd_socket: bool,
    /// `--web.telemetry-path` under `--web.route-prefix`, and links made from
    /// `--web.external-url`.
    pub paths: Paths,
    /// `--web.disable-exporter-metrics` and `--web.enable-created-samples`.
    pub page: PageOptions,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// Retry and backoff; not a flag (the defaults suit the API), set by tests.
    pub retry: RetryPolicy,
    /// `--web.config.file`, as read at start.
    pub web_config: Option<WebConfigFile>,
    /// Limits against hostile clients; only `max_requests` is a flag.
    pub limits: Limits,
    /// Where the poller's "now" comes from: the system clock, except in tests that drive it.
    pub clock: Clock,
    /// `--storage.path` and `--storage.save-interval`.
    pub storage: Option<Storage>,
    /// `--config.auto-reload-interval`; zero: no content check.
    pub auto_reload_interval: std::time::Duration,
}

/// Where each project's state is kept across restarts, and how often it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    pub dir: std::path::PathBuf,
    pub save_interval: std::time::Duration,
}

/// A configuration problem: the flag (or variable, or config key) and what is wrong with it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for '{flag}': {problem}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub problem: String,
}

impl Config {
    /// Validates the parsed flags. `env_secret` is the value of `CORBADO_API_SECRET`, passed in
    /// so tests need not touch the process environment; the variables a config file's
    /// `api_secret_env` names are read from the process environment.
    pub fn from_cli(args: ExporterArgs, env_secret: Option<String>) -> Result<Config, ConfigError> {
        let env_secret = env_secret.filter(|v| !v.is_empty());
        let settings = args.settings.clone();
        let ca = CaBundle::of(&settings.ca_file, "--corbado.ca-file")?;
        let source = source(&args, env_secret, &settings)?;
        let shard = shard(&args, &source)?;
        Ok(Config {
            source,
            settings,
            ca,
            shard,
            enable_lifecycle: args.enable_lifecycle,
            max_user_id_length: args.max_user_id_length as usize,
            user_id_key: args
                .user_id_key_file
                .as_deref()
                .map(read_key_file)
                .transpose()?,
            listen_addresses: once_each(args.listen_addresses),
            systemd_socket: args.systemd_socket,
            paths: Paths::new(
                &args.telemetry_path,
                args.route_prefix.as_deref(),
                args.external_url.as_ref(),
            )
            .map_err(|e| ConfigError {
                flag: "--web.route-prefix",
                problem: e.to_string(),
            })?,
            page: PageOptions {
                process_metrics: !args.disable_exporter_metrics,
                created_samples: args.enable_created_samples,
            },
            log_level: args.log_level,
            log_format: args.log_format,
            retry: RetryPolicy::default(),
            web_config: args
                .web_config_file
                .map(WebConfigFile::load)
                .transpose()
                .map_err(|e| ConfigError {
                    flag: "--web.config.file",
                    problem: e.to_string(),
                })?,
            limits: Limits {
                max_requests: args.max_requests as usize,
                ..Limits::default()
            },
            clock: Clock::System,
            auto_reload_interval: args.auto_reload_interval,
            storage: args.storage_path.map(|dir| Storage {
                dir,
                save_interval: args.storage_save_interval,
            }),
        })
    }

    /// The configuration the flags give with no flag at all, for one project with `settings`,
    /// listening on a port of loopback the system picks: what tests and benches start from.
    pub fn for_project(project_id: &str, secret: Secret, settings: Settings) -> Config {
        use clap::Parser as _;
        let argv = [
            "corbado-exporter",
            "--demo",
            "--web.listen-address",
            "127.0.0.1:0",
        ];
        let flags = Cli::parse_from(argv).exporter;
        let mut config = Config::from_cli(flags, None).expect("the built-in defaults are valid");
        config.source = Source::Flags {
            project_id: project_id.to_owned(),
            secret,
            secret_source: SecretSource::Given,
        };
        // The CA bundle goes with the settings that name it.
        config.ca = CaBundle::of(&settings.ca_file, "--corbado.ca-file")
            .expect("the CA file the settings name is readable");
        config.settings = settings;
        config
    }

    /// The projects this instance polls, as configured now: the flags' one, or those of the
    /// config file that fall to this shard. Empty in `--demo`, whose project exists only once
    /// its simulator listens.
    pub fn projects(&self) -> Vec<ProjectConfig> {
        match &self.source {
            Source::Flags {
                project_id,
                secret,
                secret_source,
            } => vec![ProjectConfig {
                id: project_id.clone(),
                secret: secret.clone(),
                secret_source: secret_source.clone(),
                ca: self.ca.clone(),
                settings: self.settings.clone(),
            }],
            Source::Demo => Vec::new(),
            Source::File { projects, .. } => projects
                .iter()
                .filter(|p| self.shard.owns(&p.id))
                .cloned()
                .collect(),
        }
    }

    pub fn window_durations(&self) -> Vec<Duration> {
        self.settings.window_durations()
    }
}

/// `--demo`, `--config.file` or the flags' project, each refused beside the others' flags.
fn source(
    args: &ExporterArgs,
    env_secret: Option<String>,
    settings: &Settings,
) -> Result<Source, ConfigError> {
    if let Some(path) = &args.config_file {
        let beside = [
            (args.demo, "--demo"),
            (
                args.project_id.is_some(),
                "--corbado.project-id (or CORBADO_PROJECT_ID)",
            ),
            (env_secret.is_some(), SECRET_ENV),
            (
                args.api_secret_file.is_some(),
                "--corbado.api-secret-file (or CORBADO_API_SECRET_FILE)",
            ),
        ];
        if let Some((_, what)) = beside.iter().find(|(given, _)| *given) {
            return Err(ConfigError {
                flag: "--config.file",
                problem: format!(
                    "cannot be combined with {what}: the file names every project and its secret"
                ),
            });
        }
        let file = ConfigFile { path: path.clone() };
        let projects = file.load(settings, &|name| std::env::var(name).ok())?;
        return Ok(Source::File { file, projects });
    }
    if args.demo {
        return Ok(Source::Demo);
    }
    let project_id = args
        .project_id
        .as_deref()
        .ok_or("required unless --demo or --config.file is given (or set CORBADO_PROJECT_ID)")
        .map_err(str::to_owned)
        .and_then(project::validate_project_id)
        .map_err(|problem| ConfigError {
            flag: "--corbado.project-id",
            problem,
        })?;
    let (secret, secret_source) = read_secret(args.api_secret_file.as_deref(), env_secret)?;
    Ok(Source::Flags {
        project_id,
        secret,
        secret_source,
    })
}

/// `--shard` and `--total-shards`: `auto` read from the host name, and checked against each other.
fn shard(args: &ExporterArgs, source: &Source) -> Result<Shard, ConfigError> {
    let total = args.total_shards;
    if total > 1 && !matches!(source, Source::File { .. }) {
        return Err(ConfigError {
            flag: "--total-shards",
            problem: "sharding shares the projects of a --config.file; give one".into(),
        });
    }
    let ordinal = match &args.shard {
        cli::ShardArg::Ordinal(n) => *n,
        cli::ShardArg::Auto => {
            let host = hostname().map_err(|e| ConfigError {
                flag: "--shard",
                problem: format!("auto: cannot read the host name: {e}"),
            })?;
            cli::ordinal_of_hostname(&host).map_err(|problem| ConfigError {
                flag: "--shard",
                problem: format!("auto: {problem}"),
            })?
        }
    };
    if ordinal >= total {
        return Err(ConfigError {
            flag: "--shard",
            problem: format!("shard {ordinal} is not below --total-shards {total}"),
        });
    }
    Ok(Shard { ordinal, total })
}

/// The host name as the system reports it (`gethostname`): in a StatefulSet, the pod's name.
#[cfg(unix)]
fn hostname() -> std::io::Result<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the pointer and length describe `buffer`, which outlives the call; gethostname
    // writes at most that many bytes.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8(buffer[..end].to_vec())
        .map_err(|_| std::io::Error::other("the host name is not UTF-8"))
}

#[cfg(not(unix))]
fn hostname() -> std::io::Result<String> {
    std::env::var("COMPUTERNAME").map_err(std::io::Error::other)
}

/// The pseudonym key of `--per-user.id-key-file`: the file's bytes less one trailing newline,
/// at least 16 of them.
pub fn read_key_file(path: &std::path::Path) -> Result<PseudonymKey, ConfigError> {
    let error = |problem: String| ConfigError {
        flag: "--per-user.id-key-file",
        problem,
    };
    let bytes =
        std::fs::read(path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let key = project::less_one_newline(&bytes);
    if key.len() < 16 {
        return Err(error(format!(
            "{} holds {} bytes; a key needs at least 16 (e.g. `openssl rand -hex 32`)",
            path.display(),
            key.len()
        )));
    }
    Ok(PseudonymKey::new(key))
}

/// The flags' project's secret, and where it came from.
fn read_secret(
    file: Option<&std::path::Path>,
    env: Option<String>,
) -> Result<(Secret, SecretSource), ConfigError> {
    match (file, env) {
        (Some(_), Some(_)) => Err(ConfigError {
            flag: "--corbado.api-secret-file",
            problem: "give the secret either in a file or in CORBADO_API_SECRET, not both".into(),
        }),
        (Some(path), None) => Ok((
            project::read_secret_file(path, "--corbado.api-secret-file")?,
            SecretSource::File(path.to_owned()),
        )),
        (None, Some(value)) => Ok((
            project::checked_secret(value, SECRET_ENV)?,
            SecretSource::Env(SECRET_ENV.to_owned()),
        )),
        (None, None) => Err(ConfigError {
            flag: SECRET_ENV,
            problem: "the API secret is required unless --demo is given: set \
                      CORBADO_API_SECRET or --corbado.api-secret-file"
                .into(),
        }),
    }
}

/// `addresses` in their order, each once: an address given twice is listened on once, not
/// refused as already in use by ourselves.
fn once_each(addresses: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    addresses
        .into_iter()
        .filter(|address| seen.insert(address.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser as _;

    fn args(extra: &[&str]) -> ExporterArgs {
        let mut argv = vec!["corbado-exporter"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("flags parse").exporter
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::from_cli(args(&["--demo"]), None).expect("valid");
        assert!(matches!(config.source, Source::Demo));
        // The flags' defaults are the declared ones (whose values settings.rs pins).
        assert_eq!(config.settings, Settings::default());
        assert_eq!(config.max_user_id_length, 128);
        assert_eq!(config.listen_addresses, ["0.0.0.0:9877"]);
        let twice = ["b:1", "a:2", "b:1"].map(String::from).to_vec();
        assert_eq!(
            once_each(twice),
            ["b:1", "a:2"],
            "the first keeps its place"
        );
        assert!(!config.systemd_socket);
        assert_eq!(config.paths, Paths::root("/metrics"));
        assert_eq!(config.shard, Shard::ALONE);
        assert!(!config.enable_lifecycle);
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
        let projects = config.projects();
        assert_eq!(projects.len(), 1);
        assert_eq!(projects[0].id, "pro-1");
        assert_eq!(projects[0].secret.expose(), "s3cr3t");
    }

    #[test]
    fn a_secret_in_a_file_and_in_the_environment_is_refused() {
        let scratch = tempfile::Builder::new()
            .prefix("corbado-cfg-")
            .tempdir()
            .expect("a temporary folder");
        let dir = scratch.path();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cr3t\n").expect("write");
        assert_eq!(
            read_secret(Some(&path), None).expect("readable").0.expose(),
            "s3cr3t"
        );
        assert!(read_secret(Some(&path), Some("x".into())).is_err());
    }

    #[test]
    fn a_config_file_is_refused_beside_the_flags_of_a_single_project() {
        let scratch = tempfile::Builder::new()
            .prefix("corbado-cfg-file-")
            .tempdir()
            .expect("a temporary folder");
        let dir = scratch.path();
        let path = dir.join("projects.yml");
        std::fs::write(&path, "projects: []\n").expect("write");
        let file = path.to_str().expect("utf-8 path");
        for (extra, secret, named) in [
            (vec!["--demo"], None, "--demo"),
            (
                vec!["--corbado.project-id", "pro-1"],
                None,
                "--corbado.project-id",
            ),
            (vec![], Some("s3cr3t".to_owned()), SECRET_ENV),
            (
                vec!["--corbado.api-secret-file", file],
                None,
                "--corbado.api-secret-file",
            ),
        ] {
            let mut argv = vec!["--config.file", file];
            argv.extend(extra);
            let error = Config::from_cli(args(&argv), secret).unwrap_err();
            assert_eq!(error.flag, "--config.file");
            assert!(error.problem.contains(named), "{error}");
        }
        let config = Config::from_cli(args(&["--config.file", file]), None).expect("valid");
        assert!(config.projects().is_empty());
    }

    #[test]
    fn shards_need_a_config_file_and_an_ordinal_below_the_total() {
        let error = Config::from_cli(args(&["--demo", "--total-shards", "2"]), None).unwrap_err();
        assert_eq!(error.flag, "--total-shards");
        let scratch = tempfile::Builder::new()
            .prefix("corbado-cfg-shard-")
            .tempdir()
            .expect("a temporary folder");
        let dir = scratch.path();
        let path = dir.join("projects.yml");
        std::fs::write(&path, "projects: []\n").expect("write");
        let file = path.to_str().expect("utf-8 path");
        let error = Config::from_cli(
            args(&["--config.file", file, "--shard", "3", "--total-shards", "3"]),
            None,
        )
        .unwrap_err();
        assert_eq!(error.flag, "--shard");
        let config = Config::from_cli(
            args(&["--config.file", file, "--shard", "2", "--total-shards", "3"]),
            None,
        )
        .expect("valid");
        assert_eq!(
            config.shard,
            Shard {
                ordinal: 2,
                total: 3
            }
        );
    }
}
