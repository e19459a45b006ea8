//! Every writable field of every resource survives a create, a patch and a read.
//!
//! The fields come from the request schemas of the OpenAPI document, which are the
//! model's request types: a field added there without a sample below fails here by
//! name, and one that the repository forgets to store (or a patch forgets to keep)
//! fails the comparison.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A field's value on create and on patch: `(field, created, patched)`. What a read
/// shows must contain the value sent (objects compared key by key, so an output that
/// adds keys, like a company's `id` and `name` beside its `slug` and `role`, matches).
type Sample = (&'static str, fn() -> Value, fn() -> Value);
type Samples = &'static [Sample];

const COMPANY: Samples = &[
    ("slug", || json!("acme-labs"), || json!("acme-labs-renamed")),
    ("name", || json!("Acme Labs"), || json!("Acme Labs Two")),
    ("kind", || json!("ai_lab"), || json!("investor")),
    ("country", || json!("US"), || json!("FR")),
    (
        "website",
        || json!("https://acme.example"),
        || json!("https://acme.example/two"),
    ),
    (
        "description",
        || json!("Builds models."),
        || json!("Invests."),
    ),
    ("tags", || json!(["ai"]), || json!(["ai", "investment"])),
];

const PARTNERSHIP: Samples = &[
    ("slug", || json!("the-deal"), || json!("the-deal-renamed")),
    ("title", || json!("The deal"), || json!("The deal, amended")),
    ("kind", || json!("investment"), || json!("cloud")),
    ("status", || json!("announced"), || json!("completed")),
    (
        "parties",
        || json!([{"company": "acme-labs-renamed", "role": "investor"}, {"company": "other-co", "role": "investee"}]),
        || json!([{"company": "other-co", "role": "partner"}, {"company": "acme-labs-renamed", "role": "partner"}]),
    ),
    (
        "announced_on",
        || json!("2023-09-25"),
        || json!("2023-10-01"),
    ),
    ("ended_on", || json!("2024-01-01"), || json!("2024-06-30")),
    (
        "total",
        || json!({"amount": "1250000000", "currency": "USD"}),
        || json!({"amount": "4000000000", "currency": "USD"}),
    ),
    (
        "tranches",
        || json!([{"amount": {"amount": "1250000000", "currency": "USD"}, "on": "2023-09-25", "note": "first"}]),
        || {
            json!([
                {"amount": {"amount": "1250000000", "currency": "USD"}, "on": "2023-09-25", "note": "first"},
                {"amount": {"amount": "2750000000", "currency": "USD"}, "on": "2024-03-27", "note": "second"}
            ])
        },
    ),
    (
        "terms",
        || json!(["AWS first"]),
        || json!(["AWS first", "Bedrock"]),
    ),
    ("exclusive", || json!(false), || json!(true)),
    (
        "tags",
        || json!(["investment"]),
        || json!(["cloud-computing"]),
    ),
];

const EVENT: Samples = &[
    ("slug", || json!("big-news"), || json!("big-news-renamed")),
    ("title", || json!("Big news"), || json!("Bigger news")),
    (
        "occurred_on",
        || json!("2024-03-27"),
        || json!("2024-03-28"),
    ),
    ("category", || json!("industry"), || json!("funding")),
    ("significance", || json!("major"), || json!("landmark")),
    (
        "summary",
        || json!("A summary."),
        || json!("Another summary."),
    ),
    (
        "what_happened",
        || json!("It happened."),
        || json!("It happened again."),
    ),
    (
        "why_it_matters",
        || json!("It matters."),
        || json!("It matters more."),
    ),
    (
        "tags",
        || json!(["investment"]),
        || json!(["investment", "cloud-computing"]),
    ),
    (
        "sources",
        || json!([{"url": "https://news.example/a", "title": "A"}]),
        || json!([{"url": "https://news.example/b", "title": "B"}]),
    ),
    (
        "companies",
        || json!([{"company": "acme-labs-renamed", "role": "investor"}]),
        || json!([{"company": "other-co", "role": "investee"}]),
    ),
    ("partnerships", || json!(["the-deal-renamed"]), || json!([])),
];

/// How a read shows a sent value: references come back as `{slug, ...}` objects.
fn shown(field: &str, sent: &Value) -> Value {
    match (field, sent) {
        ("parties" | "companies", Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|p| json!({"slug": p["company"], "role": p["role"]}))
                .collect(),
        ),
        ("partnerships", Value::Array(items)) => {
            Value::Array(items.iter().map(|slug| json!({ "slug": slug })).collect())
        }
        _ => sent.clone(),
    }
}

/// Whether `actual` shows everything `expected` says (extra object keys allowed).
fn shows(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| shows(av, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| shows(av, ev))
        }
        _ => actual == expected,
    }
}

async fn round_trip(app: &TestApp, schema: &str, collection: &str, samples: Samples) {
    let doc = app.get("/openapi.json").await.json();
    let properties = doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} has no properties"));
    for name in properties.keys() {
        assert!(
            samples.iter().any(|(field, _, _)| field == name),
            "{schema}.{name} has no sample in tests/api/fields.rs: add one so the field is \
             checked through create, patch and read"
        );
    }
    let body = |pick: fn(&Sample) -> Value| -> Value {
        Value::Object(samples.iter().map(|s| (s.0.to_owned(), pick(s))).collect())
    };
    let created = body(|s| s.1());
    let res = app
        .post_json(&format!("/v1/{collection}"), created.clone())
        .await;
    res.assert_status(StatusCode::CREATED);
    let location = res.header("location").unwrap().to_owned();
    let read = app.get(&location).await.json();
    for (field, value) in created.as_object().unwrap() {
        assert!(
            shows(&read[field], &shown(field, value)),
            "{collection}: `{field}` was created as {value} but reads {}",
            read[field]
        );
    }
    let patched = body(|s| s.2());
    app.patch_json(&location, patched.clone())
        .await
        .assert_status(StatusCode::OK);
    let read = app.get(&location).await.json();
    for (field, value) in patched.as_object().unwrap() {
        assert!(
            shows(&read[field], &shown(field, value)),
            "{collection}: `{field}` was patched to {value} but reads {}",
            read[field]
        );
    }
    // A patch of one field keeps every other as it was.
    app.patch_json(&location, json!({"tags": ["kept"]}))
        .await
        .assert_status(StatusCode::OK);
    let after = app.get(&location).await.json();
    for (field, value) in patched.as_object().unwrap() {
        if field != "tags" {
            assert!(
                shows(&after[field], &shown(field, value)),
                "{collection}: patching `tags` changed `{field}` to {}",
                after[field]
            );
        }
    }
}

#[tokio::test]
async fn every_writable_field_survives_create_patch_and_read() {
    let app = TestApp::new().await;
    app.post_json(
        "/v1/companies",
        json!({"name": "Other Co", "kind": "enterprise"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    round_trip(&app, "CompanyInput", "companies", COMPANY).await;
    round_trip(&app, "PartnershipInput", "partnerships", PARTNERSHIP).await;
    round_trip(&app, "EventInput", "events", EVENT).await;
}
