//! The value types of the settings and the one parser of each: the same function checks a
//! flag (through clap) and a config file's key (through [`super::file`]), so that both refuse
//! the same values with the same words. A parser's error never repeats the value it was given
//! (the value may be a secret pasted into the wrong place); clap adds it for flags, where the
//! user typed it.
//!
//! [`FileValue`] is the way back: each value as a config file would hold it, for `/config`.

use std::path::PathBuf;
use std::time::Duration;

use crate::aggregate::Windows;
use crate::poller::Strategy;

/// A value as `/config` shows it: what a config file would hold for it.
pub trait FileValue {
    fn file_value(&self) -> serde_json::Value;
}

impl FileValue for String {
    fn file_value(&self) -> serde_json::Value {
        self.as_str().into()
    }
}

impl FileValue for u32 {
    fn file_value(&self) -> serde_json::Value {
        (*self).into()
    }
}

impl FileValue for usize {
    fn file_value(&self) -> serde_json::Value {
        (*self as u64).into()
    }
}

impl FileValue for f64 {
    fn file_value(&self) -> serde_json::Value {
        serde_json::Number::from_f64(*self).map_or(serde_json::Value::Null, Into::into)
    }
}

impl FileValue for Duration {
    fn file_value(&self) -> serde_json::Value {
        humantime::format_duration(*self).to_string().into()
    }
}

impl FileValue for Strategy {
    fn file_value(&self) -> serde_json::Value {
        self.as_str().into()
    }
}

impl FileValue for Windows {
    fn file_value(&self) -> serde_json::Value {
        let labels: Vec<&str> = self.iter().map(|w| w.label.as_str()).collect();
        labels.join(",").into()
    }
}

impl FileValue for CaFile {
    fn file_value(&self) -> serde_json::Value {
        match &self.0 {
            Some(path) => path.display().to_string().into(),
            None => serde_json::Value::Null,
        }
    }
}

/// `--corbado.ca-file` / `ca_file`: a PEM file of extra CA certificates, or none. A type of its
/// own rather than an `Option`, so that every setting has a value and a default (here, `""`:
/// none), which keeps the declaration of settings uniform.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaFile(pub Option<PathBuf>);

pub fn parse_ca_file(text: &str) -> Result<CaFile, String> {
    Ok(CaFile((!text.is_empty()).then(|| PathBuf::from(text))))
}

/// A duration in humantime's syntax (`90s`, `5m`, `1h 30m`), zero allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}

/// A duration greater than zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(duration)
}

/// Requests per second: `0` (no limit) or at least 0.001.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number of requests per second".to_string())?;
    if !rate.is_finite() || rate < 0.0 || (rate > 0.0 && rate < 0.001) {
        return Err("must be zero (no limit) or at least 0.001".into());
    }
    Ok(rate)
}

/// A whole number from `min` to `max`.
pub fn ranged<T: TryFrom<u64>>(text: &str, min: u64, max: u64) -> Result<T, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
}

pub fn parse_strategy(text: &str) -> Result<Strategy, String> {
    <Strategy as clap::ValueEnum>::from_str(text.trim(), false)
        .map_err(|_| "must be one of auto, incremental, filter, scan".to_string())
}

/// An API base URL, trailing slashes dropped. The URL is never echoed back: it may hold
/// credentials someone pasted by mistake.
pub fn parse_api_url(url: &str) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_with_credentials_are_refused_without_echoing_them() {
        let error = parse_api_url("https://me:hunter2@example.test/v2").unwrap_err();
        assert!(!error.contains("hunter2"));
        assert!(parse_api_url("ftp://example.test").is_err());
        assert_eq!(
            parse_api_url("http://127.0.0.1:1/v2/").as_deref(),
            Ok("http://127.0.0.1:1/v2")
        );
    }

    #[test]
    fn parsers_refuse_without_repeating_the_value() {
        for (error, value) in [
            (ranged::<u32>("70000", 1, 1000).unwrap_err(), "70000"),
            (parse_strategy("guess").unwrap_err(), "guess"),
            (parse_rate("lots").unwrap_err(), "lots"),
            (parse_positive_duration("0s").unwrap_err(), "0s"),
        ] {
            assert!(!error.contains(value), "{error}");
        }
        assert_eq!(ranged::<usize>(" 64 ", 1, 64), Ok(64));
        assert_eq!(parse_ca_file(""), Ok(CaFile(None)));
    }

    #[test]
    fn file_values_read_back_as_the_same_value() {
        let duration = Duration::from_secs(5400);
        let shown = duration.file_value();
        assert_eq!(parse_duration(shown.as_str().expect("text")), Ok(duration));
        let windows = crate::aggregate::parse_windows("15m,1h").expect("valid");
        assert_eq!(windows.file_value(), "15m,1h");
        assert_eq!(5.0f64.file_value(), serde_json::json!(5.0));
    }
}
