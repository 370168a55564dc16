//! Command line and environment → a validated [`Config`].
//!
//! Two steps, as ripgrep does it: clap parses flags into [`cli::Cli`] (types and single-flag
//! checks, with clap's error format), then [`Config::from_cli`] does what needs several flags or
//! the outside world (the secret, the CA file, the web config file, the project ID unless
//! `--demo`). Each file is read and parsed once, here; once a `Config` exists it is valid and
//! nothing downstream checks flags again. Only the wiring (`app.rs`) and `main` use this module:
//! every other part receives its own settings type, built from a `Config` by the wiring.
//!
//! The API secret is read only from `CORBADO_API_SECRET` or `--corbado.api-secret-file`.

pub mod cli;

use std::path::PathBuf;
use std::time::Duration;

use crate::aggregate::Windows;
use crate::clock::Clock;
use crate::corbado::RetryPolicy;
use crate::poller::Strategy;
use crate::secret::Secret;
use crate::server::Limits;
use crate::web_config::WebConfigFile;
pub use cli::{Cli, Command, ExporterArgs, HealthcheckArgs, LogFormat, LogLevel, SimulatorArgs};

/// Environment variable holding the API secret.
pub const SECRET_ENV: &str = "CORBADO_API_SECRET";

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
    pub resync_interval: Duration,
    pub change_overlap: Duration,
    pub windows: Windows,
    pub top_k: usize,
    /// `--per-user.max-id-length`.
    pub max_user_id_length: usize,
    pub listen_address: String,
    pub telemetry_path: String,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// Retry and backoff; not a flag (the defaults suit the API), set by tests.
    pub retry: RetryPolicy,
    /// Extra CA certificates for the API (`--corbado.ca-file`), read and parsed once.
    pub ca_certificates: Vec<reqwest::Certificate>,
    /// `--web.config.file`, as read at start.
    pub web_config: Option<WebConfigFile>,
    /// Limits against hostile clients; only `max_requests` is a flag.
    pub limits: Limits,
    /// Where the poller's "now" comes from: the system clock, except in tests that drive it.
    pub clock: Clock,
}

/// A configuration problem: the flag (or variable) and what is wrong with it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for '{flag}': {problem}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub problem: String,
}

impl Config {
    /// Validates the parsed flags. `env_secret` is the value of `CORBADO_API_SECRET`, passed in
    /// so tests need not touch the process environment.
    pub fn from_cli(args: ExporterArgs, env_secret: Option<String>) -> Result<Config, ConfigError> {
        let source = if args.demo {
            Source::Demo
        } else {
            Source::Corbado {
                api_url: validate_api_url(&args.api_url)?,
                project_id: validate_project_id(args.project_id)?,
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
            resync_interval: args.resync_interval,
            change_overlap: args.change_overlap,
            windows: args.windows,
            top_k: args.top_k as usize,
            max_user_id_length: args.max_user_id_length as usize,
            listen_address: args.listen_address,
            telemetry_path: args.telemetry_path,
            log_level: args.log_level,
            log_format: args.log_format,
            retry: RetryPolicy::default(),
            ca_certificates: args
                .ca_file
                .map(|path| read_ca_file(&path))
                .transpose()?
                .unwrap_or_default(),
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
        })
    }

    pub fn window_durations(&self) -> Vec<Duration> {
        self.windows.durations()
    }
}

fn validate_project_id(id: Option<String>) -> Result<String, ConfigError> {
    let error = |problem: &str| ConfigError {
        flag: "--corbado.project-id",
        problem: problem.into(),
    };
    let id = id
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| error("required unless --demo is given (or set CORBADO_PROJECT_ID)"))?;
    if id.contains(':') || id.chars().any(char::is_control) {
        return Err(error("must not contain ':' or control characters"));
    }
    Ok(id)
}

/// The certificates of a `--corbado.ca-file`: at least one, or an error naming the file.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| ConfigError {
        flag: "--corbado.ca-file",
        problem: format!("cannot read {}: {e}", path.display()),
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(ConfigError {
            flag: "--corbado.ca-file",
            problem: format!("{} holds no PEM certificate", path.display()),
        }),
    }
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
        assert_eq!(config.page_size, 100);
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.max_requests_per_second, 5.0);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.poll_interval, Duration::from_secs(60));
        assert_eq!(config.max_staleness, Duration::from_secs(300));
        assert_eq!(config.strategy, Strategy::Auto);
        let labels: Vec<&str> = config.windows.iter().map(|w| w.label.as_str()).collect();
        assert_eq!(labels, ["15m", "1h", "24h"]);
        assert_eq!(config.top_k, 10);
        assert_eq!(config.max_user_id_length, 128);
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
                assert_eq!(api_url, cli::DEFAULT_API_URL);
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
}
