//! Several projects in one exporter (`--config.file`): each isolated from the others, reloaded
//! without disturbing what did not change, and shared out across instances by shard.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::app::App;
use corbado_exporter::clock;
use corbado_exporter::config::{Config, ConfigFile, Source};
use corbado_exporter::poller::Strategy;
use corbado_exporter::shard::Shard;
use corbado_exporter::simulator::{Faults, Params, Population};
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    config, eventually, eventually_some, parse_samples, scratch_dir, serve_project, settings,
    spawn_app, value, TestSim,
};

/// A simulator of `sessions` sessions for project `id`, whose secret is `secret-<id>`.
pub async fn project_sim(id: &str, sessions: u64, seed: u64) -> TestSim {
    let population = Population::generate(
        Params::realistic(sessions, seed),
        clock::now_whole_seconds_ms(),
    );
    serve_project(population, id, &format!("secret-{id}")).await
}

/// A config-file entry for `id` polling `sim`, its secret in a file under `dir`, plus `extra`
/// keys (each a line of YAML).
pub fn entry(
    dir: &std::path::Path,
    id: &str,
    sim: &TestSim,
    secret: &str,
    extra: &[&str],
) -> String {
    let secret_file = dir.join(format!("{id}.secret"));
    std::fs::write(&secret_file, format!("{secret}\n")).expect("secret file");
    let mut yaml = format!(
        "  - id: {id}\n    api_url: {}\n    api_secret_file: {}\n",
        sim.api_url(),
        secret_file.display()
    );
    for line in extra {
        yaml.push_str(&format!("    {line}\n"));
    }
    yaml
}

/// A `--config.file` text of `projects` (ID and simulator each), every secret `secret-<id>` in
/// a file under `dir`.
pub fn projects_yaml(dir: &std::path::Path, projects: &[(&str, &TestSim)]) -> String {
    let mut yaml = String::from("projects:\n");
    for (id, sim) in projects {
        yaml.push_str(&entry(dir, id, sim, &format!("secret-{id}"), &[]));
    }
    yaml
}

/// The test config with the projects of the file at `path`, as `--config.file` would give.
pub fn file_config(path: PathBuf) -> Config {
    let mut config = config("http://127.0.0.1:1/v2", Strategy::Auto);
    config.settings = settings("http://127.0.0.1:1/v2", Strategy::Auto);
    let file = ConfigFile { path };
    let projects = file
        .load(&config.settings, &|_| None)
        .expect("the config file is valid");
    config.source = Source::File { file, projects };
    config
}

