//! The process metrics every exporter built on client_golang serves (`process_cpu_seconds_total`,
//! memory, file descriptors, start time), with its names, types and HELP, read from `/proc` at
//! scrape time. Instance-wide: no `project_id`. Off with `--web.disable-exporter-metrics`.
//!
//! Why not the `prometheus` crate's `ProcessCollector` (feature `process`), which reads the same
//! files:
//! - it counts CPU time in whole seconds (an `IntCounter`): an exporter that spends 50 ms a
//!   minute would show a staircase that climbs one second every twenty minutes, and
//!   `rate(process_cpu_seconds_total[5m])` would read 0 most of the time. client_golang
//!   reports fractions of a second, as this does;
//! - its start time is truncated to whole seconds too (client_golang keeps the fraction);
//! - the feature pulls in `procfs`, `procfs-core`, `hex`, and `rustix` 0.38 with
//!   `linux-raw-sys` 0.4, second copies of crates already in the tree at other majors, which
//!   `deny.toml` (`multiple-versions = "deny"`) refuses.
//!
//! Its output would have encoded fine in OpenMetrics (our encoder names families itself); the
//! values were the problem. What is read here: `/proc/self/stat` (CPU, memory, start),
//! `/proc/self/fd` (open descriptors), `/proc/self/limits` (their soft limit) and `/proc/stat`
//! (boot time), as client_golang's `procfs` does. A file that cannot be read leaves its
//! families out of that scrape rather than failing it. Outside Linux there is nothing to read
//! and no family is served.

use std::sync::OnceLock;

use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

use super::Definition;

const CPU_SECONDS: Definition = Definition {
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
};
const OPEN_FDS: Definition = Definition {
    name: "process_open_fds",
    help: "Number of open file descriptors.",
};
const MAX_FDS: Definition = Definition {
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
};
const VIRTUAL_MEMORY: Definition = Definition {
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
};
const RESIDENT_MEMORY: Definition = Definition {
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
};
const START_TIME: Definition = Definition {
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
};

/// One reading of this process; a field is `None` when its file could not be read or parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl Reading {
    /// This process, now.
    pub fn now() -> Reading {
        #[cfg(target_os = "linux")]
        {
            linux::read()
        }
        #[cfg(not(target_os = "linux"))]
        {
            Reading::default()
        }
    }

    /// The families, in client_golang's order (sorted by name); those without a value are left
    /// out.
    pub fn families(&self) -> Vec<MetricFamily> {
        let entries = [
            (CPU_SECONDS, MetricType::COUNTER, self.cpu_seconds),
            (MAX_FDS, MetricType::GAUGE, self.max_fds),
            (OPEN_FDS, MetricType::GAUGE, self.open_fds),
            (RESIDENT_MEMORY, MetricType::GAUGE, self.resident_bytes),
            (START_TIME, MetricType::GAUGE, self.start_time_seconds),
            (VIRTUAL_MEMORY, MetricType::GAUGE, self.virtual_bytes),
        ];
        entries
            .into_iter()
            .filter_map(|(definition, kind, value)| Some(family(definition, kind, value?)))
            .collect()
    }
}

/// A family of one unlabelled sample.
fn family(definition: Definition, kind: MetricType, value: f64) -> MetricFamily {
    let mut metric = Metric::default();
    if kind == MetricType::COUNTER {
        let mut counter = Counter::default();
        counter.set_value(value);
        metric.set_counter(counter);
    } else {
        let mut gauge = Gauge::default();
        gauge.set_value(value);
        metric.set_gauge(gauge);
    }
    let mut family = MetricFamily::default();
    family.set_name(definition.name.to_owned());
    family.set_help(definition.help.to_owned());
    family.set_field_type(kind);
    family.set_metric(vec![metric]);
    family
}

/// The fields of `/proc/self/stat` that the metrics need, in the kernel's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    /// User and system CPU time, in clock ticks.
    utime: u64,
    stime: u64,
    /// Start after boot, in clock ticks.
    starttime: u64,
    /// Virtual memory, in bytes.
    vsize: u64,
    /// Resident set, in pages.
    rss: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// hold spaces and parentheses, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (the state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
        rss: field(24)?,
    })
}

/// The soft limit of open files in `/proc/<pid>/limits`; `unlimited` as client_golang's
/// procfs reads it (the largest `u64`).
fn parse_max_open_files(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .strip_prefix("Max open files")?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::MAX as f64);
    }
    soft.parse::<u64>().ok().map(|v| v as f64)
}

