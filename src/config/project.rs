//! One project's validated settings, whether they came from the flags or from `--config.file`:
//! everything its client, poller and snapshot need. Two `ProjectConfig`s compare equal exactly
//! when a reload may keep that project's poller running.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;
use crate::aggregate::Windows;
use crate::poller::Strategy;
use crate::secret::Secret;

/// One project to poll.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectConfig {
    /// The project ID: the basic-auth user name and the `project_id` label.
    pub id: String,
    pub secret: Secret,
    pub settings: Settings,
}

/// A project's settings besides its ID and secret: the flags' values, or a config file's keys
/// over them.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub api_url: String,
    pub ca: CaBundle,
    pub page_size: u32,
    pub concurrency: usize,
    pub max_requests_per_second: f64,
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub max_staleness: Duration,
    pub strategy: Strategy,
    /// `0`: only when a repair cannot be located.
    pub resync_interval: Duration,
    pub verify_interval: Duration,
    pub change_overlap: Duration,
    pub windows: Windows,
    pub top_k: usize,
}

/// Extra CA certificates for the API (`--corbado.ca-file`, `ca_file`), read and parsed once.
/// Equal when the file's path and bytes are: a reload that finds the same file keeps the poller,
/// one that finds new certificates restarts it.
#[derive(Clone, Debug, Default)]
pub struct CaBundle {
    pub path: Option<PathBuf>,
    pem: Vec<u8>,
    pub certificates: Vec<reqwest::Certificate>,
}

impl PartialEq for CaBundle {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.pem == other.pem
    }
}

impl CaBundle {
    /// The certificates of a CA file: at least one, or an error naming the file. `key` is what
    /// the error names: the flag, or the config file's key.
    pub fn read(path: &Path, key: &'static str) -> Result<CaBundle, ConfigError> {
        let pem = std::fs::read(path).map_err(|e| ConfigError {
            flag: key,
            problem: format!("cannot read {}: {e}", path.display()),
        })?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certificates) if !certificates.is_empty() => Ok(CaBundle {
                path: Some(path.to_owned()),
                pem,
                certificates,
            }),
            _ => Err(ConfigError {
                flag: key,
                problem: format!("{} holds no PEM certificate", path.display()),
            }),
        }
    }
}

impl Settings {
    pub fn window_durations(&self) -> Vec<Duration> {
        self.windows.durations()
    }
}

/// Checks a project ID: not empty, and nothing that would break basic auth or a log line.
pub fn validate_project_id(id: &str) -> Result<String, String> {
    let id = id.trim();
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.contains(':') || id.chars().any(char::is_control) {
        return Err("must not contain ':' or control characters".into());
    }
    Ok(id.to_owned())
}

/// Checks an API base URL and drops trailing slashes. The URL is never echoed back: it may hold
/// credentials someone pasted by mistake.
pub fn validate_api_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "must not contain credentials; the project ID and the API secret are given apart"
                .into(),
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not have a query or fragment; /sessions is appended to it".into());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The secret in a file, less one trailing newline; `key` names the flag or config key.
pub fn read_secret_file(path: &Path, key: &'static str) -> Result<Secret, ConfigError> {
    let error = |problem: String| ConfigError { flag: key, problem };
    let bytes =
        std::fs::read(path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let value = String::from_utf8(less_one_newline(&bytes).to_vec())
        .map_err(|_| error(format!("{} is not UTF-8 text", path.display())))?;
    if value.is_empty() {
        return Err(error(format!("{} is empty", path.display())));
    }
    checked_secret(value, key)
}

/// `bytes` less one trailing newline (`\n` or `\r\n`): what an editor or `echo` adds to a file
/// holding a secret or a key.
pub fn less_one_newline(bytes: &[u8]) -> &[u8] {
    let value = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    value.strip_suffix(b"\r").unwrap_or(value)
}

/// A secret value, refused (without showing it) when it holds control characters.
pub fn checked_secret(value: String, key: &'static str) -> Result<Secret, ConfigError> {
    if value.chars().any(char::is_control) {
        return Err(ConfigError {
            flag: key,
            problem: "the API secret contains control characters".into(),
        });
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_with_credentials_are_refused_without_echoing_them() {
        let error = validate_api_url("https://me:hunter2@example.test/v2").unwrap_err();
        assert!(!error.contains("hunter2"));
        assert!(validate_api_url("ftp://example.test").is_err());
        assert_eq!(
            validate_api_url("http://127.0.0.1:1/v2/").as_deref(),
            Ok("http://127.0.0.1:1/v2")
        );
    }

    #[test]
    fn the_secret_file_loses_its_trailing_newline_only() {
        let dir = std::env::temp_dir().join(format!("corbado-project-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("secret");
        std::fs::write(&path, "  s3cr3t \n").expect("write");
        let secret = read_secret_file(&path, "key").expect("readable");
        assert_eq!(secret.expose(), "  s3cr3t ");
        std::fs::write(&path, "\n").expect("write");
        assert!(read_secret_file(&path, "key").is_err());
        assert!(read_secret_file(&dir.join("missing"), "key").is_err());
    }

    #[test]
    fn project_ids_that_would_break_basic_auth_are_refused() {
        assert_eq!(validate_project_id(" pro-1 ").as_deref(), Ok("pro-1"));
        assert!(validate_project_id("").is_err());
        assert!(validate_project_id("pro:1").is_err());
        assert!(validate_project_id("pro\n1").is_err());
    }
}
