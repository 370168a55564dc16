//! The alert rules with promtool, and a real Prometheus scraping the exporter in `--demo`: every
//! dashboard query and every rule evaluated through Prometheus' HTTP API.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use corbado_exporter::poller::Strategy;

use crate::helpers::{
    config, dashboard, eventually, eventually_some, exporter, exprs, free_port, panels, repo,
    run_tool, scratch_dir, spawn_app, spawn_sim, tool_available, Running,
};

fn promtool(args: &[&str]) -> String {
    run_tool("promtool", args)
}

#[test]
fn the_rules_and_the_example_config_pass_promtool() {
    if !tool_available("promtool") {
        return;
    }
    let checked = promtool(&[
        "check",
        "rules",
        "prometheus/recording.yml",
        "prometheus/alerts.yml",
    ]);
    assert!(checked.contains("SUCCESS: 11 rules found"), "{checked}");
    promtool(&["check", "config", "prometheus/prometheus.yml"]);
    let tested = promtool(&["test", "rules", "prometheus/alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

struct Prometheus {
    child: Child,
    /// Its config and TSDB; a field drops after `drop` below has stopped the process.
    _dir: TempDir,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus with the example config, aimed at `target`, scraping and evaluating every
/// second instead of every 30.
fn start_prometheus(target: &str) -> Prometheus {
    let scratch = scratch_dir("prometheus");
    let dir = scratch.path();
    let config = std::fs::read_to_string(repo("prometheus/prometheus.yml"))
        .expect("example config")
        .replace("localhost:9877", target)
        .replace("scrape_interval: 30s", "scrape_interval: 1s")
        .replace("evaluation_interval: 30s", "evaluation_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s");
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    for rules in ["recording.yml", "alerts.yml"] {
        std::fs::copy(repo(&format!("prometheus/{rules}")), dir.join(rules)).expect("rules");
    }
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    Prometheus {
        child,
        _dir: scratch,
        url: format!("http://127.0.0.1:{port}"),
    }
}

impl Prometheus {
    /// An instant query (POSTed, form-encoded); `Null` while Prometheus is not up yet.
    async fn query(&self, expr: &str) -> Value {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", expr)
            .finish();
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/query", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => response.json_value().await,
            Err(_) => Value::Null,
        }
    }

    async fn scalar(&self, expr: &str) -> Option<f64> {
        let answer = self.query(expr).await;
        let value = answer["data"]["result"].get(0)?["value"][1].as_str()?;
        value.parse().ok()
    }
}

/// The `Accept` header Prometheus 2 sends to a target by default.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
    application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[tokio::test]
async fn a_real_prometheus_scrapes_the_demo_and_every_dashboard_and_rule_query_works() {
    if !tool_available("prometheus") {
        return;
    }
    let running = Running::start(exporter(&[
        "--demo",
        "--poll.interval",
        "2s",
        "--corbado.max-requests-per-second",
        "0",
        "--web.listen-address",
        "127.0.0.1:0",
    ]));
    let target = running.address().await;
    let prometheus = start_prometheus(&target);

    eventually(
        Duration::from_secs(90),
        "a few scrapes and polls",
        || async {
            prometheus
                .scalar("count_over_time(corbado_up[1m])")
                .await
                .unwrap_or(0.0)
                >= 5.0
                && prometheus
                    .scalar("max(corbado_exporter_polls_total)")
                    .await
                    .unwrap_or(0.0)
                    >= 3.0
        },
    )
    .await;

    assert_eq!(prometheus.scalar(r#"up{job="corbado"}"#).await, Some(1.0));
    // Prometheus asked for OpenMetrics (its default) and saw as many samples as the exporter
    // serves in it (no `_created` ones without --web.enable-created-samples).
    let metrics_url = format!("http://{target}/metrics");
    let client = reqwest::Client::new();
    eventually(
        Duration::from_secs(10),
        "scrape_samples_scraped to match",
        || async {
            let page = client
                .get(&metrics_url)
                .header("Accept", PROMETHEUS_ACCEPT)
                .send()
                .await
                .expect("scrape");
            assert_eq!(
                page.headers()["content-type"],
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            );
            let ours = page
                .text()
                .await
                .expect("body")
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .count() as f64;
            prometheus
                .scalar(r#"scrape_samples_scraped{job="corbado"}"#)
                .await
                == Some(ours)
        },
    )
    .await;

    let d = dashboard();
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("?");
        let mut any_data = false;
        for expr in exprs(panel) {
            let expr = expr
                .replace("$project_id", "pro-demo")
                .replace("$window", "15m")
                .replace("$__rate_interval", "1m");
            let answer = prometheus.query(&expr).await;
            assert_eq!(answer["status"], "success", "{title}: {expr}: {answer}");
            any_data |= answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
        }
        assert!(any_data, "{title}: no data");
    }

    // Rules: loaded, evaluated without error, and each expression valid through the query API.
    eventually(
        Duration::from_secs(20),
        "the rules to be evaluated",
        || async {
            let rules = prometheus_rules(&prometheus).await;
            !rules.is_empty()
                && rules.iter().all(|r| {
                    r["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001"))
                })
        },
    )
    .await;
    let rules = prometheus_rules(&prometheus).await;
    assert_eq!(rules.len(), 18, "7 recording and 11 alerting rules");
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or("?");
        assert_eq!(rule["health"], "ok", "{name}: {}", rule["lastError"]);
        let expr = rule["query"].as_str().expect("query");
        let answer = prometheus.query(expr).await;
        assert_eq!(answer["status"], "success", "{name}: {answer}");
    }
    // The recording rules produce data from the demo.
    assert!(
        prometheus
            .scalar("count(corbado:sessions:sum)")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
    // The demo keeps an active set (auto): the ended sessions come from the counter, whose
    // `deleted` status the gauges do not have, and not from the gauges.
    eventually(
        Duration::from_secs(30),
        "the ended sessions recorded from the counter",
        || async {
            let deleted = r#"count(corbado:sessions_ended:delta15m{status="deleted"})"#;
            prometheus.scalar(deleted).await.unwrap_or(0.0) >= 1.0
        },
    )
    .await;

    let (code, _) = running.terminate().await;
    assert_eq!(code, Some(0));
}

/// The sample lines of a page (neither comments nor `# EOF`).
fn sample_lines(page: &str) -> usize {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count()
}

#[tokio::test]
async fn prometheus_scraping_openmetrics_by_default_stores_the_samples_of_the_text_page() {
    if !tool_available("prometheus") {
        return;
    }
    // Frozen: a simulator that does not evolve and one poll, with no poll loop after it, so
    // every scrape serves the same series (only the process metrics' values move).
    let sim = spawn_sim(3_000, 75).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let text_samples = sample_lines(&app.scrape().await);
    let openmetrics = crate::openmetrics::scrape_openmetrics(&app).await;
    assert_eq!(sample_lines(&openmetrics), text_samples, "{openmetrics}");

    let prometheus = start_prometheus(&app.address.to_string());
    let scraped = eventually_some(Duration::from_secs(90), "a scrape", || async {
        prometheus
            .scalar(r#"scrape_samples_scraped{job="corbado"}"#)
            .await
    })
    .await;
    assert_eq!(scraped, text_samples as f64);
    // It was OpenMetrics that Prometheus read: only that format carries units, which it keeps
    // as metadata of the family.
    let metadata = reqwest::get(format!(
        "{}/api/v1/metadata?metric=process_cpu_seconds",
        prometheus.url
    ))
    .await
    .expect("metadata")
    .json_value()
    .await;
    assert_eq!(
        metadata["data"]["process_cpu_seconds"][0]["unit"], "seconds",
        "{metadata}"
    );
    // And it stored no `_created` series.
    let created = prometheus
        .query(r#"count({__name__=~".+_created", job="corbado"})"#)
        .await;
    assert_eq!(created["data"]["result"], Value::Array(vec![]), "{created}");
}

async fn prometheus_rules(prometheus: &Prometheus) -> Vec<Value> {
    let answer = match reqwest::get(format!("{}/api/v1/rules", prometheus.url)).await {
        Ok(response) => response.json_value().await,
        Err(_) => Value::Null,
    };
    answer["data"]["groups"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let bytes = self.bytes().await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }
}
