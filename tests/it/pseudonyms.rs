//! Pseudonymised user IDs (`--per-user.id-key-file`) and the `user-label` command. (That the
//! user's e-mail address, `identifierValue`, reaches no page, metric or log is checked with the
//! secret, in `cli.rs`.)

use corbado_exporter::config::read_key_file;
use corbado_exporter::poller::Strategy;

use crate::helpers::{config, exporter, parse_samples, scratch_dir, spawn_app, spawn_sim};

#[tokio::test]
async fn user_ids_become_pseudonyms_that_user_label_finds_again() {
    let scratch = scratch_dir("pseudonyms");
    let dir = scratch.path();
    let key_file = dir.join("user-id.key");
    std::fs::write(&key_file, "0123456789abcdef0123456789abcdef\n").expect("key");
    let sim = spawn_sim(3_000, 41).await;
    let mut config = config(&sim.api_url(), Strategy::Auto);
    config.user_id_key = Some(read_key_file(&key_file).expect("a key"));
    let app = spawn_app(config).await;
    app.poller.poll_once().await.expect("poll");

    let text = app.scrape().await;
    let samples = parse_samples(&text);
    let labelled: Vec<(&str, f64)> = samples
        .iter()
        .filter(|s| s.name == "corbado_user_active_sessions")
        .map(|s| (s.labels["user_id"].as_str(), s.value))
        .collect();
    assert_eq!(labelled.len(), 10, "the top 10 users");
    let top = app
        .store
        .snapshot()
        .expect("snapshot")
        .summary
        .top_users
        .clone();
    for ((label, _), real) in labelled.iter().zip(&top) {
        assert!(
            label.len() == 16 && label.chars().all(|c| c.is_ascii_hexdigit()),
            "{label} is a pseudonym"
        );
        assert!(
            !text.contains(real.user_id.as_str()),
            "{} is not exported",
            real.user_id
        );
        // The operator's way back from a user to the series.
        let output = exporter(&[
            "user-label",
            "--per-user.id-key-file",
            key_file.to_str().expect("utf-8 path"),
            &real.user_id,
        ])
        .output()
        .expect("user-label runs");
        assert!(output.status.success());
        let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let series = labelled
            .iter()
            .find(|(l, _)| *l == printed)
            .unwrap_or_else(|| panic!("{printed} is one of the exported pseudonyms"));
        assert_eq!(
            series.1, real.active_sessions as f64,
            "and the right user's"
        );
    }
}

#[test]
fn a_short_key_is_refused() {
    let scratch = scratch_dir("short-key");
    let dir = scratch.path();
    let key_file = dir.join("short.key");
    std::fs::write(&key_file, "too short\n").expect("key");
    let output = exporter(&[
        "user-label",
        "--per-user.id-key-file",
        key_file.to_str().expect("utf-8"),
        "usr-1",
    ])
    .output()
    .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--per-user.id-key-file"));
}
