//! The windows of the `*_in_window` gauges: their label as the user wrote it, and their length.
//!
//! Parsing lives here, not in the configuration, because a window's rules (whole seconds, no
//! duplicate lengths) follow from how the aggregation and the API's filters use it.

use std::time::Duration;

/// One `--sessions.windows` entry: the text the user wrote (the `window` label) and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub label: String,
    pub duration: Duration,
}

/// The windows in the order the user listed them, which is the order every per-window vector
/// of a [`super::Summary`] follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windows(pub Vec<Window>);

impl Windows {
    pub fn durations(&self) -> Vec<Duration> {
        self.0.iter().map(|w| w.duration).collect()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Window> {
        self.0.iter()
    }
}

/// Parses a comma-separated list such as `15m,1h,24h`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keep_their_labels_and_refuse_duplicates_and_fractions() {
        let windows = parse_windows("15m, 1h,24h").expect("valid");
        let labels: Vec<&str> = windows.iter().map(|w| w.label.as_str()).collect();
        assert_eq!(labels, ["15m", "1h", "24h"]);
        assert_eq!(windows.durations()[1], Duration::from_secs(3600));
        assert!(parse_windows("1h,60m").is_err());
        assert!(parse_windows("1500ms").is_err());
        assert!(parse_windows("15m,,1h").is_err());
    }
}
