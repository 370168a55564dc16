//! OpenMetrics on `/metrics` when the `Accept` header prefers it: checked by the strictest
//! third-party parser at hand, the OpenMetrics parser of Prometheus' Python client (installed in
//! CI's virtual environment), and by what the text must hold: by default the series of the text
//! page and no `_created` sample, with `--web.enable-created-samples` one for every counter and
//! histogram. The real Prometheus scraping it with its default settings is in `prometheus.rs`.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use corbado_exporter::poller::Strategy;

use crate::helpers::{
    config, eventually_some, parse_samples, run_with_input, spawn_app, spawn_sim, Sample, TestApp,
};

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
        "# UNIT corbado_exporter_last_poll_duration_seconds seconds\n",
        "# TYPE corbado_active_sessions_per_user gaugehistogram\n",
        "corbado_active_sessions_per_user_gcount{project_id=\"pro-test\"} ",
        "# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n",
        "# TYPE process_resident_memory_bytes gauge\n# UNIT process_resident_memory_bytes bytes\n",
        "\nprocess_cpu_seconds_total ",
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
    assert!(unzipped.ends_with("# EOF\n") && unzipped.contains("\nprocess_open_fds "));
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
        "process_cpu_seconds counter",
        "process_start_time_seconds gauge",
    ] {
        assert!(
            families.lines().any(|l| l == family),
            "{family} in {families}"
        );
    }
}

/// The page a scrape gets when it asks for OpenMetrics as Prometheus does.
pub async fn scrape_openmetrics(app: &TestApp) -> String {
    let page = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("Accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .expect("scrape");
    assert_eq!(page.headers()["content-type"], OPENMETRICS);
    page.text().await.expect("body")
}

/// The series of a page, by name and labels: the per-user distribution's `_gcount` and `_gsum`
/// (OpenMetrics' names for a gauge histogram) under the text format's `_count` and `_sum`.
fn series(samples: &[Sample]) -> BTreeSet<String> {
    samples
        .iter()
        .map(|s| {
            let name = s
                .name
                .replace("_per_user_gcount", "_per_user_count")
                .replace("_per_user_gsum", "_per_user_sum");
            format!("{name}{:?}", s.labels)
        })
        .collect()
}

#[tokio::test]
async fn by_default_the_openmetrics_page_has_exactly_the_series_of_the_text_page() {
    let sim = spawn_sim(3_000, 72).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let text = parse_samples(&app.scrape().await);
    let page = scrape_openmetrics(&app).await;
    let openmetrics = parse_samples(&page);
    assert!(
        !openmetrics.iter().any(|s| s.name.ends_with("_created")),
        "a _created sample without --web.enable-created-samples:\n{page}"
    );
    assert_eq!(series(&openmetrics), series(&text));
    assert_eq!(openmetrics.len(), text.len());
    // The process metrics are there, once, without project_id, in both.
    for name in crate::promtool::PROCESS_FAMILIES {
        for samples in [&text, &openmetrics] {
            let found: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
            assert_eq!(found.len(), 1, "{name}");
            assert!(found[0].labels.is_empty(), "{name}: {:?}", found[0].labels);
        }
    }
}

#[tokio::test]
async fn with_enable_created_samples_every_counter_and_histogram_has_a_created_sample() {
    let sim = spawn_sim(3_000, 73).await;
    let mut config = config(&sim.api_url(), Strategy::Auto);
    config.page.created_samples = true;
    let app = spawn_app(config).await;
    app.poller.poll_once().await.expect("poll");
    let page = scrape_openmetrics(&app).await;
    let samples = parse_samples(&page);
    // Every series of a counter (`_total`) or histogram (`_count`) has a `_created` of the
    // same labels, and no other `_created` sample exists.
    let mut kinds: Vec<(&str, &str)> = Vec::new();
    for line in page.lines() {
        if let Some((family, kind)) = line.strip_prefix("# TYPE ").and_then(|t| t.split_once(' ')) {
            kinds.push((family, kind));
        }
    }
    let mut expected = BTreeSet::new();
    for (family, kind) in &kinds {
        let counted = match *kind {
            "counter" => format!("{family}_total"),
            "histogram" => format!("{family}_count"),
            _ => continue,
        };
        for sample in samples.iter().filter(|s| s.name == counted) {
            expected.insert(format!("{family}_created{:?}", sample.labels));
        }
    }
    let created: BTreeSet<String> = samples
        .iter()
        .filter(|s| s.name.ends_with("_created"))
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect();
    assert!(expected.len() >= 10, "{expected:?}");
    assert!(expected.contains("process_cpu_seconds_created{}"));
    assert_eq!(created, expected);
    // The text format has no place for them.
    let text = parse_samples(&app.scrape().await);
    assert!(!text.iter().any(|s| s.name.ends_with("_created")));
    if python_client_available() {
        parsed_by_the_python_client(&page);
    }
}

#[tokio::test]
async fn process_metrics_are_read_at_each_scrape_and_dropped_by_their_flag() {
    let sim = spawn_sim(500, 74).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    app.poller.poll_once().await.expect("poll");
    let cpu = |text: &str| {
        parse_samples(text)
            .iter()
            .find(|s| s.name == "process_cpu_seconds_total")
            .map(|s| s.value)
            .expect("process_cpu_seconds_total")
    };
    let first = cpu(&app.scrape().await);
    // No poll runs in between: only a reading at scrape time can see this process work. The
    // wait fails unless a scrape shows more CPU time than the first.
    eventually_some(Duration::from_secs(60), "the CPU time to grow", || {
        let mut spin = 0u64;
        for i in 0..2_000_000u64 {
            spin = std::hint::black_box(spin.wrapping_add(i * i));
        }
        async { Some(cpu(&app.scrape().await)).filter(|&c| c > first) }
    })
    .await;

    let mut config = config(&sim.api_url(), Strategy::Scan);
    config.page.process_metrics = false;
    let quiet = spawn_app(config).await;
    quiet.poller.poll_once().await.expect("poll");
    for page in [quiet.scrape().await, scrape_openmetrics(&quiet).await] {
        assert!(!page.contains("process_"), "{page}");
        assert!(page.contains("corbado_up{project_id=\"pro-test\"} 1"));
    }
}