#[tokio::test]
async fn a_refused_and_a_slow_project_change_nothing_for_a_healthy_one() {
    let scratch = scratch_dir("isolation");
    let dir = scratch.path();
    let healthy = project_sim("pro-healthy", 2_000, 1).await;
    let refused = project_sim("pro-refused", 500, 2).await;
    let slow = project_sim("pro-slow", 500, 3).await;
    slow.sim.set_faults(Faults {
        latency: Duration::from_secs(2),
        ..Faults::default()
    });
    let path = dir.join("projects.yml");
    let yaml = format!(
        "projects:\n{}{}{}",
        entry(dir, "pro-healthy", &healthy, "secret-pro-healthy", &[]),
        entry(dir, "pro-refused", &refused, "not-the-secret", &[]),
        entry(dir, "pro-slow", &slow, "secret-pro-slow", &[]),
    );
    std::fs::write(&path, yaml).expect("config file");

    let shutdown = CancellationToken::new();
    let app = App::build(file_config(path), &shutdown)
        .await
        .expect("builds");
    let (address, fleet) = (app.address, Arc::clone(&app.fleet));
    tokio::spawn(app.run(shutdown.clone()));
    let metrics = format!("http://{address}/metrics");
    let ready = format!("http://{address}/-/ready");

    // The healthy project's counts are published while the refused one has failed and the
    // slow one's first poll is still waiting for its answers.
    let samples = eventually_some(
        Duration::from_secs(20),
        "the healthy project's counts",
        || async {
            let samples = parse_samples(&reqwest::get(&metrics).await.ok()?.text().await.ok()?);
            let failed = value(
                &samples,
                "corbado_exporter_poll_failures_total",
                &[("project_id", "pro-refused")],
            );
            (value(&samples, "corbado_up", &[("project_id", "pro-healthy")]) == Some(1.0)
                && failed == Some(1.0))
            .then_some(samples)
        },
    )
    .await;
    assert_eq!(
        value(&samples, "corbado_up", &[("project_id", "pro-refused")]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "corbado_exporter_projects", &[]), Some(3.0));
    let (store, _) = fleet.project("pro-healthy").expect("polled");
    let snapshot = store.snapshot().expect("counts");
    let truth = healthy.sim.expected(
        snapshot.now_ms,
        &[
            Duration::from_secs(900),
            Duration::from_secs(3600),
            Duration::from_secs(86_400),
        ],
        10,
    );
    assert_eq!(snapshot.summary.statuses, truth.statuses);
    let (slow_store, _) = fleet.project("pro-slow").expect("polled");
    if !slow_store.first_poll_ended() {
        let answer = reqwest::get(&ready).await.expect("ready");
        assert_eq!(answer.status(), 503);
        assert!(answer.text().await.expect("body").contains("pro-slow"));
    }

    // Once the slow project's first poll ends, every project has had one: ready.
    eventually(
        Duration::from_secs(60),
        "ready once the slow project answered",
        || async { reqwest::get(&ready).await.is_ok_and(|r| r.status() == 200) },
    )
    .await;
    let samples = parse_samples(
        &reqwest::get(&metrics)
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body"),
    );
    assert_eq!(
        value(&samples, "corbado_up", &[("project_id", "pro-slow")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "corbado_up", &[("project_id", "pro-healthy")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "corbado_up", &[("project_id", "pro-refused")]),
        Some(0.0)
    );
    // Each project's requests went to its own API only, and were counted on it only.
    let requests = |id: &str, code: &str| {
        value(
            &samples,
            "corbado_exporter_api_requests_total",
            &[("project_id", id), ("code", code)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        requests("pro-healthy", "200"),
        healthy.sim.requests() as f64
    );
    assert_eq!(requests("pro-slow", "200"), slow.sim.requests() as f64);
    // The refused project's first 401 ends its poll; the other count requests then in flight
    // (at most --corbado.concurrency) are dropped unanswered. None is retried.
    assert!(requests("pro-refused", "401") >= 1.0);
    assert!(requests("pro-refused", "200") == 0.0);
    assert!(
        refused.sim.requests() <= 4,
        "a refused secret is not retried: {} requests",
        refused.sim.requests()
    );
    shutdown.cancel();
}

/// POSTs `/-/reload` and returns the status and body.
async fn post_reload(address: std::net::SocketAddr) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{address}/-/reload"))
        .send()
        .await
        .expect("reload answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_reload_starts_stops_and_restarts_only_what_changed() {
    let scratch = scratch_dir("reload");
    let dir = scratch.path();
    let sims = [
        project_sim("pro-a", 800, 11).await,
        project_sim("pro-b", 800, 12).await,
        project_sim("pro-c", 800, 13).await,
        project_sim("pro-d", 800, 14).await,
    ];
    let [a, b, c, d] = &sims;
    let path = dir.join("projects.yml");
    let secret = |id: &str| format!("secret-{id}");
    let v1 = format!(
        "projects:\n{}{}{}",
        entry(dir, "pro-a", a, &secret("pro-a"), &[]),
        entry(dir, "pro-b", b, &secret("pro-b"), &[]),
        entry(dir, "pro-c", c, &secret("pro-c"), &[]),
    );
    std::fs::write(&path, v1).expect("v1");
    let mut config = file_config(path.clone());
    config.enable_lifecycle = true;
    let app = spawn_app(config).await;
    for id in ["pro-a", "pro-b", "pro-c"] {
        let report = app.project(id).1.poll_once().await.expect("first poll");
        assert!(
            report.resync.is_some(),
            "{id}: the first poll syncs in full"
        );
    }
    let (_, a_poller) = app.project("pro-a");
    let (_, b_poller) = app.project("pro-b");
    assert!(app.scrape().await.contains("project_id=\"pro-c\""));

    // v2: pro-a as it was, pro-b with another strategy, pro-c gone, pro-d new.
    let v2 = format!(
        "projects:\n{}{}{}",
        entry(dir, "pro-a", a, &secret("pro-a"), &[]),
        entry(dir, "pro-b", b, &secret("pro-b"), &["strategy: filter"]),
        entry(dir, "pro-d", d, &secret("pro-d"), &[]),
    );
    std::fs::write(&path, v2).expect("v2");
    let (status, body) = post_reload(app.address).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("1 project(s) added, 1 removed, 1 restarted, 1 unchanged"),
        "{body}"
    );
    assert_eq!(app.fleet.project_ids(), ["pro-a", "pro-b", "pro-d"]);

    // The removed project's series are gone from the very next scrape.
    let text = app.scrape().await;
    assert!(!text.contains("project_id=\"pro-c\""));
    let samples = parse_samples(&text);
    assert_eq!(value(&samples, "corbado_exporter_projects", &[]), Some(3.0));
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    // The unchanged project keeps its poller and its active set: no resync.
    let (_, kept) = app.project("pro-a");
    assert!(Arc::ptr_eq(&kept, &a_poller));
    let report = kept.poll_once().await.expect("poll after reload");
    assert_eq!(report.resync, None, "an unchanged project does not resync");
    // The changed one runs anew, with its new strategy.
    let (_, restarted) = app.project("pro-b");
    assert!(!Arc::ptr_eq(&restarted, &b_poller));
    let report = restarted.poll_once().await.expect("poll with filter");
    assert_eq!(report.method.as_str(), "filter");
    app.project("pro-d")
        .1
        .poll_once()
        .await
        .expect("the added project polls");

    // An invalid file: 500 with the reason, the running projects stay, the gauge says so.
    let stamp_before = value(
        &parse_samples(&app.scrape().await),
        "corbado_exporter_config_last_reload_success_timestamp_seconds",
        &[],
    );
    std::fs::write(&path, "projects:\n  - id: pro-a\n    api_secret: oops\n").expect("v3");
    let (status, body) = post_reload(app.address).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("projects.yml:3:"),
        "names file and line: {body}"
    );
    assert!(body.contains("api_secret"), "names the key: {body}");
    assert!(!body.contains("oops"), "never repeats a secret: {body}");
    assert_eq!(app.fleet.project_ids(), ["pro-a", "pro-b", "pro-d"]);
    let samples = parse_samples(&app.scrape().await);
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_config_last_reload_successful",
            &[]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &samples,
            "corbado_exporter_config_last_reload_success_timestamp_seconds",
            &[]
        ),
        stamp_before,
        "the last success's time stays that of the last success"
    );
}

