//! The monitoring mixin (`mixin/`): the committed rule files, PrometheusRule and dashboard are
//! exactly what `mixin/generate` makes of it, read back as the mixin built them; another
//! selector reaches every query; and every alert has a unit test that fires it and one that
//! does not.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{dashboard, exprs, panels, repo, run_tool, scratch_dir, tool_available};

/// A selector unlike the default in every way that matters: another job, a second label.
const OTHER_SELECTOR: &str = r#"job="sessions",cluster="eu""#;

/// The mixin evaluated by jsonnet: `code` is jsonnet in which `mixin` is the mixin with
/// `overrides` (jsonnet fields) added to its `_config`.
fn build(overrides: &str, code: &str) -> Value {
    let program = format!(
        "local mixin = (import 'mixin.libsonnet') + {{ _config+:: {{ {overrides} }} }}; {code}"
    );
    let output = Command::new("jsonnet")
        .args(["-J", "mixin", "-e", &program])
        .current_dir(repo(""))
        .output()
        .expect("jsonnet runs");
    assert!(
        output.status.success(),
        "jsonnet failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("jsonnet prints JSON")
}

/// The alerts, recording rules and dashboards of the mixin.
const EVERYTHING: &str = "{ alerts: mixin.prometheusAlerts, rules: mixin.prometheusRules, \
                          dashboards: mixin.grafanaDashboards }";

fn rules(groups: &Value) -> Vec<&Value> {
    groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .collect()
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .swap_remove(0)
}

/// The exporter's series an expression reads: each metric name (outside strings and label
/// matchers) with the text of its matchers, `None` when it has none. A name is the exporter's
/// when it starts with `corbado_` or `corbado:` (recorded series), or is `up`.
fn series_read(expr: &str) -> Vec<(String, Option<String>)> {
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' => {
                // Label matchers of a name that is not the exporter's: skipped whole.
                i += expr[i..].find('}').expect("a closing brace") + 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                let name = &expr[start..i];
                let ours = name.starts_with("corbado_") || name.starts_with("corbado:");
                if name == "up" || name.starts_with("process_") || ours {
                    let matchers = expr[i..].starts_with('{').then(|| {
                        let end = i + expr[i..].find('}').expect("a closing brace");
                        let inside = expr[i + 1..end].to_owned();
                        i = end + 1;
                        inside
                    });
                    found.push((name.to_owned(), matchers));
                }
            }
            _ => i += 1,
        }
    }
    found
}

/// Asserts that `expr` reads the exporter's series, each one through `selector` (the first
/// matchers of its braces), and never names the default job.
fn assert_selected(what: &str, expr: &str, selector: &str) {
    let series = series_read(expr);
    assert!(!series.is_empty(), "{what} reads no series: {expr}");
    for (name, matchers) in series {
        let matchers = matchers.unwrap_or_default();
        let rest = matchers.strip_prefix(selector);
        assert!(
            rest.is_some_and(|r| r.is_empty() || r.starts_with(',')),
            "{what}: {name} is not read through {selector}: {expr}"
        );
    }
    assert!(
        !expr.contains(r#"job="corbado""#),
        "{what} still names the default job: {expr}"
    );
}

#[test]
fn the_committed_monitoring_files_are_what_the_mixin_generates() {
    if !tool_available("jsonnet") {
        return;
    }
    let scratch = scratch_dir("mixin-generate");
    let dir = scratch.path().to_owned();
    let dir_arg = dir.to_str().expect("a UTF-8 temporary path");
    let script = repo("mixin/generate");
    run_tool(script.to_str().expect("a UTF-8 path"), &[dir_arg]);
    let mut compared = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("the generated folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&dir).expect("under the folder");
            let fresh = std::fs::read_to_string(&path).expect("a generated file");
            let committed =
                std::fs::read_to_string(repo(&relative.to_string_lossy())).unwrap_or_default();
            assert!(
                committed == fresh,
                "{} differs from what the mixin generates: run mixin/generate and commit the result",
                relative.display()
            );
            compared.push(relative.to_string_lossy().into_owned());
        }
    }
    compared.sort();
    assert_eq!(
        compared,
        [
            "dashboards/corbado-sessions.json",
            "deploy/kubernetes/prometheusrule.yaml",
            "prometheus/alerts.yml",
            "prometheus/recording.yml",
        ]
    );
}

#[test]
fn the_generated_files_read_back_as_the_mixin_built_them() {
    if !tool_available("jsonnet") {
        return;
    }
    // The YAML is written by the mixin's own writer (mixin/lib/manifest.libsonnet): parsed
    // again, it must hold exactly the values jsonnet computed, every quote and block intact.
    let built = build("", EVERYTHING);
    assert_eq!(yaml("prometheus/alerts.yml"), built["alerts"]);
    assert_eq!(yaml("prometheus/recording.yml"), built["rules"]);
    assert_eq!(dashboard(), built["dashboards"]["corbado-sessions.json"]);
    let kubernetes = build(
        r#"corbadoSelector: 'job="corbado-exporter"'"#,
        "mixin.prometheusRules.groups + mixin.prometheusAlerts.groups",
    );
    assert_eq!(
        yaml("deploy/kubernetes/prometheusrule.yaml")["spec"]["groups"],
        kubernetes
    );
}

