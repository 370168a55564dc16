//! The Grafana dashboard's structure, and that it asks only for metrics the exporter exports.

use std::collections::HashSet;

use corbado_exporter::poller::Strategy;
use serde_json::Value;

use crate::helpers::{config, dashboard, exprs, metric_names, panels, spawn_app, spawn_sim};

fn walk<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if let Some(ds) = map.get("datasource") {
                found.push(ds);
            }
            map.values().for_each(|v| walk(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
}

#[test]
fn the_dashboard_imports_cleanly_into_grafana_10() {
    let d = dashboard();
    assert_eq!(d["uid"], "corbado-sessions", "a stable uid");
    let schema = d["schemaVersion"].as_i64().expect("schemaVersion");
    assert!(
        (36..=41).contains(&schema),
        "Grafana 10 era schema, got {schema}"
    );

    let vars = d["templating"]["list"].as_array().expect("variables");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    // The variables read the exporter's series through the mixin's selector, as the panels do.
    for (name, source) in [
        (
            "project_id",
            r#"label_values(corbado_up{job="corbado"}, project_id)"#,
        ),
        (
            "window",
            r#"label_values(corbado_sessions_created_in_window{job="corbado"}, window)"#,
        ),
    ] {
        assert_eq!(var(name)["type"], "query");
        assert_eq!(var(name)["query"]["query"], source);
    }

    let mut datasources = Vec::new();
    walk(&d, &mut datasources);
    for ds in datasources {
        let uid = ds["uid"].as_str().unwrap_or("");
        assert!(
            uid == "${datasource}" || uid == "-- Grafana --",
            "hard-coded datasource uid {uid:?}"
        );
    }
}

#[test]
fn several_projects_are_chosen_together_and_compared_in_one_table() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().expect("variables");
    let project = vars
        .iter()
        .find(|v| v["name"] == "project_id")
        .expect("project_id");
    assert_eq!(project["multi"], true);
    assert_eq!(project["includeAll"], true);
    let panels = panels(&d);
    let table = panels
        .iter()
        .find(|p| p["title"] == "Projects polled")
        .expect("the per-project overview");
    assert_eq!(table["type"], "table");
    let queries = exprs(table);
    for metric in [
        "corbado_up",
        "corbado_sessions",
        "corbado_exporter_last_poll_success_timestamp_seconds",
        "corbado_exporter_api_requests_total",
    ] {
        let query = queries
            .iter()
            .find(|q| metric_names(q).iter().any(|m| m == metric))
            .unwrap_or_else(|| panic!("the overview shows {metric}"));
        assert!(
            query.contains("by (project_id"),
            "one row per project: {query}"
        );
        assert!(query.contains("project_id=~\"$project_id\""), "{query}");
    }
    // Each instance links to its status page, each project to its section there.
    let overrides = table["fieldConfig"]["overrides"]
        .as_array()
        .expect("overrides");
    let link = |column: &str| {
        overrides
            .iter()
            .find(|o| o["matcher"]["options"] == column)
            .and_then(|o| o["properties"][0]["value"][0]["url"].as_str())
            .unwrap_or_else(|| panic!("a link on the {column} column"))
            .to_owned()
    };
    assert_eq!(link("instance"), "http://${__value.raw}/");
    assert_eq!(
        link("project"),
        "http://${__data.fields.instance}/#project-${__value.raw}"
    );
}

#[test]
fn panels_have_unique_ids_descriptions_and_sit_on_the_grid_without_overlap() {
    let d = dashboard();
    let all = d["panels"].as_array().expect("panels");
    let mut ids = HashSet::new();
    let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
    for panel in all {
        let id = panel["id"].as_i64().expect("numeric id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        let g = &panel["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().expect("x"),
            g["y"].as_i64().expect("y"),
            g["w"].as_i64().expect("w"),
            g["h"].as_i64().expect("h"),
        );
        let title = panel["title"].as_str().unwrap_or("").to_owned();
        assert!(
            x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24,
            "{title}: off the grid"
        );
        for (ox, oy, ow, oh, other) in &boxes {
            let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
            assert!(!overlap, "{title} overlaps {other}");
        }
        boxes.push((x, y, w, h, title));
    }
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("?");
        let description = panel["description"].as_str().unwrap_or("");
        assert!(description.len() > 20, "{title}: needs a description");
        assert!(!exprs(panel).is_empty(), "{title}: needs a query");
    }
    assert!(panels(&d).len() >= 15);
}

#[tokio::test]
async fn every_query_uses_only_metrics_a_real_scrape_exports() {
    let sim = spawn_sim(2_000, 8).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let scrape = app.scrape().await;
    let exported: HashSet<&str> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let d = dashboard();
    let mut used = 0;
    for panel in panels(&d) {
        for expr in exprs(panel) {
            for name in metric_names(expr) {
                assert!(
                    exported.contains(name.as_str()),
                    "{name} (in {expr:?}) is not exported"
                );
                used += 1;
            }
        }
    }
    assert!(used > 20);
}
