//! The OpenAPI document covers every route, and the docs page needs no internet.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use crate::helpers::TestApp;

/// Every operation the contract names; routes are registered with `routes!`, which
/// puts each into the document, so a route the document lacks cannot exist.
const CONTRACT: &[(&str, &str)] = &[
    ("GET", "/v1/events"),
    ("POST", "/v1/events"),
    ("GET", "/v1/events/{ref}"),
    ("PATCH", "/v1/events/{ref}"),
    ("DELETE", "/v1/events/{ref}"),
    ("GET", "/v1/events/{ref}/revisions"),
    ("GET", "/v1/tags"),
    ("GET", "/v1/companies"),
    ("POST", "/v1/companies"),
    ("GET", "/v1/companies/{ref}"),
    ("PATCH", "/v1/companies/{ref}"),
    ("DELETE", "/v1/companies/{ref}"),
    ("GET", "/v1/companies/{ref}/events"),
    ("GET", "/v1/companies/{ref}/partnerships"),
    ("GET", "/v1/companies/{ref}/revisions"),
    ("GET", "/v1/partnerships"),
    ("POST", "/v1/partnerships"),
    ("GET", "/v1/partnerships/{ref}"),
    ("PATCH", "/v1/partnerships/{ref}"),
    ("DELETE", "/v1/partnerships/{ref}"),
    ("GET", "/v1/partnerships/{ref}/revisions"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/events/stream"),
    ("GET", "/v1/events/export"),
    ("GET", "/v1/companies/export"),
    ("GET", "/v1/events/timeline"),
    ("GET", "/v1/events/timeline.svg"),
    ("GET", "/v1/tags/{tag}/timeline"),
    ("GET", "/v1/feeds/events.atom"),
    ("GET", "/v1/feeds/events.json"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{id}"),
    ("PATCH", "/v1/webhooks/{id}"),
    ("DELETE", "/v1/webhooks/{id}"),
    ("POST", "/v1/webhooks/{id}/rotate-secret"),
    ("POST", "/v1/webhooks/{id}/ping"),
    ("GET", "/v1/webhooks/{id}/deliveries"),
    ("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
];

#[tokio::test]
async fn the_document_is_openapi_3_1_covers_the_contract_and_every_operation_is_served() {
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
    let contract: BTreeSet<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = contract.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "contract operations missing from the document: {missing:?}"
    );
    // The other direction: every documented operation reaches a handler (a route the
    // router lacks would be a 404 `no-such-route` or a 405).
    for (method, path) in &documented {
        let mut concrete = path
            .replace("{ref}", "no-such-record")
            .replace("{tag}", "no-such-tag")
            .replace("{id}", "no-such-id")
            .replace("{delivery_id}", "no-such-id");
        if concrete.ends_with("/stream") {
            // A stream never ends by itself; a list-only parameter ends it at once.
            concrete.push_str("?limit=1");
        }
        let method = axum::http::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .send(
                app.authed(method.clone(), &concrete)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_ne!(
            res.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if res.status == StatusCode::NOT_FOUND {
            assert_ne!(
                res.json()["type"],
                "urn:problem:industry-events:no-such-route",
                "{method} {path} is documented but not routed"
            );
        }
    }
}

/// Every `$ref` in `value`, recursively.
fn refs_in(value: &serde_json::Value, found: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", serde_json::Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => refs_in(inner, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| refs_in(i, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    // Generators (openapi-typescript, schemathesis) fail on a `$ref` to nothing.
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").await.json();
    let mut refs = BTreeSet::new();
    refs_in(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for target in &refs {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("an unexpected reference {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is referenced but not in the components"
        );
    }
    // Read your writes: every read takes a Consistency-Token, every write answers one.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        if let Some(get) = item.get("get") {
            let names: Vec<&str> = get["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            assert!(
                names.contains(&"Consistency-Token"),
                "GET {path}: {names:?}"
            );
        }
    }
    assert!(
        doc["paths"]["/v1/events"]["post"]["responses"]["201"]["headers"]
            .get("Consistency-Token")
            .is_some()
    );
    // What a webhook message looks like is in the document, though no route returns it.
    let message = &doc["components"]["schemas"]["WebhookMessage"];
    for key in ["type", "timestamp", "data"] {
        assert!(message["properties"].get(key).is_some(), "{message}");
    }
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
    // The stall limit the import routes document is the one they apply (the attribute
    // takes a literal, so a change of the constant must be mirrored there).
    let stall = format!(
        "no record came for {} s",
        industry_events::import::BODY_STALL.as_secs()
    );
    for path in ["/v1/events/import", "/v1/companies/import"] {
        let described = doc["paths"][path]["post"]["responses"]["408"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(described.contains(&stall), "{path}: {described}");
    }
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
