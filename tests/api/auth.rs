//! Tokens and scopes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use industry_events::auth::{generate_token, hash_token};
use industry_events::model::Scope;
use industry_events::repo;
use serde_json::json;

use crate::helpers::{TestApp, event};

fn post(token: Option<&str>, scheme: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/v1/events")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("{scheme} {token}"));
    }
    request
        .body(Body::from(
            event("Auth", "2024-01-01", &[], "minor").to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn writes_without_a_valid_token_are_401_with_www_authenticate() {
    let app = TestApp::new().await;
    let cases = [
        (None, "Bearer"),
        (Some("iev_not-a-real-token"), "Bearer"),
        (Some(app.write_token.as_str()), "Basic"),
        (Some(""), "Bearer"),
    ];
    for (token, scheme) in cases {
        let res = app.send(post(token, scheme)).await;
        res.assert_problem(StatusCode::UNAUTHORIZED);
        assert!(
            res.header("www-authenticate")
                .unwrap()
                .starts_with("Bearer"),
            "{token:?}"
        );
    }
    for (method, uri) in [
        (Method::PATCH, "/v1/events/x"),
        (Method::DELETE, "/v1/events/x"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        app.send(request)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_read_token_may_not_write_but_write_and_admin_may() {
    let app = TestApp::new().await;
    let reader = app.token("reader", Scope::Read).await;
    let body = app
        .send(post(Some(&reader), "Bearer"))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert!(body["detail"].as_str().unwrap().contains("write"));
    let admin = app.token("admin", Scope::Admin).await;
    app.send(post(Some(&admin), "Bearer"))
        .await
        .assert_status(StatusCode::CREATED);
    app.send(post(Some(&app.write_token), "bearer"))
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn revoked_and_expired_tokens_stop_working() {
    let app = TestApp::new().await;
    let token = app.token("short-lived", Scope::Write).await;
    app.send(post(Some(&token), "Bearer"))
        .await
        .assert_status(StatusCode::CREATED);
    assert!(repo::tokens::revoke(&app.db, "short-lived").await.unwrap());
    app.send(post(Some(&token), "Bearer"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    assert!(!repo::tokens::revoke(&app.db, "short-lived").await.unwrap());

    let expired = generate_token();
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    repo::tokens::create(
        &app.db,
        "expired",
        Scope::Write,
        &hash_token(&expired),
        Some(past),
    )
    .await
    .unwrap();
    app.send(post(Some(&expired), "Bearer"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes_and_names_are_unique_among_live_ones() {
    let app = TestApp::new().await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from api_tokens")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, vec![hash_token(&app.write_token).to_vec()]);
    let dup =
        repo::tokens::create(&app.db, "test-writer", Scope::Read, &hash_token("x"), None).await;
    assert!(matches!(
        dup,
        Err(industry_events::error::ApiError::Conflict(_))
    ));
    repo::tokens::revoke(&app.db, "test-writer").await.unwrap();
    repo::tokens::create(&app.db, "test-writer", Scope::Read, &hash_token("y"), None)
        .await
        .expect("a revoked token's name can be reused");
}

#[tokio::test]
async fn using_a_token_records_when_it_was_last_used() {
    let app = TestApp::new().await;
    let before = repo::tokens::list(&app.db).await.unwrap();
    assert!(before[0].last_used_at.is_none());
    app.send(post(Some(&app.write_token), "Bearer"))
        .await
        .assert_status(StatusCode::CREATED);
    let after = repo::tokens::list(&app.db).await.unwrap();
    assert!(after[0].last_used_at.is_some());
}

#[tokio::test]
async fn reads_can_be_configured_to_need_a_read_token() {
    let app = TestApp::with_config(|c| c.read_requires_token = true).await;
    let res = app.get("/v1/events").await;
    res.assert_problem(StatusCode::UNAUTHORIZED);
    assert!(res.header("www-authenticate").is_some());
    let reader = app.token("reader", Scope::Read).await;
    let auth = format!("Bearer {reader}");
    app.get_with("/v1/events", &[("authorization", &auth)])
        .await
        .assert_status(StatusCode::OK);
    app.get_with("/v1/tags", &[("authorization", &auth)])
        .await
        .assert_status(StatusCode::OK);
    // Health checks stay open for orchestrators.
    app.get("/healthz").await.assert_status(StatusCode::OK);
    // Writes still need write.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/events")
        .header(header::AUTHORIZATION, &auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({}).to_string()))
        .unwrap();
    app.send(request)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}
