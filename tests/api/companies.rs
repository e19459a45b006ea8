//! Companies: create, read, patch, delete, and the filtered keyset list.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use industry_events::model::Scope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, ids};

/// A valid company.
fn company(name: &str, kind: &str, tags: &[&str]) -> Value {
    json!({ "name": name, "kind": kind, "tags": tags })
}

/// The reference record's investee.
fn anthropic() -> Value {
    json!({
        "name": "Anthropic",
        "kind": "ai_lab",
        "country": "us",
        "website": "https://www.anthropic.com",
        "description": "AI safety and research company; builds Claude.",
        "tags": ["#Foundation Models", "AI_Safety", "ai-safety"]
    })
}

/// Creates a company and returns its body; panics unless 201.
async fn create(app: &TestApp, body: Value) -> Value {
    let res = app.post_json("/v1/companies", body).await;
    res.assert_status(StatusCode::CREATED);
    res.json()
}

/// The slugs of a list body, sorted (for checks that do not depend on order).
fn slugs(body: &Value) -> Vec<String> {
    let mut slugs: Vec<String> = body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|c| c["slug"].as_str().expect("slug").to_owned())
        .collect();
    slugs.sort();
    slugs
}

#[tokio::test]
async fn creating_a_company_answers_201_with_location_etag_and_the_company() {
    let app = TestApp::new().await;
    let res = app.post_json("/v1/companies", anthropic()).await;
    res.assert_status(StatusCode::CREATED);
    let body = res.json();
    let id = body["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(
        res.header("location"),
        Some(format!("/v1/companies/{id}").as_str())
    );
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}-1\"", id.replace('-', "")).as_str())
    );
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(body["slug"], "anthropic");
    assert_eq!(body["name"], "Anthropic");
    assert_eq!(body["kind"], "ai_lab");
    assert_eq!(body["country"], "US", "a lowercase code is normalised");
    assert_eq!(body["website"], "https://www.anthropic.com");
    assert_eq!(
        body["tags"],
        json!(["foundation-models", "ai-safety"]),
        "tags are normalised and merged like an event's"
    );
    assert_eq!(body["version"], 1);
    assert_eq!(body["created_at"], body["updated_at"]);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "country",
            "created_at",
            "description",
            "id",
            "kind",
            "name",
            "slug",
            "tags",
            "updated_at",
            "version",
            "website"
        ]
    );

    let minimal = create(&app, company("European Commission", "regulator", &[])).await;
    assert_eq!(minimal["slug"], "european-commission");
    assert_eq!(minimal["country"], Value::Null, "absent country is null");
    assert_eq!(minimal["website"], Value::Null, "absent website is null");
    assert_eq!(minimal["description"], "");
    assert_eq!(minimal["tags"], json!([]));
}

