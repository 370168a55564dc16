//! Everything the server reads: the stores of the projects polled here, the instance's own
//! series, and the one `/metrics` page made of them. A reload swaps the list of stores in one
//! step, so a removed project's series are gone from the next scrape.
//!
//! The process metrics are read at each scrape and appended to the page after everything else
//! (client_golang sorts families by name, and `process_` comes after `corbado_`): the rest of
//! the page changes once per poll and stays cached, they change all the time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::metrics::process::Reading;
use crate::metrics::{merge_expositions, openmetrics, text_of, InstanceMetrics, PageOptions};
use crate::snapshot::{Exposition, Store};

/// The projects' stores (sorted by project ID) and the instance's series.
pub struct Published {
    stores: RwLock<Arc<[Arc<Store>]>>,
    pub instance: InstanceMetrics,
    /// Bumped when the instance's series or the list of stores change.
    generation: AtomicU64,
    cache: RwLock<Option<Cached>>,
    /// `/config`: the effective configuration, set whenever the projects change.
    effective_config: RwLock<Arc<str>>,
    /// Unix seconds the instance started: the `_created` of its own series in OpenMetrics.
    started_s: f64,
    /// Whether the page has the process metrics, and OpenMetrics `_created` samples.
    page: PageOptions,
}

/// The merged page, valid while the instance's generation and every project's own exposition
/// are those it was made from.
struct Cached {
    generation: u64,
    parts: Vec<Arc<Exposition>>,
    exposition: Arc<Exposition>,
}

impl Published {
    pub fn new(instance: InstanceMetrics) -> Self {
        Published {
            stores: RwLock::new(Arc::from(Vec::new())),
            instance,
            generation: AtomicU64::new(0),
            cache: RwLock::new(None),
            effective_config: RwLock::new(Arc::from("")),
            started_s: crate::clock::now_ms() as f64 / 1000.0,
            page: PageOptions::default(),
        }
    }

    /// The same, with the page holding what `page` says instead of what the flags' defaults
    /// say.
    pub fn with_page(mut self, page: PageOptions) -> Self {
        self.page = page;
        self
    }

    /// The stores of the projects polled now.
    pub fn stores(&self) -> Arc<[Arc<Store>]> {
        Arc::clone(&self.stores.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes `stores` the projects polled now.
    pub fn set_stores(&self, mut stores: Vec<Arc<Store>>) {
        stores.sort_by(|a, b| a.project_id.cmp(&b.project_id));
        self.instance.projects.set(stores.len() as i64);
        *self.stores.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(stores);
        self.changed();
    }

    /// The effective configuration as YAML (`/config`), secrets redacted.
    pub fn effective_config(&self) -> Arc<str> {
        Arc::clone(
            &self
                .effective_config
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Makes `yaml` what `/config` shows.
    pub fn set_effective_config(&self, yaml: String) {
        *self
            .effective_config
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::from(yaml);
    }

    /// Marks the instance's own series as changed: the next scrape renders anew.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// `/-/ready`: every project's first poll has ended and some project's counts are
    /// published. An instance with no projects (a shard that none fell to) is ready: it has
    /// nothing to wait for, and a rollout must not stall on it.
    pub fn readiness(&self) -> Result<(), String> {
        let stores = self.stores();
        let waiting: Vec<&str> = stores
            .iter()
            .filter(|s| !s.first_poll_ended())
            .map(|s| s.project_id.as_str())
            .collect();
        if !waiting.is_empty() {
            return Err(format!(
                "the first poll has not ended yet for {}",
                waiting.join(", ")
            ));
        }
        if !stores.is_empty() && !stores.iter().any(|s| s.is_ready()) {
            return Err("no poll of the Corbado API has succeeded yet".into());
        }
        Ok(())
    }

    /// The whole page a scrape gets in the text format: the instance's series, then every
    /// project's, each family once, then the process metrics as they are now.
    pub fn exposition(&self) -> Arc<Exposition> {
        let merged = self.merged();
        if !self.page.process_metrics {
            return merged;
        }
        let process = text_of(&Reading::now().families());
        let mut page = Vec::with_capacity(merged.plain.len() + process.len());
        page.extend_from_slice(&merged.plain);
        page.extend_from_slice(process.as_bytes());
        Arc::new(Exposition::from_bytes(page))
    }

    /// The instance's and the projects' series, each family once: made anew only when a part
    /// changed.
    fn merged(&self) -> Arc<Exposition> {
        let generation = self.generation.load(Ordering::Acquire);
        let parts: Vec<Arc<Exposition>> = self.stores().iter().map(|s| s.exposition()).collect();
        if let Some(cached) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            let same_parts = cached.parts.len() == parts.len()
                && cached
                    .parts
                    .iter()
                    .zip(&parts)
                    .all(|(a, b)| Arc::ptr_eq(a, b));
            if cached.generation == generation && same_parts {
                return Arc::clone(&cached.exposition);
            }
        }
        let instance = self.instance.render();
        let mut texts: Vec<&str> = Vec::with_capacity(parts.len() + 1);
        texts.push(&instance);
        for part in &parts {
            // Our own rendering is UTF-8.
            texts.push(std::str::from_utf8(&part.plain).unwrap_or_default());
        }
        let exposition = Arc::new(Exposition::new(merge_expositions(&texts)));
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            generation,
            parts,
            exposition: Arc::clone(&exposition),
        });
        exposition
    }

    /// The same page in OpenMetrics 1.0.0, ending in `# EOF`. Made on each scrape that asks for
    /// it (Prometheus does, by default): a few milliseconds even for a hundred projects.
    pub fn openmetrics(&self) -> Exposition {
        let created = self.page.created_samples;
        let instance =
            openmetrics::encode_with(&self.instance.families(), created.then_some(self.started_s));
        let parts: Vec<String> = self
            .stores()
            .iter()
            .map(|store| store.openmetrics(created))
            .collect();
        let mut texts: Vec<&str> = vec![&instance];
        texts.extend(parts.iter().map(String::as_str));
        let mut text = merge_expositions(&texts);
        if self.page.process_metrics {
            let reading = Reading::now();
            // CPU time counts from the process's start: that is its `_created`.
            let start = reading.start_time_seconds.unwrap_or(self.started_s);
            let families = reading.families();
            text.push_str(&openmetrics::encode_with(
                &families,
                created.then_some(start),
            ));
        }
        text.push_str("# EOF\n");
        Exposition::new(text)
    }
}