#[tokio::test]
async fn reload_is_refused_without_the_lifecycle_flag() {
    let scratch = scratch_dir("no-lifecycle");
    let dir = scratch.path();
    let sim = project_sim("pro-a", 100, 21).await;
    let path = dir.join("projects.yml");
    std::fs::write(
        &path,
        format!(
            "projects:\n{}",
            entry(dir, "pro-a", &sim, "secret-pro-a", &[])
        ),
    )
    .expect("file");
    let app = spawn_app(file_config(path)).await;
    let (status, body) = post_reload(app.address).await;
    assert_eq!(status, 403);
    assert!(body.contains("--web.enable-lifecycle"), "{body}");
    // The reload itself still works (SIGHUP calls it).
    assert!(app.reloader.reload_files().is_ok());
}

#[tokio::test]
async fn three_shards_poll_each_of_twenty_projects_exactly_once_where_the_formula_says() {
    let scratch = scratch_dir("shards");
    let dir = scratch.path();
    let mut sims = Vec::new();
    let mut yaml = String::from("defaults:\n  strategy: filter\nprojects:\n");
    for i in 0..20 {
        let id = format!("pro-{i:010}");
        let sim = project_sim(&id, 50, 100 + i).await;
        yaml.push_str(&entry(dir, &id, &sim, &format!("secret-{id}"), &[]));
        sims.push((id, sim));
    }
    let path = dir.join("projects.yml");
    std::fs::write(&path, yaml).expect("file");

    let mut polled_by: Vec<BTreeSet<String>> = Vec::new();
    let shutdown = CancellationToken::new();
    for ordinal in 0..3 {
        let mut config = file_config(path.clone());
        config.shard = Shard { ordinal, total: 3 };
        let app = App::build(config, &shutdown).await.expect("builds");
        for id in app.fleet.project_ids() {
            let (_, poller) = app.fleet.project(&id).expect("polled");
            poller.poll_once().await.expect("poll");
        }
        let text = app.published.exposition();
        let samples = parse_samples(std::str::from_utf8(&text.plain).expect("utf-8"));
        assert_eq!(
            value(&samples, "corbado_exporter_shard_ordinal", &[]),
            Some(f64::from(ordinal))
        );
        assert_eq!(
            value(&samples, "corbado_exporter_total_shards", &[]),
            Some(3.0)
        );
        let ids: BTreeSet<String> = app.fleet.project_ids().into_iter().collect();
        assert_eq!(
            value(&samples, "corbado_exporter_projects", &[]),
            Some(ids.len() as f64)
        );
        polled_by.push(ids);
    }
    for (id, sim) in &sims {
        let owners: Vec<u32> = (0..3u32)
            .filter(|&o| polled_by[o as usize].contains(id))
            .collect();
        assert_eq!(
            owners,
            [Shard::of(id, 3)],
            "{id} is polled exactly once, by its shard"
        );
        assert!(sim.sim.requests() > 0, "{id} was polled");
    }
    // Growing to four shards moves only to the new shard, about a quarter of the projects.
    let moved: Vec<&String> = sims
        .iter()
        .map(|(id, _)| id)
        .filter(|id| Shard::of(id, 3) != Shard::of(id, 4))
        .collect();
    assert!(moved.iter().all(|id| Shard::of(id, 4) == 3));
    assert!(
        (2..=9).contains(&moved.len()),
        "moved {} of 20",
        moved.len()
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_reload_takes_both_files_or_neither() {
    let scratch = scratch_dir("both-files");
    let dir = scratch.path();
    let a = project_sim("pro-a", 100, 31).await;
    let b = project_sim("pro-b", 100, 32).await;
    let path = dir.join("projects.yml");
    std::fs::write(
        &path,
        format!(
            "projects:\n{}",
            entry(dir, "pro-a", &a, "secret-pro-a", &[])
        ),
    )
    .expect("v1");
    let web_path = dir.join("web.yml");
    let alice = bcrypt::hash("wonderland", 4).expect("hash");
    std::fs::write(
        &web_path,
        format!("basic_auth_users:\n  alice: '{alice}'\n"),
    )
    .expect("web");
    let mut config = file_config(path.clone());
    config.enable_lifecycle = true;
    config.web_config = Some(
        corbado_exporter::web_config::WebConfigFile::load(web_path.clone()).expect("web config"),
    );
    let app = spawn_app(config).await;
    let reload = |user: &'static str, password: &'static str| {
        let url = app.url("/-/reload");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .basic_auth(user, Some(password))
                .send()
                .await
                .expect("answers");
            (
                response.status().as_u16(),
                response.text().await.expect("body"),
            )
        }
    };

    // A valid project file beside a broken web config: neither takes effect.
    std::fs::write(
        &path,
        format!(
            "projects:\n{}{}",
            entry(dir, "pro-a", &a, "secret-pro-a", &[]),
            entry(dir, "pro-b", &b, "secret-pro-b", &[])
        ),
    )
    .expect("v2");
    std::fs::write(&web_path, "basic_auth_users: [not, a, map\n").expect("broken web");
    let (status, body) = reload("alice", "wonderland").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("--web.config.file"), "{body}");
    assert_eq!(
        app.fleet.project_ids(),
        ["pro-a"],
        "the project file did not apply either"
    );

    // Both valid: both apply; the new password is the one that works.
    let bob = bcrypt::hash("builder", 4).expect("hash");
    std::fs::write(&web_path, format!("basic_auth_users:\n  bob: '{bob}'\n")).expect("web v2");
    // The web config is also re-read by itself when its file changes (every two seconds), so
    // the new user may already be the one to ask with.
    let (mut status, mut body) = reload("alice", "wonderland").await;
    if status == 401 {
        (status, body) = reload("bob", "builder").await;
    }
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.fleet.project_ids(), ["pro-a", "pro-b"]);
    assert_eq!(reload("alice", "wonderland").await.0, 401);
    assert_eq!(reload("bob", "builder").await.0, 200);
}
