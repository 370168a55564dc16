//! The effective configuration as `/config` shows it: every setting after flags, environment,
//! `--config.file` and its `defaults:` have been applied, as YAML, with every secret shown as
//! `[redacted]`. Secrets never reach this module's output: a project's secret is not read here
//! at all, only whether it is set.

use serde::Serialize;

use super::{Config, ProjectConfig, Settings, Source};

/// What is shown in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// The instance's part of the configuration (everything but the projects), rendered with the
/// projects polled at the moment by [`InstanceView::render`].
#[derive(Clone, Debug, Serialize)]
pub struct InstanceView {
    version: &'static str,
    source: String,
    listen_address: String,
    telemetry_path: String,
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

/// One project, as `/config` shows it.
#[derive(Debug, Serialize)]
struct ProjectView<'a> {
    id: &'a str,
    api_secret: &'static str,
    api_url: &'a str,
    ca_file: Option<String>,
    page_size: u32,
    concurrency: usize,
    max_requests_per_second: f64,
    timeout: String,
    poll_interval: String,
    max_staleness: String,
    strategy: &'static str,
    resync_interval: String,
    verify_interval: String,
    change_overlap: String,
    windows: Vec<&'a str>,
    top_k: usize,
}

/// The whole page.
#[derive(Serialize)]
struct Page<'a> {
    #[serde(flatten)]
    instance: &'a InstanceView,
    projects: Vec<ProjectView<'a>>,
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
            listen_address: config.listen_address.clone(),
            telemetry_path: config.telemetry_path.clone(),
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

fn project(config: &ProjectConfig) -> ProjectView<'_> {
    let Settings {
        api_url,
        ca,
        page_size,
        concurrency,
        max_requests_per_second,
        timeout,
        poll_interval,
        max_staleness,
        strategy,
        resync_interval,
        verify_interval,
        change_overlap,
        windows,
        top_k,
    } = &config.settings;
    let human = |d: &std::time::Duration| humantime::format_duration(*d).to_string();
    ProjectView {
        id: &config.id,
        api_secret: REDACTED,
        api_url,
        ca_file: ca.path.as_ref().map(|p| p.display().to_string()),
        page_size: *page_size,
        concurrency: *concurrency,
        max_requests_per_second: *max_requests_per_second,
        timeout: human(timeout),
        poll_interval: human(poll_interval),
        max_staleness: human(max_staleness),
        strategy: strategy.as_str(),
        resync_interval: human(resync_interval),
        verify_interval: human(verify_interval),
        change_overlap: human(change_overlap),
        windows: windows.0.iter().map(|w| w.label.as_str()).collect(),
        top_k: *top_k,
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
        assert!(yaml.contains("api_secret: \"[redacted]\""), "{yaml}");
        assert!(yaml.contains("strategy: auto"), "{yaml}");
        assert!(yaml.contains("poll_interval: 1m"), "{yaml}");
        assert!(yaml.contains("- 15m"), "{yaml}");
        let page: BTreeMap<String, serde_json::Value> =
            crate::yaml::from_str(&yaml).expect("the page is YAML");
        for key in ["listen_address", "projects", "total_shards", "source"] {
            assert!(page.contains_key(key), "{key} in {yaml}");
        }
    }
}
