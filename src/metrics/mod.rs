//! Metric names, HELP texts and rendering, all in one place: dashboards and alert rules bind to
//! what these files write, and the golden tests in `tests/it/golden.rs` pin it.
//!
//! - [`exporter`]: the exporter's own series (`corbado_up`, `corbado_exporter_*`), in a
//!   long-lived registry of counters and gauges updated in place.
//! - [`sessions`]: the session gauges of one poll, rendered once from an immutable
//!   [`crate::aggregate::Summary`].
//! - [`user_label`]: what a user ID becomes as a label value.
//! - [`instance`]: the instance's own series (reload, shard, projects), without `project_id`.
//! - [`process`]: the process metrics (`process_*`), read from `/proc` at scrape time.
//! - [`merge`]: several projects' expositions made into one page.
//! - [`openmetrics`]: the same families in OpenMetrics 1.0.0, for scrapers that prefer it.
//!
//! There is no global registry: every registry here is built for one project, or for the
//! instance. Nothing here knows when a poll happens or which snapshot is current; that is the
//! snapshot store's business.

pub mod exporter;
pub mod instance;
pub mod merge;
pub mod openmetrics;
pub mod process;
pub mod sessions;
pub mod user_label;

use std::collections::HashMap;

use prometheus::{Registry, TextEncoder};

pub use exporter::{ExporterMetrics, ENDED_STATUSES, REPAIR_REASONS};
pub use instance::InstanceMetrics;
pub use merge::merge_expositions;
pub use openmetrics::OPENMETRICS_CONTENT_TYPE;
#[cfg(feature = "test-support")]
pub use sessions::render_sessions;
pub use sessions::{count_families, user_families};
pub use user_label::{PseudonymKey, UserLabels};

/// `Content-Type` of the text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label every series carries.
pub const PROJECT_LABEL: &str = "project_id";

/// What a scrape's page holds besides the projects' and the instance's series, as the flags say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageOptions {
    /// The process metrics (`process_*`), read at each scrape; off with
    /// `--web.disable-exporter-metrics`.
    pub process_metrics: bool,
    /// OpenMetrics `_created` samples of counters and histograms
    /// (`--web.enable-created-samples`); off by default because a default Prometheus stores each
    /// as a series of its own.
    pub created_samples: bool,
}

impl Default for PageOptions {
    /// What the flags give when none is set.
    fn default() -> Self {
        PageOptions {
            process_metrics: true,
            created_samples: false,
        }
    }
}

/// A metric's name and HELP text.
#[derive(Clone, Copy, Debug)]
pub struct Definition {
    pub name: &'static str,
    pub help: &'static str,
}

/// A registry whose every series carries `project_id`.
fn project_registry(project_id: &str) -> prometheus::Result<Registry> {
    let labels = HashMap::from([(PROJECT_LABEL.to_owned(), project_id.to_owned())]);
    Registry::new_custom(None, Some(labels))
}

fn encode(registry: &Registry) -> String {
    text_of(&registry.gather())
}

/// `families` in the text format 0.0.4.
pub fn text_of(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut buffer = String::new();
    // Encoding our own well-formed families into a String cannot fail.
    if let Err(e) = TextEncoder::new().encode_utf8(families, &mut buffer) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    buffer
}

/// A count as a gauge value (saturating: no count of ours comes near `i64::MAX`).
fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
