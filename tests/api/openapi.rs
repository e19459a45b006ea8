//! The OpenAPI document covers every route, and the docs page needs no internet.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use crate::helpers::TestApp;

/// Every `(METHOD, path)` the router serves, read from the `.route(...)` calls in
/// `src/http`: adding a route without documenting it fails the test below.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's text up to its closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &rest[..end];
            let path = call.split('"').nth(1).unwrap().to_owned();
            for method in ["get", "post", "patch", "delete", "put"] {
                let calls = [format!("{method}("), format!(".{method}(")];
                let named = call
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '(' || c == '.'))
                    .any(|token| {
                        calls.iter().any(|c| {
                            token.starts_with(c.as_str()) || token.contains(&format!(".{method}("))
                        })
                    });
                if named {
                    routes.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_covers_every_route_in_the_router() {
    let app = TestApp::new().await;
    let res = app.get("/openapi.json").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let doc = res.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routes = routes_in_source();
    assert!(
        routes.len() >= 20,
        "the route parser found too few routes: {routes:?}"
    );
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(
        phantom.is_empty(),
        "documented operations the router does not serve: {phantom:?}"
    );
}

#[tokio::test]
async fn errors_are_problem_json_and_writes_need_the_bearer_scheme() {
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").await.json();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
            if method != "get" {
                assert_eq!(
                    operation["security"][0]["bearer"],
                    serde_json::json!([]),
                    "{method} {path}"
                );
                for status in ["401", "403"] {
                    assert!(
                        operation["responses"][status].is_object(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
            if path.contains("{ref}") {
                assert!(
                    operation["responses"]["404"].is_object(),
                    "{method} {path} lacks 404"
                );
            }
        }
    }
    // The money schema states amounts are strings, with the real currency list.
    let money = &doc["components"]["schemas"]["Money"];
    assert_eq!(money["properties"]["amount"]["type"], "string");
    assert!(
        money["properties"]["currency"]["enum"]
            .as_array()
            .unwrap()
            .len()
            > 150
    );
    // Examples come from the reference story.
    let example = doc["components"]["schemas"]["EventInput"]["example"].to_string();
    assert!(example.contains("Amazon completes $4 billion investment in Anthropic"));
    assert_eq!(
        doc["components"]["schemas"]["EventInput"]["additionalProperties"],
        false
    );
    assert!(doc["components"]["schemas"]["EventPatch"]["required"].is_null());
    let company_deals =
        doc["paths"]["/v1/companies/{ref}/partnerships"]["get"]["parameters"].to_string();
    assert!(
        !company_deals.contains("\"company\""),
        "the company is the path there"
    );
    let patch = &doc["paths"]["/v1/events/{ref}"]["patch"]["requestBody"]["content"];
    assert_eq!(
        patch["application/merge-patch+json"]["schema"]["$ref"],
        "#/components/schemas/EventPatch"
    );
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_by_the_binary() {
    let app = TestApp::new().await;
    let page = app.get("/docs").await;
    page.assert_status(StatusCode::OK);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(
        html.contains("/openapi.json"),
        "the page loads our document"
    );
    let mut assets = 0;
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            let url = piece.split('"').next().unwrap();
            assert!(
                !url.starts_with("http://")
                    && !url.starts_with("https://")
                    && !url.starts_with("//"),
                "the docs page loads {url} from another host"
            );
            let path = if url.starts_with('/') {
                url.to_owned()
            } else {
                format!("/docs/{}", url.trim_start_matches("./"))
            };
            let asset = app.get(&path).await;
            asset.assert_status(StatusCode::OK);
            assert!(!asset.body.is_empty(), "{path}");
            assets += 1;
        }
    }
    assert!(
        assets >= 2,
        "the page should load its scripts and styles: {html}"
    );
}
