//! The per-project settings, each declared once: its field and type, flag, environment
//! variable, default, value name, parser and help. From this one list come the flags (and
//! their `--help`), the keys of `--config.file` (for `projects[]` and `defaults:`), their
//! layering, `/config`, and the configuration tables of the docs (`docs/configuration.md`).
//!
//! Adding a setting: declare it here, and use it where it acts (`app/fleet.rs` hands each
//! setting to the part that needs it). Nothing else.

use std::time::Duration;

use super::declare::declare_settings;
use super::values::{
    parse_api_url, parse_ca_file, parse_duration, parse_positive_duration, parse_rate,
    parse_strategy, ranged, CaFile,
};
use crate::aggregate::{parse_windows, Windows};
use crate::poller::Strategy;

/// The real API.
pub const DEFAULT_API_URL: &str = "https://backendapi.cloud.corbado.io/v2";

declare_settings! {
    /// Base URL of the Corbado Backend API; `/sessions` is appended.
    api_url: String {
        flag: "corbado.api-url",
        env: "CORBADO_API_URL",
        default: DEFAULT_API_URL,
        value_name: "URL",
        parse: parse_api_url,
    },
    /// PEM file of CA certificates to trust for the Corbado API besides the built-in roots (a
    /// TLS-intercepting proxy, say).
    ca_file: CaFile {
        flag: "corbado.ca-file",
        env: "CORBADO_CA_FILE",
        default: "",
        value_name: "PATH",
        parse: parse_ca_file,
    },
    /// Sessions per page, 1 to 1000 (the API is known to accept 100).
    page_size: u32 {
        flag: "corbado.page-size",
        default: "100",
        value_name: "N",
        parse: |text: &str| ranged::<u32>(text, 1, 1000),
    },
    /// Pages in flight at once, 1 to 64.
    concurrency: usize {
        flag: "corbado.concurrency",
        default: "4",
        value_name: "N",
        parse: |text: &str| ranged::<usize>(text, 1, 64),
    },
    /// Client-side limit on requests per second, shared by all requests of the project; 0
    /// means none. Half the 10/s Corbado documents, so that the exporter never gets the
    /// project's own API traffic throttled.
    max_requests_per_second: f64 {
        flag: "corbado.max-requests-per-second",
        default: "5",
        value_name: "RATE",
        parse: parse_rate,
    },
    /// Timeout of one API request.
    timeout: Duration {
        flag: "corbado.timeout",
        default: "10s",
        value_name: "DURATION",
        parse: parse_positive_duration,
    },
    /// Time between the starts of two polls.
    poll_interval: Duration {
        flag: "poll.interval",
        default: "60s",
        value_name: "DURATION",
        parse: parse_positive_duration,
    },
    /// After this long without a successful poll, the session gauges are dropped.
    max_staleness: Duration {
        flag: "poll.max-staleness",
        default: "5m",
        value_name: "DURATION",
        parse: parse_positive_duration,
    },
    /// How to collect the numbers: incremental (counts, and the active sessions kept between
    /// polls, fetching only what changed), filter (counts, and every active session each poll),
    /// scan (every session each poll) or auto (incremental, its filters checked, falling back
    /// to scan).
    strategy: Strategy {
        flag: "poll.strategy",
        default: "auto",
        value_name: "STRATEGY",
        parse: parse_strategy,
    },
    /// incremental/auto: re-page every active session at least this often, even when every
    /// proof and check holds; 0 = only when a repair cannot be located.
    resync_interval: Duration {
        flag: "poll.resync-interval",
        default: "24h",
        value_name: "DURATION",
        parse: parse_duration,
    },
    /// incremental/auto: count every held session against the API at least this often, by
    /// created-time range, a slice of the ranges each poll; a range that differs is re-paged.
    verify_interval: Duration {
        flag: "poll.verify-interval",
        default: "1h",
        value_name: "DURATION",
        parse: parse_positive_duration,
    },
    /// incremental/auto: how far before the last sync the change queries reach back (clock
    /// skew between this machine and the API, late writes).
    change_overlap: Duration {
        flag: "poll.change-overlap",
        default: "30s",
        value_name: "DURATION",
        parse: parse_duration,
    },
    /// Comma-separated windows of the *_in_window gauges, in whole seconds or more; the label
    /// values as written.
    windows: Windows {
        flag: "sessions.windows",
        default: "15m,1h,24h",
        value_name: "DURATIONS",
        parse: parse_windows,
    },
    /// Users exported with their own user_id series, 0 to 1000; 0 turns them off.
    top_k: usize {
        flag: "per-user.top-k",
        default: "10",
        value_name: "K",
        parse: |text: &str| ranged::<usize>(text, 0, 1000),
    },
}

impl Settings {
    pub fn window_durations(&self) -> Vec<Duration> {
        self.windows.durations()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_default_parses_and_matches_the_contract() {
        let settings = Settings::default();
        assert_eq!(settings.api_url, DEFAULT_API_URL);
        assert_eq!(settings.ca_file, CaFile(None));
        assert_eq!(settings.page_size, 100);
        assert_eq!(settings.concurrency, 4);
        assert_eq!(settings.max_requests_per_second, 5.0);
        assert_eq!(settings.timeout, Duration::from_secs(10));
        assert_eq!(settings.poll_interval, Duration::from_secs(60));
        assert_eq!(settings.max_staleness, Duration::from_secs(300));
        assert_eq!(settings.strategy, Strategy::Auto);
        assert_eq!(settings.resync_interval, Duration::from_secs(24 * 3600));
        assert_eq!(settings.verify_interval, Duration::from_secs(3600));
        assert_eq!(settings.change_overlap, Duration::from_secs(30));
        assert_eq!(settings.window_durations().len(), 3);
        assert_eq!(settings.top_k, 10);
    }

    #[test]
    fn each_setting_is_declared_once_with_a_flag_and_a_key() {
        let values = Settings::default().file_values();
        assert_eq!(values.len(), DECLARED.len());
        for (declared, (key, _)) in DECLARED.iter().zip(&values) {
            assert_eq!(declared.key, *key);
            assert!(declared.flag.starts_with("--"), "{declared:?}");
        }
        let mut keys: Vec<&str> = DECLARED.iter().map(|d| d.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), DECLARED.len(), "a key declared twice");
    }
}
