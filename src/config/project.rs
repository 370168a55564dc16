//! One project's validated settings, whether they came from the flags or from `--config.file`:
//! everything its client, poller and snapshot need. Two `ProjectConfig`s compare equal exactly
//! when a reload may keep that project's poller running.

use std::path::{Path, PathBuf};

use super::values::CaFile;
use super::ConfigError;
use crate::secret::Secret;

pub use super::settings::Settings;

/// One project to poll.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectConfig {
    /// The project ID: the basic-auth user name and the `project_id` label.
    pub id: String,
    pub secret: Secret,
    /// Where the secret came from: what `/config` shows in its place.
    pub secret_source: SecretSource,
    /// The certificates of `settings.ca_file`, read when the settings were.
    pub ca: CaBundle,
    pub settings: Settings,
}

/// Where a project's secret is read from, as a config file would name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `api_secret_file` (`--corbado.api-secret-file`).
    File(PathBuf),
    /// `api_secret_env` (`CORBADO_API_SECRET` for the flags' project).
    Env(String),
    /// Handed over by the program itself (`--demo`, tests): shown as `[redacted]`.
    Given,
}

impl SecretSource {
    /// The config file's key for this source.
    pub fn key(&self) -> &'static str {
        match self {
            SecretSource::File(_) => "api_secret_file",
            SecretSource::Env(_) => "api_secret_env",
            SecretSource::Given => "api_secret",
        }
    }
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
    /// The certificates of `file`, or none when no file is set. `key` is what an error names:
    /// the flag, or the config file's key.
    pub fn of(file: &CaFile, key: &'static str) -> Result<CaBundle, ConfigError> {
        match &file.0 {
            Some(path) => CaBundle::read(path, key),
            None => Ok(CaBundle::default()),
        }
    }

    /// The certificates of a CA file: at least one, or an error naming the file.
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
    fn the_secret_file_loses_its_trailing_newline_only() {
        let scratch = tempfile::Builder::new()
            .prefix("corbado-project-")
            .tempdir()
            .expect("a temporary folder");
        let dir = scratch.path();
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
