//! The instance's own series, the only ones without `project_id`: the reload outcome, the shard,
//! and how many projects this instance polls.

use prometheus::{Gauge, IntGauge, Registry};

use super::{encode, Definition};

const RELOAD_SUCCESSFUL: Definition = Definition {
    name: "corbado_exporter_config_last_reload_successful",
    help: "1 if the last reload of the configuration files (--config.file, --web.config.file) \
           took effect, 0 if it was refused and the previous configuration kept.",
};
const RELOAD_SUCCESS_TIMESTAMP: Definition = Definition {
    name: "corbado_exporter_config_last_reload_success_timestamp_seconds",
    help: "Unix time the configuration last took effect (at start or by a reload).",
};
const SHARD_ORDINAL: Definition = Definition {
    name: "corbado_exporter_shard_ordinal",
    help: "This instance's shard (--shard), 0 to corbado_exporter_total_shards - 1.",
};
const TOTAL_SHARDS: Definition = Definition {
    name: "corbado_exporter_total_shards",
    help: "Instances sharing the projects of --config.file (--total-shards).",
};
const PROJECTS: Definition = Definition {
    name: "corbado_exporter_projects",
    help: "Projects this instance polls (those of its shard).",
};

/// The instance's series, updated in place.
pub struct InstanceMetrics {
    registry: Registry,
    reload_successful: IntGauge,
    reload_success_timestamp: Gauge,
    pub projects: IntGauge,
    /// `--shard` and `--total-shards`, as the status page repeats them.
    pub shard_ordinal: u32,
    pub total_shards: u32,
}

impl InstanceMetrics {
    pub fn new(shard_ordinal: u32, total_shards: u32) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let gauge = |d: Definition| -> prometheus::Result<IntGauge> {
            let gauge = IntGauge::new(d.name, d.help)?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        gauge(SHARD_ORDINAL)?.set(i64::from(shard_ordinal));
        gauge(TOTAL_SHARDS)?.set(i64::from(total_shards));
        let metrics = InstanceMetrics {
            reload_successful: gauge(RELOAD_SUCCESSFUL)?,
            projects: gauge(PROJECTS)?,
            shard_ordinal,
            total_shards,
            reload_success_timestamp: Gauge::new(
                RELOAD_SUCCESS_TIMESTAMP.name,
                RELOAD_SUCCESS_TIMESTAMP.help,
            )?,
            registry,
        };
        metrics
            .registry
            .register(Box::new(metrics.reload_success_timestamp.clone()))?;
        Ok(metrics)
    }

    /// Records a reload (or the start): taken effect at `now_seconds`, or refused.
    pub fn record_reload(&self, took_effect: bool, now_seconds: f64) {
        self.reload_successful.set(i64::from(took_effect));
        if took_effect {
            self.reload_success_timestamp.set(now_seconds);
        }
    }

    pub fn render(&self) -> String {
        encode(&self.registry)
    }

    /// The series as families, for OpenMetrics.
    pub fn families(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}
