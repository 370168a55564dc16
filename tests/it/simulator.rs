//! The simulated API, over HTTP, as the OpenAPI page describes it.

use base64::Engine as _;
use serde_json::Value;

use crate::helpers::{spawn_sim, PROJECT, SECRET};

async fn get(url: &str, auth: Option<(&str, &str)>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

#[tokio::test]
async fn requests_without_valid_credentials_get_the_documented_401_body() {
    let sim = spawn_sim(100, 1).await;
    let url = format!("{}/sessions", sim.api_url());
    for auth in [None, Some((PROJECT, "wrong")), Some(("pro-other", SECRET))] {
        let (status, body) = get(&url, auth).await;
        assert_eq!(status, 401);
        assert_eq!(body["httpStatusCode"], 401);
        assert!(body["requestData"]["requestID"]
            .as_str()
            .is_some_and(|id| id.starts_with("req-")));
        assert!(body["error"]["type"].is_string());
        assert!(body["runtime"].is_number());
    }
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{PROJECT}{SECRET}"));
    let response = reqwest::Client::new()
        .get(&url)
        .header("Authorization", format!("Basic {raw}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401, "no colon, no entry");
}

#[tokio::test]
async fn paging_defaults_limits_and_filtered_totals() {
    let sim = spawn_sim(1_000, 1).await;
    let base = format!("{}/sessions", sim.api_url());
    let auth = Some((PROJECT, SECRET));

    let (status, body) = get(&base, auth).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["sessions"].as_array().map(Vec::len),
        Some(10),
        "default pageSize is 10"
    );
    assert_eq!(body["paging"]["totalItems"], 1000);
    assert_eq!(body["paging"]["totalPages"], 100);
    let first = &body["sessions"][0];
    for field in ["sessionID", "userID", "identifierValue", "status"] {
        assert!(first[field].is_string(), "{field}");
    }
    for field in ["createdMs", "lastActionMs", "expiresMs"] {
        assert!(first[field].is_i64(), "{field}");
    }

    let (status, body) = get(&format!("{base}?pageSize=101"), auth).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "validation_error");
    assert_eq!(body["error"]["validation"][0]["field"], "pageSize");

    let (status, body) = get(&format!("{base}?filter[]=created:gt:yesterday"), auth).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["validation"][0]["field"], "filter[]");

    let (_, active) = get(
        &format!("{base}?pageSize=100&filter%5B%5D=status%3Aeq%3Aactive"),
        auth,
    )
    .await;
    let expected = sim.sim.with_population(|p| p.active_count());
    assert_eq!(active["paging"]["totalItems"], expected as u64);
    assert!(active["sessions"]
        .as_array()
        .expect("array")
        .iter()
        .all(|s| s["status"] == "active"));

    let (_, beyond) = get(&format!("{base}?page=1000&pageSize=100"), auth).await;
    assert_eq!(beyond["sessions"].as_array().map(Vec::len), Some(0));
    assert_eq!(beyond["paging"]["page"], 1000);
}

#[tokio::test]
async fn sort_orders_the_pages() {
    let sim = spawn_sim(500, 1).await;
    let base = format!("{}/sessions", sim.api_url());
    let (_, body) = get(
        &format!("{base}?pageSize=100&sort=expires:desc"),
        Some((PROJECT, SECRET)),
    )
    .await;
    let expiries: Vec<i64> = body["sessions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["expiresMs"].as_i64().expect("int"))
        .collect();
    assert_eq!(expiries.len(), 100);
    assert!(expiries.windows(2).all(|w| w[0] >= w[1]));
}
