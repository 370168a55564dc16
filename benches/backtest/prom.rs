//! The real Prometheus: the scrapes backfilled into a TSDB with promtool, the recording rules
//! backfilled over them (`promtool tsdb create-blocks-from rules`, one round per level of rules
//! that read other rules), and each alert's expression evaluated over the run as a range query
//! at the rules' evaluation interval.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The rule files as far as the backtest reads them.
#[derive(Deserialize)]
pub struct RuleFile {
    pub groups: Vec<Group>,
}

#[derive(Deserialize)]
pub struct Group {
    pub rules: Vec<Rule>,
}

#[derive(Clone, Deserialize)]
pub struct Rule {
    pub alert: Option<String>,
    pub record: Option<String>,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

pub fn read_rules(path: &Path) -> Vec<Rule> {
    let text = std::fs::read_to_string(path).expect("rule file");
    let file: RuleFile = serde_saphyr::from_str(&text).expect("rule file parses");
    file.groups.into_iter().flat_map(|g| g.rules).collect()
}

/// `5m`, `1h`, `30s` in minutes (rounded up).
pub fn minutes(duration: &str) -> u32 {
    let (number, unit) = duration.split_at(duration.len() - 1);
    let n: u32 = number.parse().expect("a duration");
    match unit {
        "s" => n.div_ceil(60),
        "m" => n,
        "h" => n * 60,
        "d" => n * 1440,
        _ => panic!("unknown duration {duration}"),
    }
}

/// Runs `promtool` with `args`, failing on a non-zero exit.
pub fn promtool(args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Prometheus serving a TSDB on a loopback port of its own; stopped when dropped.
pub struct Prometheus {
    child: Child,
    pub url: String,
}

impl Prometheus {
    pub async fn start(tsdb: &Path, work: &Path) -> Prometheus {
        let config = work.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("config");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg("--storage.tsdb.retention.time=10y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--query.max-samples=200000000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        prometheus.wait_ready().await;
        prometheus
    }

    /// Waits for `/-/ready` (Prometheus replays its WAL and loads the blocks first).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let ready = reqwest::get(format!("{}/-/ready", self.url)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus was not ready within two minutes");
    }

    /// `expr` over `[start, end]` (Unix seconds) every `step` seconds: per series, its labels
    /// and the times at which it had a value.
    pub async fn range(&self, expr: &str, (start, end): (i64, i64), step: i64) -> Vec<Series> {
        let client = reqwest::Client::new();
        let response: serde_json::Value = client
            .post(format!("{}/api/v1/query_range", self.url))
            .form(&[
                ("query", expr.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", step.to_string()),
            ])
            .send()
            .await
            .expect("query sent")
            .text()
            .await
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .expect("a JSON answer");
        assert_eq!(response["status"], "success", "{expr}: {response}");
        let results = response["data"]["result"].as_array().cloned();
        results.unwrap_or_default().iter().map(Series::of).collect()
    }

    pub fn stop(mut self) {
        super::common::process::stop(&mut self.child);
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One series of a range query's answer (its labels do not matter here: each series' runs
/// are its own firings).
pub struct Series {
    /// Unix seconds at which the expression had a value.
    pub times: Vec<i64>,
}

impl Series {
    fn of(result: &serde_json::Value) -> Series {
        let times = result["values"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v[0].as_f64())
                    .map(|t| t as i64)
                    .collect()
            })
            .unwrap_or_default();
        Series { times }
    }
}

/// The recording rules that read another recording rule's output: they are backfilled in a
/// second round, once the first round's series are in the TSDB.
pub fn second_level(recording: &[Rule]) -> Vec<Rule> {
    recording
        .iter()
        .filter(|r| r.expr.contains("corbado:"))
        .cloned()
        .collect()
}

/// A rule file of `rules` (each expression a JSON string, which YAML reads as it is).
pub fn write_rule_file(path: &Path, rules: &[Rule]) {
    let mut text = String::from("groups:\n  - name: backtest\n    rules:\n");
    for rule in rules {
        let record = rule.record.as_deref().unwrap_or_default();
        let expr = serde_json::to_string(&rule.expr).expect("a string");
        text.push_str(&format!("      - record: {record}\n        expr: {expr}\n"));
    }
    std::fs::write(path, text).expect("rule file");
}

/// Backfills `rules` over `[start, end]` from the Prometheus at `url` into `tsdb` (through
/// `work/<round>`), at the one-minute evaluation interval.
pub fn backfill_rules(
    url: &str,
    rules: &Path,
    (start, end): (i64, i64),
    tsdb: &Path,
    out: PathBuf,
) {
    promtool(&[
        "tsdb",
        "create-blocks-from",
        "rules",
        "--quiet",
        &format!("--url={url}"),
        &format!("--start={start}"),
        &format!("--end={end}"),
        "--eval-interval=60s",
        &format!("--output-dir={}", out.display()),
        &rules.display().to_string(),
    ]);
    for block in std::fs::read_dir(&out).expect("blocks written") {
        let block = block.expect("a block");
        std::fs::rename(block.path(), tsdb.join(block.file_name())).expect("block moved");
    }
}