#[tokio::test]
async fn a_company_is_found_by_id_and_by_slug_with_etag_and_304s() {
    let app = TestApp::new().await;
    let created = create(&app, anthropic()).await;
    let by_id = app
        .get(&format!(
            "/v1/companies/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    let by_slug = app.get("/v1/companies/anthropic").await;
    by_id.assert_status(StatusCode::OK);
    by_slug.assert_status(StatusCode::OK);
    assert_eq!(by_id.json(), created);
    assert_eq!(by_slug.json(), created);
    let etag = by_id.header("etag").unwrap().to_owned();
    assert_eq!(by_slug.header("etag"), Some(etag.as_str()));
    let last_modified = by_id.header("last-modified").unwrap().to_owned();
    assert!(last_modified.ends_with("GMT"));

    let res = app
        .get_with("/v1/companies/anthropic", &[("if-none-match", &etag)])
        .await;
    res.assert_status(StatusCode::NOT_MODIFIED);
    assert!(res.body.is_empty());
    app.get_with(
        "/v1/companies/anthropic",
        &[("if-modified-since", &last_modified)],
    )
    .await
    .assert_status(StatusCode::NOT_MODIFIED);
    app.get_with("/v1/companies/anthropic", &[("if-none-match", "\"other\"")])
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn unknown_or_impossible_company_refs_are_404_problems() {
    let app = TestApp::new().await;
    for path in [
        "/v1/companies/no-such-company",
        "/v1/companies/0190f7c2-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
        "/v1/companies/..%2F..%2Fetc%2Fpasswd",
        "/v1/companies/Robert'%3B%20DROP%20TABLE%20companies",
    ] {
        let body = app.get(path).await.assert_problem(StatusCode::NOT_FOUND);
        assert!(
            body["detail"].as_str().unwrap().contains("no company"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_taken_slug_is_a_409_naming_the_existing_company_and_a_distinct_slug_creates_it() {
    let app = TestApp::new().await;
    let mut first = company("Acme", "enterprise", &[]);
    first["slug"] = json!("chosen");
    create(&app, first.clone()).await;
    let body = app
        .post_json("/v1/companies", first)
        .await
        .assert_problem(StatusCode::CONFLICT);
    assert!(body["detail"].as_str().unwrap().contains("chosen"));

    // A second company whose name makes the same slug is almost always a mistake:
    // a 409 that names the one that exists, and nothing is written.
    let a = create(&app, company("Same Name", "other", &[])).await;
    assert_eq!(a["slug"], "same-name");
    let body = app
        .post_json("/v1/companies", company("Same  name", "other", &[]))
        .await
        .assert_problem(StatusCode::CONFLICT);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("`same-name`"), "{detail}");
    assert_eq!(
        body["errors"],
        json!([{"field": "slug", "message": detail}])
    );
    assert!(detail.contains(a["id"].as_str().unwrap()), "{detail}");
    assert!(
        detail.contains("`slug`"),
        "says how to create it anyway: {detail}"
    );
    let count: i64 = sqlx::query_scalar("select count(*) from companies where name ilike 'same%'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    // One that really is another company says so with its own slug.
    let mut distinct = company("Same Name", "other", &[]);
    distinct["slug"] = json!("same-name-japan");
    let b = create(&app, distinct).await;
    assert_eq!(
        (b["name"].as_str(), b["slug"].as_str()),
        (Some("Same Name"), Some("same-name-japan"))
    );
    let fallback = create(&app, company("株式会社", "enterprise", &[])).await;
    assert_eq!(fallback["slug"], "company");
}

#[tokio::test]
async fn every_bad_field_is_listed_in_one_422_and_nothing_is_written() {
    let app = TestApp::new().await;
    let res = app
        .post_json(
            "/v1/companies",
            json!({
                "name": "x".repeat(301),
                "kind": "startup",
                "country": "XX",
                "website": "ftp://example.com/",
                "description": "nul \u{0000} inside",
                "tags": ["ok", "c++", "#fine"],
                "slug": "Not A Slug",
                "id": "0190f7c2-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
                "version": 3,
                "colour": "red"
            }),
        )
        .await;
    res.assert_invalid_fields(&[
        "name",
        "kind",
        "country",
        "website",
        "description",
        "tags[1]",
        "slug",
        "id",
        "version",
        "colour",
    ]);
    let count: i64 = sqlx::query_scalar("select count(*) from companies")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing is written");
}

#[tokio::test]
async fn each_broken_rule_is_a_422_naming_its_field() {
    let app = TestApp::new().await;
    let cases: Vec<(Value, &[&str], &str)> = vec![
        (json!({}), &["name", "kind"], "missing required fields"),
        (
            json!({"name": "  ", "kind": "other"}),
            &["name"],
            "blank name",
        ),
        (
            json!({"name": "A", "kind": "AI_LAB"}),
            &["kind"],
            "kind is case-sensitive",
        ),
        (
            json!({"name": "A", "kind": 3}),
            &["kind"],
            "kind is a string",
        ),
        (
            json!({"name": "A", "kind": "other", "country": "usa"}),
            &["country"],
            "alpha-3 code",
        ),
        (
            json!({"name": "A", "kind": "other", "country": "UK"}),
            &["country"],
            "UK is not assigned",
        ),
        (
            json!({"name": "A", "kind": "other", "country": "EU"}),
            &["country"],
            "EU is not assigned",
        ),
        (
            json!({"name": "A", "kind": "other", "country": "u1"}),
            &["country"],
            "digit in code",
        ),
        (
            json!({"name": "A", "kind": "other", "country": 840}),
            &["country"],
            "numeric code",
        ),
        (
            json!({"name": "A", "kind": "other", "website": "javascript:alert(1)"}),
            &["website"],
            "not http",
        ),
        (
            json!({"name": "A", "kind": "other", "website": "https://"}),
            &["website"],
            "no host",
        ),
        (
            json!({"name": "A", "kind": "other", "description": "d".repeat(20_001)}),
            &["description"],
            "long description",
        ),
        (
            json!({"name": "A\u{0000}", "kind": "other"}),
            &["name"],
            "NUL in name",
        ),
        (
            json!({"name": "A", "kind": "other", "created_at": "2024-01-01T00:00:00Z", "updated_at": "x"}),
            &["created_at", "updated_at"],
            "read-only timestamps",
        ),
        (
            json!({"name": "A", "kind": "other", "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            &["tags"],
            "21 tags",
        ),
        (
            json!({"name": "A", "kind": "other", "tags": ["ok", 5]}),
            &["tags[1]"],
            "a tag that is not a string",
        ),
        (json!(["A"]), &[""], "not an object"),
    ];
    for (body, fields, reason) in cases {
        let res = app.post_json("/v1/companies", body).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason}: {}",
            String::from_utf8_lossy(&res.body)
        );
        res.assert_invalid_fields(fields);
    }
    let ok = create(
        &app,
        json!({"name": "x".repeat(300), "kind": "other", "country": "gb", "description": "d".repeat(20_000)}),
    )
    .await;
    assert_eq!(ok["country"], "GB");
}

#[tokio::test]
async fn patch_merges_revalidates_bumps_the_version_and_changes_the_etag() {
    let app = TestApp::new().await;
    let created = create(&app, anthropic()).await;
    let id = created["id"].as_str().unwrap();
    let uri = format!("/v1/companies/{id}");
    let res = app
        .patch_json(
            "/v1/companies/anthropic",
            json!({"name": "Anthropic PBC", "country": null, "tags": ["Claude"], "kind": "investor"}),
        )
        .await;
    res.assert_status(StatusCode::OK);
    let patched = res.json();
    assert_eq!(patched["name"], "Anthropic PBC");
    assert_eq!(patched["slug"], "anthropic", "the slug stays unless asked");
    assert_eq!(
        patched["country"],
        Value::Null,
        "null removes an optional field"
    );
    assert_eq!(patched["website"], created["website"]);
    assert_eq!(patched["description"], created["description"]);
    assert_eq!(patched["tags"], json!(["claude"]));
    assert_eq!(patched["kind"], "investor");
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}-2\"", id.replace('-', "")).as_str())
    );

    let again = app
        .patch_json(&uri, json!({"slug": null, "website": null}))
        .await
        .json();
    assert_eq!(
        again["slug"], "anthropic-pbc",
        "a removed slug is derived again"
    );
    assert_eq!(again["website"], Value::Null);
    assert_eq!(app.get(&uri).await.json(), again);

    // A bad patch is a 422 listing every field, and changes nothing.
    app.patch_json(
        &uri,
        json!({"name": null, "kind": "gossip", "country": "XX", "website": "ftp://x.org", "id": "x", "extra": 1}),
    )
    .await
    .assert_invalid_fields(&["name", "kind", "country", "website", "id", "extra"]);
    assert_eq!(app.get(&uri).await.json(), again);

    // A taken slug is a 409.
    create(&app, company("Other", "other", &[])).await;
    app.patch_json(&uri, json!({"slug": "other"}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.patch_json("/v1/companies/nope", json!({"name": "x"}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn if_match_guards_patch_and_delete() {
    let app = TestApp::new().await;
    let created = create(&app, anthropic()).await;
    let uri = format!("/v1/companies/{}", created["id"].as_str().unwrap());
    let v1 = app.get(&uri).await.header("etag").unwrap().to_owned();

    let ok = app
        .patch_with(&uri, json!({"kind": "investor"}), &[("if-match", &v1)])
        .await;
    ok.assert_status(StatusCode::OK);
    let v2 = ok.header("etag").unwrap().to_owned();
    assert_ne!(v1, v2);

    let stale = app
        .patch_with(&uri, json!({"kind": "other"}), &[("if-match", &v1)])
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        stale.header("etag"),
        Some(v2.as_str()),
        "a 412 tells the current tag"
    );
    app.patch_with(
        &uri,
        json!({"kind": "other"}),
        &[("if-match", &format!("W/{v2}"))],
    )
    .await
    .assert_problem(StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.get(&uri).await.json()["kind"],
        "investor",
        "a 412 changes nothing"
    );
    let v3 = app
        .patch_with(
            &uri,
            json!({"kind": "ai_lab"}),
            &[("if-match", &format!("\"x\", {v2}"))],
        )
        .await;
    v3.assert_status(StatusCode::OK);
    let v3 = v3.header("etag").unwrap().to_owned();

    app.delete_with(&uri, &[("if-match", &v2)])
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    app.get(&uri).await.assert_status(StatusCode::OK);
    let res = app.delete_with(&uri, &[("if-match", &v3)]).await;
    res.assert_status(StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());

    app.get(&uri).await.assert_problem(StatusCode::NOT_FOUND);
    app.get("/v1/companies/anthropic")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.delete_with(&uri, &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let count: i64 = sqlx::query_scalar("select count(*) from companies")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "a company delete is a hard delete");
    // The slug is free again.
    assert_eq!(create(&app, anthropic()).await["slug"], "anthropic");
    // No If-Match: any version may be deleted.
    app.delete_with("/v1/companies/anthropic", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn company_writes_need_a_write_token() {
    let app = TestApp::new().await;
    create(&app, anthropic()).await;
    let reader = app.token("reader", Scope::Read).await;
    let requests = [
        (
            Method::POST,
            "/v1/companies",
            Some(company("Acme", "other", &[])),
        ),
        (
            Method::PATCH,
            "/v1/companies/anthropic",
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/v1/companies/anthropic", None),
    ];
    for (method, uri, body) in requests {
        for token in [None, Some(reader.as_str())] {
            let mut request = Request::builder().method(method.clone()).uri(uri);
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let request = match &body {
                Some(body) => request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string())),
                None => request.body(Body::empty()),
            }
            .unwrap();
            let res = app.send(request).await;
            if token.is_none() {
                res.assert_problem(StatusCode::UNAUTHORIZED);
                assert!(
                    res.header("www-authenticate")
                        .unwrap()
                        .starts_with("Bearer"),
                    "{method} {uri}"
                );
            } else {
                let problem = res.assert_problem(StatusCode::FORBIDDEN);
                assert!(problem["detail"].as_str().unwrap().contains("write"));
            }
        }
    }
    let company = app.get("/v1/companies/anthropic").await.json();
    assert_eq!(company["version"], 1, "nothing changed");
    let count: i64 = sqlx::query_scalar("select count(*) from companies")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

/// Companies for the filter tests: `(slug, name, kind, tags)`.
async fn filter_data_set(app: &TestApp) {
    let rows: [(&str, &str, &str, &[&str]); 8] = [
        (
            "openai",
            "OpenAI",
            "ai_lab",
            &["foundation-models", "chatgpt"],
        ),
        (
            "open-source-co",
            "Open Source Co",
            "enterprise",
            &["open-source"],
        ),
        (
            "anthropic",
            "Anthropic",
            "ai_lab",
            &["foundation-models", "ai-safety"],
        ),
        ("percent", "100% Renewables", "other", &["energy"]),
        (
            "underscore",
            "Under_score Labs",
            "ai_lab",
            &["foundation-models"],
        ),
        ("no-underscore", "Underxscore Labs", "investor", &[]),
        (
            "backslash",
            "Back\\slash Capital",
            "investor",
            &["ai-safety"],
        ),
        (
            "nvidia",
            "NVIDIA",
            "chipmaker",
            &["ai-chips", "foundation-models"],
        ),
    ];
    for (slug, name, kind, tags) in rows {
        let mut body = company(name, kind, tags);
        body["slug"] = json!(slug);
        create(app, body).await;
    }
}

#[tokio::test]
async fn the_list_filters_by_name_substring_kind_and_tags() {
    let app = TestApp::new().await;
    filter_data_set(&app).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "anthropic",
                "backslash",
                "no-underscore",
                "nvidia",
                "open-source-co",
                "openai",
                "percent",
                "underscore",
            ],
        ),
        ("q=openai", &["openai"]),
        ("q=OPEN", &["open-source-co", "openai"]),
        ("q=%20pen%20", &["open-source-co", "openai"]),
        ("q=nViDi", &["nvidia"]),
        ("q=%25", &["percent"]),
        ("q=0%25%20r", &["percent"]),
        ("q=_", &["underscore"]),
        ("q=r_s", &["underscore"]),
        ("q=%5C", &["backslash"]),
        ("q=k%5Cs", &["backslash"]),
        ("q=nothing-like-this", &[]),
        ("kind=ai_lab", &["anthropic", "openai", "underscore"]),
        (
            "kind=investor&kind=chipmaker",
            &["backslash", "no-underscore", "nvidia"],
        ),
        (
            "kind=investor,chipmaker",
            &["backslash", "no-underscore", "nvidia"],
        ),
        (
            "tag=foundation-models",
            &["anthropic", "nvidia", "openai", "underscore"],
        ),
        ("tag=Foundation_Models,%23AI%20Safety", &["anthropic"]),
        ("tag=foundation-models&tag=ai-chips", &["nvidia"]),
        ("tag=unused", &[]),
        (
            "kind=ai_lab&tag=foundation-models&q=o",
            &["anthropic", "openai", "underscore"],
        ),
        (
            "kind=ai_lab,chipmaker&tag=foundation-models&q=n",
            &["anthropic", "nvidia", "openai", "underscore"],
        ),
        ("kind=investor&tag=ai-safety", &["backslash"]),
        ("kind=enterprise&q=labs", &[]),
    ];
    for (query, want) in cases {
        let res = app.get(&format!("/v1/companies?{query}")).await;
        res.assert_status(StatusCode::OK);
        let body = res.json();
        assert_eq!(slugs(&body), *want, "query `{query}`");
        assert!(body["next_cursor"].is_null(), "query `{query}`");
        assert!(res.header("link").is_none());
    }
}

#[tokio::test]
async fn the_list_has_a_weak_etag_and_answers_304_until_it_changes() {
    let app = TestApp::new().await;
    filter_data_set(&app).await;
    let first = app.get("/v1/companies?kind=ai_lab").await;
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    app.get_with("/v1/companies?kind=ai_lab", &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    // A write outside the page leaves it alone; one inside changes it.
    create(&app, company("Zeta Bank", "investor", &[])).await;
    app.get_with("/v1/companies?kind=ai_lab", &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    app.patch_json(
        "/v1/companies/openai",
        json!({"description": "Makes ChatGPT."}),
    )
    .await
    .assert_status(StatusCode::OK);
    app.get_with("/v1/companies?kind=ai_lab", &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::OK);
}

/// Follows `next_cursor` (through the `Link` header) from `first` to the end.
async fn walk(app: &TestApp, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut uri = first.to_owned();
    for _ in 0..200 {
        let res = app.get(&uri).await;
        res.assert_status(StatusCode::OK);
        let body = res.json();
        seen.extend(ids(&body));
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                let link = res
                    .header("link")
                    .expect("a Link header on a non-last page");
                assert!(
                    link.starts_with("<http://localhost/v1/companies?")
                        && link.ends_with(">; rel=\"next\"")
                        && link.contains(cursor),
                    "{link}"
                );
                let url = link.trim_start_matches('<').split('>').next().unwrap();
                uri = url.trim_start_matches("http://localhost").to_owned();
            }
            None => {
                assert_eq!(res.header("link"), None);
                return seen;
            }
        }
    }
    panic!("more than 200 pages");
}

#[tokio::test]
async fn keyset_pages_walk_every_company_by_name_then_id_exactly_once() {
    let app = TestApp::new().await;
    // Names of one case and letters only sort the same under any collation; repeats
    // make the id tie-breaker matter.
    let names = [
        "Delta", "Alpha", "Charlie", "Bravo", "Alpha", "Echo", "Alpha",
    ];
    let mut companies = Vec::new();
    for i in 0..17 {
        let tags: &[&str] = if i % 2 == 0 { &["even"] } else { &["odd"] };
        let kind = if i % 3 == 0 { "ai_lab" } else { "investor" };
        // Same names need their own slugs (a derived one would be a 409).
        let mut body = company(names[i % names.len()], kind, tags);
        body["slug"] = json!(format!("company-{i}"));
        companies.push(create(&app, body).await);
    }
    let expected = |filter: &dyn Fn(&Value) -> bool| -> Vec<String> {
        let mut keyed: Vec<(String, String)> = companies
            .iter()
            .filter(|c| filter(c))
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, id)| id).collect()
    };
    let all = expected(&|_| true);
    assert_eq!(all.len(), 17);
    for limit in [1, 3, 100] {
        let got = walk(&app, &format!("/v1/companies?limit={limit}")).await;
        assert_eq!(got, all, "limit {limit}");
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
    }
    let evens = expected(&|c| c["tags"][0] == "even");
    assert_eq!(walk(&app, "/v1/companies?tag=even&limit=3").await, evens);
    let labs = expected(&|c| c["kind"] == "ai_lab" && c["name"].as_str().unwrap().contains('a'));
    assert_eq!(
        walk(&app, "/v1/companies?kind=ai_lab&q=A&limit=1").await,
        labs
    );

    // The default page is 20; `limit` may change between pages.
    let body = app.get("/v1/companies?limit=5").await.json();
    assert_eq!(ids(&body).len(), 5);
    let cursor = body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/companies?limit=100&cursor={cursor}"))
        .await
        .json();
    assert_eq!(ids(&rest), all[5..].to_vec());
}

#[tokio::test]
async fn bad_list_parameters_are_400s_naming_the_parameter() {
    let app = TestApp::new().await;
    filter_data_set(&app).await;
    let page = app.get("/v1/companies?kind=ai_lab&limit=1").await.json();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let event_cursor = {
        for i in 0..2 {
            app.create_event(crate::helpers::event(
                &format!("E{i}"),
                "2024-01-01",
                &[],
                "minor",
            ))
            .await;
        }
        let page = app.get("/v1/events?limit=1").await.json();
        page["next_cursor"].as_str().unwrap().to_owned()
    };
    let cases = [
        ("colour=red".to_owned(), "colour"),
        ("sort=name".to_owned(), "sort"),
        ("limit=0".to_owned(), "limit"),
        ("limit=101".to_owned(), "limit"),
        ("limit=ten".to_owned(), "limit"),
        ("limit=1&limit=2".to_owned(), "limit"),
        ("kind=startup".to_owned(), "kind"),
        ("kind=ai_lab,,investor".to_owned(), "kind"),
        ("tag=c%2B%2B".to_owned(), "tag"),
        ("q=".to_owned(), "q"),
        ("q=%00".to_owned(), "q"),
        (format!("q={}", "a".repeat(201)), "q"),
        ("q=a&q=b".to_owned(), "q"),
        ("cursor=garbage".to_owned(), "cursor"),
        (format!("kind=investor&cursor={cursor}"), "cursor"),
        (format!("cursor={event_cursor}"), "cursor"),
    ];
    for (query, name) in &cases {
        app.get(&format!("/v1/companies?{query}"))
            .await
            .assert_bad_param(name);
    }
    // The company cursor is refused by the event list too.
    app.get(&format!("/v1/events?cursor={cursor}"))
        .await
        .assert_bad_param("cursor");
    // And the cursor still works with its own query.
    app.get(&format!(
        "/v1/companies?kind=ai_lab&limit=1&cursor={cursor}"
    ))
    .await
    .assert_status(StatusCode::OK);
}