#[test]
fn another_selector_reaches_every_alert_rule_and_panel_query() {
    if !tool_available("jsonnet") {
        return;
    }
    let built = build(
        &format!("corbadoSelector: {}", serde_json::json!(OTHER_SELECTOR)),
        EVERYTHING,
    );
    let (alerts, recording) = (rules(&built["alerts"]), rules(&built["rules"]));
    assert_eq!((alerts.len(), recording.len()), (11, 7));
    for rule in alerts.iter().chain(&recording) {
        let name = rule["alert"].as_str().or(rule["record"].as_str());
        let expr = rule["expr"].as_str().expect("expr");
        assert_selected(name.expect("a name"), expr, OTHER_SELECTOR);
    }
    let dashboard = &built["dashboards"]["corbado-sessions.json"];
    let mut queries = 0;
    for panel in panels(dashboard) {
        for expr in exprs(panel) {
            assert_selected(
                panel["title"].as_str().expect("title"),
                expr,
                OTHER_SELECTOR,
            );
            queries += 1;
        }
    }
    assert!(queries > 30, "{queries} queries");
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if variable["type"] == "query" {
            let query = variable["query"]["query"].as_str().expect("a query");
            assert_selected(&format!("${}", variable["name"]), query, OTHER_SELECTOR);
        }
    }

    // And the re-targeted rules are still valid PromQL (JSON is YAML to promtool).
    if tool_available("promtool") {
        let scratch = scratch_dir("mixin-selector");
        let dir = scratch.path();
        for (name, groups) in [("recording", &built["rules"]), ("alerts", &built["alerts"])] {
            let path = dir.join(format!("{name}.yml"));
            std::fs::write(&path, groups.to_string()).expect("write the rules");
            run_tool(
                "promtool",
                &["check", "rules", path.to_str().expect("a UTF-8 path")],
            );
        }
    }
}

#[test]
fn the_committed_files_read_through_the_default_selector() {
    for (file, doc) in [
        ("prometheus/alerts.yml", yaml("prometheus/alerts.yml")),
        ("prometheus/recording.yml", yaml("prometheus/recording.yml")),
    ] {
        for rule in rules(&doc) {
            let expr = rule["expr"].as_str().expect("expr");
            for (name, matchers) in series_read(expr) {
                assert!(
                    matchers.is_some_and(|m| m.starts_with(r#"job="corbado""#)),
                    "{file}: {name} without the selector in {expr}"
                );
            }
        }
    }
}

#[test]
fn a_fixed_runbook_url_replaces_every_link_to_the_instance() {
    if !tool_available("jsonnet") {
        return;
    }
    let base = "https://ops.example.com/corbado/runbook";
    let alerts = build(&format!("runbookURL: '{base}'"), "mixin.prometheusAlerts");
    for rule in rules(&alerts) {
        let name = rule["alert"].as_str().expect("alert");
        assert_eq!(
            rule["annotations"]["runbook_url"],
            format!("{base}#{}", name.to_lowercase()),
        );
    }
    // By default, the runbook of the exporter that fired, over https when asked.
    let alerts = build("runbookScheme: 'https'", "mixin.prometheusAlerts");
    let polls = rules(&alerts)
        .into_iter()
        .find(|r| r["alert"] == "CorbadoPollsFailing")
        .expect("CorbadoPollsFailing");
    assert_eq!(
        polls["annotations"]["runbook_url"],
        "https://{{ $labels.instance }}/runbook#corbadopollsfailing"
    );
}

#[test]
fn every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() {
    let tests = yaml("prometheus/alerts.test.yml");
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .collect();
    let alerts = yaml("prometheus/alerts.yml");
    let names: Vec<&str> = rules(&alerts)
        .iter()
        .map(|r| r["alert"].as_str().expect("alert"))
        .collect();
    assert_eq!(names.len(), 11);
    for name in names {
        let expected = |fires: bool| {
            cases.iter().any(|c| {
                c["alertname"] == name
                    && c["exp_alerts"]
                        .as_array()
                        .is_some_and(|a| a.is_empty() != fires)
            })
        };
        assert!(expected(true), "no test of {name} expects it to fire");
        assert!(expected(false), "no test of {name} expects it quiet");
    }
}

#[test]
fn every_mixin_file_is_formatted_by_jsonnetfmt() {
    if !tool_available("jsonnetfmt") {
        return;
    }
    let mut files = Vec::new();
    let mut pending = vec![repo("mixin")];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("mixin/") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "libsonnet" || e == "jsonnet")
            {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    let mut args = vec!["--test"];
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(repo(""))
                .map_or(f.as_path(), Path::new)
                .display()
                .to_string()
        })
        .collect();
    args.extend(names.iter().map(String::as_str));
    run_tool("jsonnetfmt", &args);
}
