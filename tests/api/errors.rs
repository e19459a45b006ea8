//! Every error is problem+json: routes, methods, bodies, content types.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, event};

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::new().await;
    for path in [
        "/nothing",
        "/v1",
        "/v2/events",
        "/v1/events/a/b",
        "/v1/nothing?x=1",
    ] {
        let body = app.get(path).await.assert_problem(StatusCode::NOT_FOUND);
        assert!(
            body["detail"].as_str().unwrap().contains("no route"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::PUT, "/v1/events"),
        (Method::DELETE, "/v1/events"),
        (Method::POST, "/v1/tags"),
        (Method::POST, "/healthz"),
        (Method::PUT, "/v1/events/some-event"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let res = app.send(request).await;
        res.assert_problem(StatusCode::METHOD_NOT_ALLOWED);
        assert!(res.header("allow").is_some(), "{method} {path}");
    }
}

fn raw_post(app: &TestApp, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = app.authed(Method::POST, "/v1/events");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_bodies_are_400_and_the_wrong_type_is_415() {
    let app = TestApp::new().await;
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            Some("application/json"),
            b"{\"title\": ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"{} {}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"{\"title\": \"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"\xef\xbb\xbf{}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (None, b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            Some("text/plain"),
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"a=b".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("application/jsonx"),
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (content_type, body, status) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let res = app.send(raw_post(&app, content_type, body)).await;
        assert_eq!(res.status, status, "{content_type:?} {shown:?}");
        res.assert_problem(status);
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    let app = TestApp::new().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let res = app
        .send(raw_post(&app, Some("application/json"), deep))
        .await;
    res.assert_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::with_config(|c| c.max_body_bytes = 2048).await;
    let mut big = event("Big", "2024-01-01", &[], "minor");
    big["what_happened"] = json!("x".repeat(4096));
    let body = app
        .post_json("/v1/events", big)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["detail"].as_str().unwrap().contains("2048"));
    // The default limit is 1 MiB.
    let app = TestApp::new().await;
    let mut huge = event("Huge", "2024-01-01", &[], "minor");
    huge["what_happened"] = json!("x".repeat(1_100_000));
    app.post_json("/v1/events", huge)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn errors_never_show_sql_or_internals() {
    let app = TestApp::new().await;
    let mut body = event("Dup", "2024-01-01", &[], "minor");
    body["slug"] = json!("dup");
    app.create_event(body.clone()).await;
    let problem = app
        .post_json("/v1/events", body)
        .await
        .assert_problem(StatusCode::CONFLICT);
    let text = problem.to_string().to_lowercase();
    for leak in [
        "constraint",
        "events_slug_key",
        "duplicate key",
        "sqlx",
        "select",
        "insert",
        ".rs",
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}
