//! `--config.auto-reload-interval`: a change of content in `--config.file` or a file it names
//! reloads as SIGHUP does, through a Kubernetes-style `..data` symlink swap too; a broken file
//! keeps the running configuration and is tried once per distinct content; a rotated secret
//! restarts that project's client only, its active set kept. Each check is called directly
//! (`reload_if_changed`); the binary's timer is tested once, end to end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::{eventually, exporter, fetch_text, scratch_dir, spawn_app, Running, TestApp};
use crate::projects::{file_config, project_sim, projects_yaml};

fn reload_successful(app: &TestApp) -> i64 {
    app.reloader
        .published
        .instance
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("corbado_exporter_config_last_reload_successful "))
        .and_then(|v| v.parse().ok())
        .expect("the reload series")
}

#[tokio::test]
async fn a_change_of_content_reloads_and_a_broken_file_is_tried_once_per_content() {
    let scratch = scratch_dir("auto-reload");
    let dir = scratch.path();
    let (a, b) = (
        project_sim("pro-a", 1_000, 61).await,
        project_sim("pro-b", 1_000, 62).await,
    );
    let path = dir.join("projects.yml");
    let one = projects_yaml(dir, &[("pro-a", &a)]);
    std::fs::write(&path, &one).expect("v1");
    let app = spawn_app(file_config(path.clone())).await;
    assert!(
        !app.reloader.reload_if_changed(),
        "the first check takes note"
    );
    assert!(!app.reloader.reload_if_changed(), "nothing changed");

    std::fs::write(&path, projects_yaml(dir, &[("pro-a", &a), ("pro-b", &b)])).expect("v2");
    assert!(app.reloader.reload_if_changed());
    assert_eq!(app.fleet.project_ids(), ["pro-a", "pro-b"]);

    std::fs::write(&path, "projects:\n  - id: pro-a\n    strategy: guess\n").expect("broken");
    assert!(app.reloader.reload_if_changed(), "a new content is tried");
    assert_eq!(reload_successful(&app), 0);
    assert_eq!(
        app.fleet.project_ids(),
        ["pro-a", "pro-b"],
        "the running config stays"
    );
    assert!(
        !app.reloader.reload_if_changed(),
        "the same broken content: not again"
    );

    std::fs::write(&path, &one).expect("fixed");
    assert!(app.reloader.reload_if_changed());
    assert_eq!(reload_successful(&app), 1);
    assert_eq!(app.fleet.project_ids(), ["pro-a"]);
}

#[tokio::test]
async fn a_rotated_secret_restarts_only_its_project_and_keeps_its_active_set() {
    let scratch = scratch_dir("auto-reload-secret");
    let dir = scratch.path();
    let (a, b) = (
        project_sim("pro-a", 2_000, 63).await,
        project_sim("pro-b", 2_000, 64).await,
    );
    let path = dir.join("projects.yml");
    let yaml = projects_yaml(dir, &[("pro-a", &a), ("pro-b", &b)]);
    std::fs::write(&path, yaml).expect("config");
    let app = spawn_app(file_config(path)).await;
    app.reloader.reload_if_changed();
    for id in ["pro-a", "pro-b"] {
        let report = app.project(id).1.poll_once().await.expect("poll");
        assert!(report.resync.is_some(), "{id}: the initial sync");
    }
    let (_, untouched) = app.project("pro-b");

    // pro-a's API takes a second secret as well, as Corbado does during a rotation.
    a.sim.add_secret("secret-pro-a-2");
    std::fs::write(dir.join("pro-a.secret"), "secret-pro-a-2\n").expect("rotated");
    assert!(app.reloader.reload_if_changed());
    let (_, restarted) = app.project("pro-a");
    let report = restarted
        .poll_once()
        .await
        .expect("poll with the new secret");
    assert_eq!(report.resync, None, "the set carried over");
    assert!(std::sync::Arc::ptr_eq(&untouched, &app.project("pro-b").1));
}

/// A Kubernetes ConfigMap volume: `projects.yml -> ..data/projects.yml`, `..data -> ..<version>`;
/// an update writes a new version folder and swaps `..data`.
fn configmap(dir: &Path, version: &str, yaml: &str) -> PathBuf {
    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&versioned).expect("version folder");
    std::fs::write(versioned.join("projects.yml"), yaml).expect("file");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap");
    let link = dir.join("projects.yml");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("..data/projects.yml", &link).expect("symlink");
    }
    link
}

#[tokio::test]
async fn a_configmap_style_symlink_swap_is_seen_and_applied_by_the_binary() {
    let scratch = scratch_dir("auto-reload-configmap");
    let dir = scratch.path();
    let (a, b) = (
        project_sim("pro-a", 1_000, 65).await,
        project_sim("pro-b", 1_000, 66).await,
    );
    let volume = dir.join("volume");
    std::fs::create_dir_all(&volume).expect("volume");
    let one = projects_yaml(dir, &[("pro-a", &a)]);
    let path = configmap(&volume, "2026_12_01_v1", &one);
    let running = Running::start(exporter(&[
        "--config.file",
        path.to_str().expect("utf-8 path"),
        "--config.auto-reload-interval",
        "1s",
        "--web.listen-address",
        "127.0.0.1:0",
    ]));
    let metrics = format!("http://{}/metrics", running.address().await);
    eventually(Duration::from_secs(30), "the first project", || async {
        fetch_text(&metrics)
            .await
            .contains("corbado_exporter_projects 1")
    })
    .await;
    let two = projects_yaml(dir, &[("pro-a", &a), ("pro-b", &b)]);
    configmap(&volume, "2026_12_01_v2", &two);
    eventually(
        Duration::from_secs(30),
        "the swapped-in project",
        || async {
            let text = fetch_text(&metrics).await;
            text.contains("corbado_exporter_projects 2")
                && text.contains("corbado_up{project_id=\"pro-b\"}")
                && running.log().contains("configuration reloaded")
        },
    )
    .await;
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("the configuration files changed; reloading"),
        "{log}"
    );
}
