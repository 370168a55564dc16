//! The status page, `/config`, `/logs` and `/runbook`: what each shows, that none shows a
//! secret, and that the status page renders in a real browser (headless Chromium) with its
//! strict Content-Security-Policy, loading nothing from elsewhere.

use std::collections::VecDeque;
use std::process::Command;

use corbado_exporter::poller::Strategy;
use corbado_exporter::server::html::content_security_policy;
use corbado_exporter::simulator::{Faults, Injected};

use crate::helpers::{
    config, parse_samples, scratch_dir, spawn_app, spawn_sim, tool_available, TestApp, TestSim,
    SECRET,
};

/// An exporter after three polls: two that succeeded and, between them, one refused (401).
async fn polled_app() -> (TestSim, TestApp) {
    let sim = spawn_sim(2_000, 3).await;
    let mut config = config(&sim.api_url(), Strategy::Auto);
    config.settings.max_requests_per_second = 50.0;
    let app = spawn_app(config).await;
    app.poller.poll_once().await.expect("first poll");
    sim.sim.set_faults(Faults {
        script: VecDeque::from([Injected::Status(401)]),
        ..Faults::default()
    });
    app.poller.poll_once().await.expect_err("refused");
    sim.sim.set_faults(Faults::default());
    app.poller.poll_once().await.expect("third poll");
    (sim, app)
}

/// `(status, Content-Security-Policy, body)` of `path`.
async fn get(app: &TestApp, path: &str) -> (u16, Option<String>, String) {
    let response = reqwest::get(app.url(path)).await.expect("request");
    let status = response.status().as_u16();
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, csp, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_status_page_shows_each_projects_state_and_its_last_polls() {
    let (_sim, app) = polled_app().await;
    let (status, csp, page) = get(&app, "/").await;
    assert_eq!(status, 200);
    assert_eq!(csp.as_deref(), Some(content_security_policy()));
    assert!(page.contains("<section id=\"project-pro-test\">"), "{page}");
    assert!(page.contains("<span class=\"up\">up</span>"), "{page}");
    assert!(page.contains("<dt>Strategy</dt><dd>auto (the last poll: incremental)</dd>"));
    // Three polls, newest first: ok, refused, the initial resync.
    let rows: Vec<&str> = page.split("<tr><td>").skip(1).collect();
    assert_eq!(rows.len(), 3, "{page}");
    assert!(
        rows[0].contains("<span class=\"up\">ok</span>"),
        "{}",
        rows[0]
    );
    assert!(rows[1].contains("failed</span>: ") && rows[1].contains("401"));
    assert!(rows[2].contains("<td>resync: initial</td>"), "{}", rows[2]);
    assert!(page.contains("<dt>Last error</dt><dd>") && page.contains("401"));
    // The hour's requests are the ones the exporter counted, against 50/s for an hour.
    let scrape = app.scrape().await;
    let counted: f64 = parse_samples(&scrape)
        .iter()
        .filter(|s| s.name == "corbado_exporter_api_requests_total")
        .map(|s| s.value)
        .sum();
    let budget = format!("<dd>{counted} of the 180,000 that --corbado.max-requests-per-second 50");
    assert!(page.contains(&budget), "{budget} in {page}");
    assert!(page.contains("<dt>Next poll</dt><dd>not scheduled</dd>"));
    // Nothing is loaded from anywhere: no script, no image, every link local.
    assert!(!page.contains("<script") && !page.contains(" src="));
    for link in page.split("href=\"").skip(1) {
        assert!(link.starts_with('/'), "a link leaves the exporter: {link}");
    }
    for link in ["/metrics", "/config", "/logs", "/runbook"] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link}");
    }
}

#[tokio::test]
async fn config_shows_the_effective_settings_with_every_secret_redacted() {
    let (sim, app) = polled_app().await;
    let (status, _, yaml) = get(&app, "/config").await;
    assert_eq!(status, 200);
    assert!(!yaml.contains(SECRET), "{yaml}");
    let parsed: serde_json::Value = corbado_exporter::yaml::from_str(&yaml).expect("YAML");
    let project = &parsed["projects"][0];
    assert_eq!(project["id"].as_str(), Some("pro-test"));
    assert_eq!(project["api_secret"].as_str(), Some("[redacted]"));
    assert_eq!(project["api_url"].as_str(), Some(sim.api_url().as_str()));
    assert_eq!(project["max_requests_per_second"].as_f64(), Some(50.0));
    assert_eq!(project["strategy"].as_str(), Some("auto"));
    assert_eq!(parsed["total_shards"].as_u64(), Some(1));
}

#[tokio::test]
async fn the_runbook_has_an_anchor_per_alert_and_the_same_policy() {
    let (_sim, app) = polled_app().await;
    let (status, csp, page) = get(&app, "/runbook").await;
    assert_eq!(status, 200);
    assert_eq!(csp.as_deref(), Some(content_security_policy()));
    for anchor in [
        "corbadoexporterdown",
        "corbadopollsfailing",
        "corbadoapiratelimited",
    ] {
        assert!(page.contains(&format!("id=\"{anchor}\"")), "{anchor}");
    }
    let (_, _, status_page) = get(&app, "/").await;
    assert!(status_page.contains("href=\"/runbook\""));
}

/// `chromium` with what a headless run as root in a container needs.
pub fn chromium(profile: &std::path::Path) -> Command {
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// What headless Chromium makes of `url`: its DOM once loaded, and what it logged (its console
/// included). Fails when Chromium does.
pub async fn dump_dom(profile: &std::path::Path, url: &str) -> (String, String) {
    let (profile, url) = (profile.to_owned(), url.to_owned());
    let output =
        tokio::task::spawn_blocking(move || chromium(&profile).arg("--dump-dom").arg(url).output())
            .await
            .expect("join")
            .expect("chromium runs");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "chromium failed: {log}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), log)
}

#[tokio::test]
async fn chromium_renders_the_status_page_on_a_phone_without_a_policy_violation() {
    if !tool_available("chromium") {
        return;
    }
    let (_sim, app) = polled_app().await;
    let scratch = scratch_dir("status-chromium");
    // Owned: each blocking task below takes a copy.
    let dir = scratch.path().to_owned();
    let url = app.url("/");
    let (html, log) = dump_dom(&dir.join("profile"), &url).await;
    assert!(html.contains("id=\"project-pro-test\""), "{html}");
    assert!(html.contains("auto (the last poll: incremental)"));
    assert_eq!(html.matches("<tr><td>").count(), 3, "{html}");
    assert!(html.contains("resync: initial"));
    // A style the policy refused would be reported on the browser's console, which it logs.
    assert!(!log.contains("Content Security Policy"), "{log}");

    let shot = dir.join("status.png");
    let screenshot = tokio::task::spawn_blocking({
        let (dir, shot) = (dir.clone(), shot.clone());
        move || {
            chromium(&dir.join("profile"))
                .arg("--window-size=390,844")
                .arg(format!("--screenshot={}", shot.display()))
                .arg(url)
                .output()
        }
    })
    .await
    .expect("join")
    .expect("chromium runs");
    assert!(screenshot.status.success());
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[1..4], b"PNG");
    // The IHDR chunk's width: the page was laid out for a phone's 390 CSS pixels.
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 390, "screenshot {}", shot.display());
}
