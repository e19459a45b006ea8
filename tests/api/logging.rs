//! Logs: a client's mistake is not the operator's error, and a failure is logged once,
//! with its causes and its request id.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{TestApp, logged_for};
use crate::ops::binary;

/// Sends a request with its own request id through the router (500s included, which
/// `TestApp::send` refuses), and returns the status.
async fn send_with_id(
    app: &TestApp,
    request: axum::http::request::Builder,
    body: Body,
) -> (StatusCode, String) {
    let request_id = format!("log-test-{}", uuid::Uuid::now_v7());
    let request = request
        .header("x-request-id", &request_id)
        .body(body)
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    (response.status(), request_id)
}

#[tokio::test]
async fn expected_client_errors_are_not_logged_as_warnings_or_errors() {
    let app = TestApp::new().await;
    app.post_json(
        "/v1/companies",
        json!({"name": "Amazon", "kind": "cloud_provider"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let auth = format!("Bearer {}", app.write_token);
    let json_post = |uri: &str| {
        Request::post(uri)
            .header(header::AUTHORIZATION, &auth)
            .header(header::CONTENT_TYPE, "application/json")
    };
    let cases = [
        (
            Request::get("/v1/events/no-such-event"),
            Body::empty(),
            StatusCode::NOT_FOUND,
        ),
        (
            Request::get("/v1/events?colour=red"),
            Body::empty(),
            StatusCode::BAD_REQUEST,
        ),
        (
            json_post("/v1/companies"),
            Body::from(json!({"name": "Amazon", "kind": "cloud_provider"}).to_string()),
            StatusCode::CONFLICT,
        ),
        (
            json_post("/v1/events"),
            Body::from(json!({"title": ""}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Request::patch("/v1/companies/amazon")
                .header(header::AUTHORIZATION, &auth)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::IF_MATCH, "\"stale\""),
            Body::from("{}"),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            Request::post("/v1/events"),
            Body::from("{}"),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (request, body, expected) in cases {
        let (status, request_id) = send_with_id(&app, request, body).await;
        assert_eq!(status, expected);
        let lines = logged_for(&request_id);
        assert!(lines.is_empty(), "a {status} was logged: {lines:?}");
    }
}

#[tokio::test]
async fn a_500_is_logged_once_as_an_error_with_its_cause_chain_and_request_id() {
    let app = TestApp::new().await;
    // Break the schema under the service, as a bad migration would.
    sqlx::query("alter table companies rename column name to company_name")
        .execute(&app.db)
        .await
        .unwrap();
    let (status, request_id) =
        send_with_id(&app, Request::get("/v1/companies"), Body::empty()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let lines = logged_for(&request_id);
    assert_eq!(lines.len(), 1, "logged once: {lines:?}");
    let line = &lines[0];
    assert_eq!(line.level, tracing::Level::ERROR);
    for part in [
        "status=500",
        "internal error",
        "database query failed",
        "does not exist",
    ] {
        assert!(
            line.fields.contains(part),
            "`{part}` missing from {}",
            line.fields
        );
    }
}

#[tokio::test]
async fn the_cli_prints_the_whole_cause_chain_when_it_fails() {
    let app = TestApp::new().await;
    sqlx::query("alter table api_tokens rename to api_tokens_gone")
        .execute(&app.db)
        .await
        .unwrap();
    let output = binary(app.database())
        .args(["tokens", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "{stderr}");
    for part in ["database query failed", "api_tokens", "does not exist"] {
        assert!(last.contains(part), "`{part}` missing from: {stderr}");
    }
}
