//! Hostile input everywhere: every answer is a 2xx or a 4xx problem, never a 5xx, and
//! text comes back exactly as it went in.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, event};

/// Values that break naive SQL, LIKE, tsquery, number and date handling.
const HOSTILE: &[&str] = &[
    "'",
    "' OR '1'='1",
    "1; DROP TABLE events; --",
    "%",
    "_",
    "\\",
    "%25%27",
    "a & b | !c",
    "a:* <-> b",
    "(",
    "\"unclosed",
    "99999999999999999999999",
    "-1",
    "1e309",
    "NaN",
    "0000-00-00",
    "+99999-01-01",
    "%00",
    "%FF",
    "..%2F..%2Fetc%2Fpasswd",
    "<script>",
];

#[tokio::test]
async fn hostile_values_in_every_list_parameter_are_200_or_400_never_5xx() {
    let app = TestApp::new().await;
    app.post_json(
        "/v1/companies",
        json!({"name": "Amazon", "kind": "cloud_provider"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.create_event(event("Something", "2024-01-01", &["ai"], "minor"))
        .await;
    let admin = app
        .token("admin", industry_events::model::Scope::Admin)
        .await;
    let auth = format!("Bearer {admin}");
    let lists: &[(&str, &[&str])] = &[
        (
            "/v1/events",
            &[
                "tag",
                "any_tag",
                "exclude_tag",
                "company",
                "role",
                "category",
                "significance",
                "min_significance",
                "from",
                "to",
                "q",
                "updated_since",
                "sort",
                "limit",
                "cursor",
            ],
        ),
        (
            "/v1/companies/amazon/events",
            &["tag", "q", "role", "limit", "cursor"],
        ),
        ("/v1/companies", &["q", "kind", "tag", "limit", "cursor"]),
        (
            "/v1/partnerships",
            &[
                "company", "kind", "status", "tag", "from", "to", "limit", "cursor",
            ],
        ),
        ("/v1/tags", &["prefix", "limit"]),
        (
            "/v1/audit",
            &["resource", "token", "since", "limit", "cursor"],
        ),
    ];
    let mut checked = 0;
    for (path, params) in lists {
        for param in *params {
            for value in HOSTILE {
                // Already percent-encoded values go as they are; the rest are encoded.
                let encoded = if value.contains('%') {
                    (*value).to_owned()
                } else {
                    form_urlencoded::byte_serialize(value.as_bytes()).collect()
                };
                let uri = format!("{path}?{param}={encoded}");
                let res = app.get_with(&uri, &[("authorization", &auth)]).await;
                assert!(
                    res.status == StatusCode::OK || res.status == StatusCode::BAD_REQUEST,
                    "{uri} answered {}: {}",
                    res.status,
                    String::from_utf8_lossy(&res.body)
                );
                if res.status == StatusCode::BAD_REQUEST {
                    res.assert_problem(StatusCode::BAD_REQUEST);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500);
}

#[tokio::test]
async fn hostile_text_in_every_field_is_stored_literally_or_refused_as_422() {
    let app = TestApp::new().await;
    let literal = "Robert'); DROP TABLE companies;-- 100% _x_ \\ \"q\" <b> ☃";
    let company = app
        .post_json(
            "/v1/companies",
            json!({"name": literal, "kind": "other", "description": literal, "slug": "bobby"}),
        )
        .await;
    company.assert_status(StatusCode::CREATED);
    assert_eq!(company.json()["name"], literal);
    let found = app
        .get(&format!(
            "/v1/companies?q={}",
            form_urlencoded::byte_serialize("100% _x_".as_bytes()).collect::<String>()
        ))
        .await
        .json();
    assert_eq!(
        found["data"][0]["slug"], "bobby",
        "LIKE wildcards are literal"
    );

    let mut body = event(literal, "2024-01-01", &[], "minor");
    body["summary"] = json!(literal);
    body["sources"] = json!([{"url": "https://example.com/?q='%20OR%201=1;--", "title": literal}]);
    let created = app.create_event(body).await;
    let fetched = app
        .get(&format!("/v1/events/{}", created["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(fetched["title"], literal);
    assert_eq!(fetched["sources"][0]["title"], literal);

    // Numbers where text belongs, text where numbers belong, huge and negative values.
    for bad in [
        json!({"title": 1e308, "occurred_on": "2024-01-01", "category": "other", "significance": "minor"}),
        json!({"title": "x", "occurred_on": -1, "category": "other", "significance": "minor"}),
        json!({"title": "x", "occurred_on": "99999-01-01", "category": "other", "significance": "minor"}),
        json!({"title": "x", "occurred_on": "2024-01-01", "category": ["other"], "significance": "minor"}),
        json!({"title": "x", "occurred_on": "2024-01-01", "category": "other", "significance": "minor", "tags": "ai"}),
        json!({"title": "x\u{0000}", "occurred_on": "2024-01-01", "category": "other", "significance": "minor"}),
    ] {
        app.post_json("/v1/events", bad)
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let deal = json!({
        "title": "x", "kind": "investment", "status": "active", "announced_on": "2024-01-01",
        "parties": [{"company": "bobby", "role": "investor"}, {"company": "bobby", "role": "partner"}],
        "total": {"amount": "-1", "currency": "USD"}
    });
    app.post_json("/v1/partnerships", deal)
        .await
        .assert_invalid_fields(&["total.amount"]);
    let huge = json!({
        "title": "x", "kind": "investment", "status": "active", "announced_on": "2024-01-01",
        "parties": [{"company": "bobby", "role": "investor"}, {"company": "bobby", "role": "partner"}],
        "total": {"amount": "1".repeat(400), "currency": "USD"}
    });
    app.post_json("/v1/partnerships", huge)
        .await
        .assert_invalid_fields(&["total.amount"]);
}

#[tokio::test]
async fn path_tricks_and_hostile_refs_are_404s() {
    let app = TestApp::new().await;
    for path in [
        "/v1/events/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/v1/events/%00",
        "/v1/events/%FF",
        "/v1/companies/'%20OR%201=1",
        "/v1/partnerships/a%2Fb",
        "/v1/companies/AMAZON",
    ] {
        let res = app.get(path).await;
        assert!(
            res.status == StatusCode::NOT_FOUND || res.status == StatusCode::BAD_REQUEST,
            "{path}: {}",
            res.status
        );
        res.assert_problem(res.status);
    }
    // Invalid UTF-8 in a body is a 400.
    let request = app
        .authed(Method::POST, "/v1/companies")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            b"{\"name\": \"\xc3\x28\", \"kind\": \"other\"}".to_vec(),
        ))
        .unwrap();
    app.send(request)
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
}
