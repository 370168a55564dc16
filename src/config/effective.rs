//! The effective configuration as `/config` shows it: every setting after flags, environment,
//! `--config.file` and its `defaults:` have been applied, as YAML, with every secret shown as
//! `[redacted]`. Secrets never reach this module's output: a project's secret is not read here
//! at all, only whether it is set.

use serde::Serialize;

use super::{Config, ProjectConfig, SecretSource, Source};

/// What is shown in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// The instance's part of the configuration (everything but the projects), rendered with the
/// projects polled at the moment by [`InstanceView::render`].
#[derive(Clone, Debug, Serialize)]
pub struct InstanceView {
    version: &'static str,
    source: String,
    listen_addresses: Vec<String>,
    systemd_socket: bool,
    route_prefix: String,
    external_url: Option<String>,
    telemetry_path: String,
    web_disable_exporter_metrics: bool,
    web_enable_created_samples: bool,
    web_config_file: Option<String>,
    web_enable_lifecycle: bool,
    web_max_requests: usize,
    log_level: String,
    log_format: String,
    shard: u32,
    total_shards: u32,
    per_user_max_id_length: usize,
    per_user_id_key: Option<&'static str>,
    storage_path: Option<String>,
    storage_save_interval: Option<String>,
    config_auto_reload_interval: String,
}

/// The whole page.
#[derive(Serialize)]
struct Page<'a> {
    #[serde(flatten)]
    instance: &'a InstanceView,
    projects: Vec<Keys>,
}

impl InstanceView {
    pub fn of(config: &Config) -> Self {
        let source = match &config.source {
            Source::Flags { .. } => "flags".to_owned(),
            Source::Demo => "demo (the built-in simulated API)".to_owned(),
            Source::File { file, .. } => format!("config file {}", file.path.display()),
        };
        InstanceView {
            version: env!("CARGO_PKG_VERSION"),
            source,
            listen_addresses: config.listen_addresses.clone(),
            systemd_socket: config.systemd_socket,
            route_prefix: match config.paths.prefix() {
                "" => "/".to_owned(),
                prefix => prefix.to_owned(),
            },
            external_url: config.paths.external().map(str::to_owned),
            telemetry_path: config.paths.telemetry_route(),
            web_disable_exporter_metrics: !config.page.process_metrics,
            web_enable_created_samples: config.page.created_samples,
            web_config_file: config
                .web_config
                .as_ref()
                .map(|w| w.path.display().to_string()),
            web_enable_lifecycle: config.enable_lifecycle,
            web_max_requests: config.limits.max_requests,
            log_level: format!("{:?}", config.log_level).to_lowercase(),
            log_format: format!("{:?}", config.log_format).to_lowercase(),
            shard: config.shard.ordinal,
            total_shards: config.shard.total,
            per_user_max_id_length: config.max_user_id_length,
            per_user_id_key: config.user_id_key.as_ref().map(|_| REDACTED),
            config_auto_reload_interval: humantime::format_duration(config.auto_reload_interval)
                .to_string(),
            storage_path: config.storage.as_ref().map(|s| s.dir.display().to_string()),
            storage_save_interval: config
                .storage
                .as_ref()
                .map(|s| humantime::format_duration(s.save_interval).to_string()),
        }
    }

    /// The YAML of `/config`, with `projects` the ones polled now.
    pub fn render(&self, projects: &[&ProjectConfig]) -> String {
        let page = Page {
            instance: self,
            projects: projects.iter().map(|p| project(p)).collect(),
        };
        let body = crate::yaml::to_string(&page)
            .unwrap_or_else(|e| format!("# the configuration could not be rendered: {e}\n"));
        format!(
            "# The effective configuration of this corbado-exporter: flags, environment, \
             --config.file\n# and its defaults applied; projects are those polled here. \
             Secrets are shown as {REDACTED}.\n{body}"
        )
    }
}

/// One project as a config file would hold it: its `id`, where its secret comes from (the
/// file's path or the variable's name; a secret handed over by the program itself as
/// [`REDACTED`]), and every setting in the order declared.
fn project(config: &ProjectConfig) -> Keys {
    let mut keys = Keys(Vec::new());
    keys.insert("id", config.id.as_str().into());
    let source = match &config.secret_source {
        SecretSource::File(path) => path.display().to_string(),
        SecretSource::Env(name) => name.clone(),
        SecretSource::Given => REDACTED.to_owned(),
    };
    keys.insert(config.secret_source.key(), source.into());
    for (key, value) in config.settings.file_values() {
        keys.insert(key, value);
    }
    keys
}

/// A mapping that keeps its keys in the order they were inserted (a `serde_json::Map` would
/// sort them).
struct Keys(Vec<(&'static str, serde_json::Value)>);

impl Keys {
    fn insert(&mut self, key: &'static str, value: serde_json::Value) {
        self.0.push((key, value));
    }
}

impl Serialize for Keys {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Config};
    use clap::Parser as _;
    use std::collections::BTreeMap;

    #[test]
    fn every_secret_is_redacted_and_every_setting_shown() {
        let cli = Cli::parse_from(["corbado-exporter", "--corbado.project-id", "pro-123"]);
        let secret = "corbado1_very-secret-value";
        let config = Config::from_cli(cli.exporter, Some(secret.into())).expect("valid");
        let projects = config.projects();
        let yaml = InstanceView::of(&config).render(&projects.iter().collect::<Vec<_>>());
        assert!(!yaml.contains(secret), "{yaml}");
        assert!(
            yaml.contains("api_secret_env: CORBADO_API_SECRET"),
            "{yaml}"
        );
        assert!(yaml.contains("strategy: auto"), "{yaml}");
        assert!(yaml.contains("poll_interval: 1m"), "{yaml}");
        assert!(yaml.contains("windows: 15m,1h,24h"), "{yaml}");
        let page: BTreeMap<String, serde_json::Value> =
            crate::yaml::from_str(&yaml).expect("the page is YAML");
        assert!(
            yaml.contains("web_disable_exporter_metrics: false"),
            "{yaml}"
        );
        assert!(yaml.contains("web_enable_created_samples: false"), "{yaml}");
        for key in ["listen_addresses", "projects", "total_shards", "source"] {
            assert!(page.contains_key(key), "{key} in {yaml}");
        }
    }
}