/// The boot time (`btime`, Unix seconds) in `/proc/stat`.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The process's start time, computed once: it cannot change, and `btime` can move by a
/// second between reads on some kernels, which would make `changes(process_start_time_seconds)`
/// report restarts that never happened.
static START_TIME_SECONDS: OnceLock<Option<f64>> = OnceLock::new();

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    /// Clock ticks per second and the page size, as the kernel reports them to this process.
    fn sysconf(name: libc::c_int) -> Option<f64> {
        // SAFETY: sysconf takes no pointer and only reads process-wide constants.
        let value = unsafe { libc::sysconf(name) };
        (value > 0).then_some(value as f64)
    }

    pub(super) fn read() -> Reading {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|t| parse_stat(&t));
        let ticks = sysconf(libc::_SC_CLK_TCK);
        let page_size = sysconf(libc::_SC_PAGESIZE);
        let start_time_seconds = *START_TIME_SECONDS.get_or_init(|| {
            let boot = std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|t| parse_boot_time(&t))?;
            Some(stat?.starttime as f64 / ticks? + boot as f64)
        });
        Reading {
            cpu_seconds: stat.zip(ticks).map(|(s, t)| (s.utime + s.stime) as f64 / t),
            // Counted as client_golang counts them: the descriptor that reads the directory
            // is one of them.
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as f64),
            max_fds: std::fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|t| parse_max_open_files(&t)),
            virtual_bytes: stat.map(|s| s.vsize as f64),
            resident_bytes: stat.zip(page_size).map(|(s, p)| s.rss as f64 * p),
            start_time_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line of `/proc/self/stat`, with a command name that holds `) (` to trip a naive
    /// split.
    const STAT: &str = "4242 (corbado) (x) S 1 4242 4242 0 -1 4194560 2183 0 0 0 \
                        125 37 0 0 20 0 9 0 81234 1234567168 5120 18446744073709551615 1 1 0 0 \
                        0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                utime: 125,
                stime: 37,
                starttime: 81234,
                vsize: 1_234_567_168,
                rss: 5120,
            })
        );
        assert_eq!(parse_stat("4242 (corbado) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn the_soft_limit_of_open_files_is_read_and_unlimited_is_the_largest_u64() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024.0));
        let unlimited = limits.replace("1024     ", "unlimited");
        assert_eq!(parse_max_open_files(&unlimited), Some(u64::MAX as f64));
        assert_eq!(parse_max_open_files("Max cpu time 1 1 seconds"), None);
    }

    #[test]
    fn the_boot_time_is_the_btime_line() {
        let stat = "cpu  1 2 3\ncpu0 1 2 3\nintr 5\nctxt 9\nbtime 1795600000\nprocesses 7\n";
        assert_eq!(parse_boot_time(stat), Some(1_795_600_000));
        assert_eq!(parse_boot_time("cpu 1 2 3\n"), None);
    }

    #[test]
    fn families_have_client_golangs_names_types_and_help_and_skip_what_was_not_read() {
        let reading = Reading {
            cpu_seconds: Some(1.62),
            open_fds: Some(12.0),
            max_fds: Some(1024.0),
            virtual_bytes: Some(1_234_567_168.0),
            resident_bytes: Some(20_971_520.0),
            start_time_seconds: Some(1_795_600_812.34),
        };
        assert_eq!(
            crate::metrics::text_of(&reading.families()),
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.62\n\
             # HELP process_max_fds Maximum number of open file descriptors.\n\
             # TYPE process_max_fds gauge\nprocess_max_fds 1024\n\
             # HELP process_open_fds Number of open file descriptors.\n\
             # TYPE process_open_fds gauge\nprocess_open_fds 12\n\
             # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 20971520\n\
             # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
             # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1795600812.34\n\
             # HELP process_virtual_memory_bytes Virtual memory size in bytes.\n\
             # TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes 1234567168\n"
        );
        let partial = Reading {
            open_fds: Some(3.0),
            ..Reading::default()
        };
        let families = partial.families();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["process_open_fds"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_a_living_process() {
        let reading = Reading::now();
        let now_s = crate::clock::now_ms() as f64 / 1000.0;
        let start = reading.start_time_seconds.expect("start time");
        assert!(start > 1.0e9 && start <= now_s + 1.0, "{start} vs {now_s}");
        assert!(reading.cpu_seconds.expect("cpu") >= 0.0);
        let open = reading.open_fds.expect("open fds");
        assert!(open >= 3.0 && open <= reading.max_fds.expect("max fds"));
        let resident = reading.resident_bytes.expect("resident");
        assert!(resident > 0.0 && resident <= reading.virtual_bytes.expect("virtual"));
    }
}
