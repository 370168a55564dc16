//! OpenMetrics on `/metrics` when the `Accept` header prefers it: checked by the strictest
//! third-party parser at hand, the OpenMetrics parser of Prometheus' Python client (installed in
//! CI's virtual environment), and by what the text must hold. The real Prometheus scraping it with
//! its default settings is in `prometheus.rs`.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};

use corbado_exporter::poller::Strategy;

use crate::helpers::{config, run_with_input, spawn_app, spawn_sim};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether Python's `prometheus_client` can be imported; under CI it must.
fn python_client_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with prometheus_client is required under CI (pip install prometheus_client)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the OpenMetrics parser check: python3 -c 'import prometheus_client' fails \
             (install it with: pip install prometheus_client==0.26.0)"
        );
    }
    found
}

/// Each family the Python client's OpenMetrics parser reads from `text`, as `name type`.
fn parsed_by_the_python_client(text: &str) -> String {
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name, f.type)\n";
    let output = run_with_input("python3", &["-c", script], text);
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    said
}

#[tokio::test]
async fn openmetrics_is_served_when_asked_for_and_a_strict_parser_reads_it() {
    let sim = spawn_sim(3_000, 71).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let client = reqwest::Client::new();
    let asked = |accept: &'static str, encoding: &'static str| {
        client
            .get(app.url("/metrics"))
            .header("Accept", accept)
            .header("Accept-Encoding", encoding)
            .send()
    };
    let page = asked("application/openmetrics-text;version=1.0.0", "identity")
        .await
        .expect("scrape");
    assert_eq!(page.headers()["content-type"], OPENMETRICS);
    let text = page.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "{text}");
    for needle in [
        "# TYPE corbado_exporter_polls counter\n",
        "corbado_exporter_polls_total{project_id=\"pro-test\"} 1\n",
        "corbado_exporter_polls_created{project_id=\"pro-test\"} ",
        "# UNIT corbado_exporter_last_poll_duration_seconds seconds\n",
        "# TYPE corbado_active_sessions_per_user gaugehistogram\n",
        "corbado_active_sessions_per_user_gcount{project_id=\"pro-test\"} ",
        "corbado_exporter_api_request_duration_seconds_created{project_id=\"pro-test\"} ",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    // The same page compressed, and the text format for anyone who does not ask.
    let gzipped = asked("application/openmetrics-text", "gzip")
        .await
        .expect("scrape")
        .bytes()
        .await
        .expect("body");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_string(&mut unzipped)
        .expect("gzip");
    assert!(unzipped.ends_with("# EOF\n") && unzipped.contains("_created{"));
    let plain = asked("*/*", "identity").await.expect("scrape");
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!plain.text().await.expect("body").contains("# EOF"));

    if !python_client_available() {
        return;
    }
    let families = parsed_by_the_python_client(&text);
    for family in [
        "corbado_exporter_polls counter",
        "corbado_active_sessions_per_user gaugehistogram",
        "corbado_exporter_api_request_duration_seconds histogram",
        "corbado_sessions gauge",
    ] {
        assert!(
            families.lines().any(|l| l == family),
            "{family} in {families}"
        );
    }
}
