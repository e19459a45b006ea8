//! The deal graph: partnerships, the companies and deals of events, and the questions
//! a client asks of them.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestResponse, assert_links_as_the_database_renders_them, count_statements, event,
    reference_story,
};

async fn company(app: &TestApp, slug: &str, name: &str, kind: &str) -> Value {
    let res = app
        .post_json(
            "/v1/companies",
            json!({"slug": slug, "name": name, "kind": kind}),
        )
        .await;
    res.assert_status(StatusCode::CREATED);
    res.json()
}

fn amazon_anthropic() -> Value {
    json!({
        "title": "Amazon-Anthropic strategic collaboration",
        "kind": "investment",
        "status": "completed",
        "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
        "announced_on": "2023-09-25",
        "tranches": [
            {"amount": {"amount": "1250000000", "currency": "USD"}, "on": "2023-09-25", "note": "initial investment"},
            {"amount": {"amount": "2750000000", "currency": "USD"}, "on": "2024-03-27", "note": "completes the commitment"}
        ],
        "terms": ["AWS is the primary cloud provider", "Trainium chips for training", "models on Amazon Bedrock", "no exclusive distribution"],
        "exclusive": false,
        "tags": ["investment", "Cloud Computing"]
    })
}

/// Amazon, Anthropic, Microsoft, OpenAI and the FTC.
async fn companies(app: &TestApp) {
    company(app, "amazon", "Amazon", "cloud_provider").await;
    company(app, "anthropic", "Anthropic", "ai_lab").await;
    company(app, "microsoft", "Microsoft", "cloud_provider").await;
    company(app, "openai", "OpenAI", "ai_lab").await;
    company(app, "ftc", "Federal Trade Commission", "regulator").await;
}

#[tokio::test]
async fn a_deal_is_created_with_its_parties_tranches_and_exact_total() {
    let app = TestApp::new().await;
    companies(&app).await;
    let res = app.post_json("/v1/partnerships", amazon_anthropic()).await;
    res.assert_status(StatusCode::CREATED);
    let deal = res.json();
    let id = deal["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/v1/partnerships/{id}").as_str())
    );
    assert!(res.header("etag").is_some());
    assert_eq!(deal["slug"], "amazon-anthropic-strategic-collaboration");
    assert_eq!(
        deal["total"],
        json!({"amount": "4000000000", "currency": "USD"})
    );
    assert_eq!(
        deal["tranches"][1],
        json!({"amount": {"amount": "2750000000", "currency": "USD"}, "on": "2024-03-27", "note": "completes the commitment"})
    );
    assert_eq!(deal["parties"][0]["slug"], "amazon");
    assert_eq!(deal["parties"][0]["name"], "Amazon");
    assert_eq!(deal["parties"][0]["role"], "investor");
    assert!(deal["parties"][0]["id"].is_string());
    assert_eq!(deal["parties"][1]["role"], "investee");
    assert_eq!(deal["tags"], json!(["investment", "cloud-computing"]));
    assert_eq!(deal["events"], json!([]));
    assert_eq!(deal["ended_on"], Value::Null);
    assert_eq!(deal["version"], 1);
    let fetched = app
        .get(&format!(
            "/v1/partnerships/{}",
            deal["slug"].as_str().unwrap()
        ))
        .await;
    fetched.assert_status(StatusCode::OK);
    assert_eq!(fetched.json(), deal);
}

#[tokio::test]
async fn money_is_exact_and_never_a_float() {
    let app = TestApp::new().await;
    companies(&app).await;
    let mut body = amazon_anthropic();
    body["tranches"] =
        json!([{"amount": {"amount": "12345678901234567", "currency": "USD"}, "on": "2024-01-01"}]);
    body["total"] = json!({"amount": "12345678901234567", "currency": "USD"});
    let deal = app.post_json("/v1/partnerships", body.clone()).await.json();
    assert_eq!(deal["total"]["amount"], "12345678901234567");
    assert_eq!(deal["tranches"][0]["amount"]["amount"], "12345678901234567");
    let again = app
        .get(&format!(
            "/v1/partnerships/{}",
            deal["id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(again["total"]["amount"], "12345678901234567");

    body["slug"] = json!("floaty");
    body["total"] = json!({"amount": 4.0e9, "currency": "USD"});
    body["tranches"] =
        json!([{"amount": {"amount": 1.25e9, "currency": "USD"}, "on": "2024-01-01"}]);
    app.post_json("/v1/partnerships", body)
        .await
        .assert_invalid_fields(&["total.amount", "tranches[0].amount.amount"]);
}

#[tokio::test]
async fn broken_deal_rules_are_422s_naming_every_field() {
    let app = TestApp::new().await;
    companies(&app).await;
    let mut wrong_total = amazon_anthropic();
    wrong_total["total"] = json!({"amount": "5000000000", "currency": "USD"});
    let problem = app
        .post_json("/v1/partnerships", wrong_total)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "total");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4000000000")
    );

    let mut body = amazon_anthropic();
    body["parties"] = json!([{"company": "amazon", "role": "investor"}]);
    body["ended_on"] = json!("2020-01-01");
    body["kind"] = json!("merger");
    body["tranches"][1]["amount"]["currency"] = json!("EUR");
    app.post_json("/v1/partnerships", body)
        .await
        .assert_invalid_fields(&["parties", "ended_on", "kind", "tranches[1].amount.currency"]);

    let mut unknown = amazon_anthropic();
    unknown["parties"][1]["company"] = json!("no-such-company");
    app.post_json("/v1/partnerships", unknown)
        .await
        .assert_invalid_fields(&["parties[1].company"]);
    let count: i64 = sqlx::query_scalar("select count(*) from partnerships")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing half-written");

    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    let mut dup = amazon_anthropic();
    dup["slug"] = json!("amazon-anthropic-strategic-collaboration");
    app.post_json("/v1/partnerships", dup)
        .await
        .assert_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_deal_is_patched_with_merge_patch_and_if_match() {
    let app = TestApp::new().await;
    companies(&app).await;
    let deal = app.post_json("/v1/partnerships", amazon_anthropic()).await;
    let etag = deal.header("etag").unwrap().to_owned();
    let uri = format!("/v1/partnerships/{}", deal.json()["id"].as_str().unwrap());

    // New tranches with the old total would not add up: the total goes too, and is derived.
    let res = app
        .patch_with(
            &uri,
            json!({"status": "active", "total": null, "tranches": [{"amount": {"amount": "1000.50", "currency": "USD"}, "on": "2024-01-01"}]}),
            &[("if-match", &etag)],
        )
        .await;
    res.assert_status(StatusCode::OK);
    let patched = res.json();
    assert_eq!(patched["status"], "active");
    assert_eq!(
        patched["total"],
        json!({"amount": "1000.50", "currency": "USD"})
    );
    assert_eq!(
        patched["parties"].as_array().unwrap().len(),
        2,
        "parties are kept"
    );
    assert_eq!(patched["version"], 2);

    app.patch_with(&uri, json!({"status": "ended"}), &[("if-match", &etag)])
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    app.patch_json(
        &uri,
        json!({"tranches": [{"amount": {"amount": "1", "currency": "USD"}, "on": "2024-01-01"}]}),
    )
    .await
    .assert_invalid_fields(&["total"]);
    app.patch_json(&uri, json!({"parties": [{"company": "microsoft", "role": "investor"}, {"company": "openai", "role": "investee"}]}))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn events_name_companies_and_deals_and_the_deal_shows_its_timeline() {
    let app = TestApp::new().await;
    companies(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    let mut first = event(
        "Amazon invests $1.25 billion in Anthropic",
        "2023-09-25",
        &["investment"],
        "major",
    );
    first["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
    first["partnerships"] = json!(["amazon-anthropic-strategic-collaboration"]);
    let first = app.create_event(first).await;
    let mut story = reference_story();
    story["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
    story["partnerships"] = json!(["amazon-anthropic-strategic-collaboration"]);
    let story = app.create_event(story).await;

    assert_eq!(story["companies"][0]["slug"], "amazon");
    assert_eq!(story["companies"][0]["name"], "Amazon");
    assert_eq!(story["companies"][0]["role"], "investor");
    assert_eq!(story["companies"][1]["role"], "investee");
    assert_eq!(
        story["partnerships"][0]["slug"],
        "amazon-anthropic-strategic-collaboration"
    );
    let fetched = app
        .get("/v1/events/amazon-completes-4-billion-investment-in-anthropic")
        .await
        .json();
    assert_eq!(fetched, story);
    assert_links_as_the_database_renders_them(&app.db).await;

    let deal = app
        .get("/v1/partnerships/amazon-anthropic-strategic-collaboration")
        .await
        .json();
    let timeline: Vec<&str> = deal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        [
            story["slug"].as_str().unwrap(),
            first["slug"].as_str().unwrap()
        ],
        "newest first"
    );
    assert_eq!(deal["events"][0]["occurred_on"], "2024-03-27");
    assert_eq!(deal["events"][0]["title"], story["title"]);

    // Deleting an event removes it from the timeline and nothing else.
    app.delete_with(
        &format!("/v1/events/{}", first["id"].as_str().unwrap()),
        &[],
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);
    let deal = app
        .get("/v1/partnerships/amazon-anthropic-strategic-collaboration")
        .await
        .json();
    assert_eq!(deal["events"].as_array().unwrap().len(), 1);
    app.get("/v1/companies/amazon")
        .await
        .assert_status(StatusCode::OK);

    // Deleting the deal removes its links; the event stays.
    app.delete_with(
        "/v1/partnerships/amazon-anthropic-strategic-collaboration",
        &[],
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);
    let story = app
        .get("/v1/events/amazon-completes-4-billion-investment-in-anthropic")
        .await;
    story.assert_status(StatusCode::OK);
    assert_eq!(story.json()["partnerships"], json!([]));
    assert_eq!(story.json()["companies"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_links_on_an_event_are_one_422_naming_each() {
    let app = TestApp::new().await;
    companies(&app).await;
    let mut body = event("Links", "2024-01-01", &[], "minor");
    body["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "nobody", "role": "partner"}, {"company": "x", "role": "boss"}]);
    body["partnerships"] = json!(["no-such-deal", "Bad Ref"]);
    app.post_json("/v1/events", body.clone())
        .await
        .assert_invalid_fields(&["companies[2].role", "partnerships[1]"]);
    body["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "nobody", "role": "partner"}]);
    body["partnerships"] = json!(["no-such-deal"]);
    app.post_json("/v1/events", body)
        .await
        .assert_invalid_fields(&["companies[1].company", "partnerships[0]"]);
    let count: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing half-written");
}

async fn slugs(app: &TestApp, uri: &str) -> Vec<String> {
    let res = app.get(uri).await;
    res.assert_status(StatusCode::OK);
    res.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_questions_a_client_asks_get_exact_answers() {
    let app = TestApp::new().await;
    companies(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    let mut msft = amazon_anthropic();
    msft["title"] = json!("Microsoft-OpenAI partnership");
    msft["kind"] = json!("cloud");
    msft["status"] = json!("active");
    msft["announced_on"] = json!("2023-01-23");
    msft["parties"] = json!([{"company": "microsoft", "role": "investor"}, {"company": "openai", "role": "investee"}]);
    msft["tranches"] = json!([]);
    msft["total"] = json!({"amount": "10000000000", "currency": "USD"});
    msft["tags"] = json!(["investment"]);
    app.post_json("/v1/partnerships", msft)
        .await
        .assert_status(StatusCode::CREATED);

    let rows = [
        (
            "amazon-invests",
            "2023-09-25",
            vec![("amazon", "investor"), ("anthropic", "investee")],
        ),
        (
            "amazon-completes",
            "2024-03-27",
            vec![("amazon", "investor"), ("anthropic", "investee")],
        ),
        (
            "ftc-inquiry",
            "2024-01-25",
            vec![
                ("ftc", "regulator"),
                ("amazon", "subject"),
                ("microsoft", "subject"),
            ],
        ),
        (
            "msft-openai",
            "2023-01-23",
            vec![("microsoft", "investor"), ("openai", "investee")],
        ),
    ];
    for (slug, date, parties) in rows {
        let mut body = event(slug, date, &[], "major");
        body["slug"] = json!(slug);
        body["companies"] = json!(
            parties
                .iter()
                .map(|(c, r)| json!({"company": c, "role": r}))
                .collect::<Vec<_>>()
        );
        app.create_event(body).await;
    }
    // Every event in which Amazon was the investor.
    assert_eq!(
        slugs(&app, "/v1/events?company=amazon&role=investor").await,
        ["amazon-completes", "amazon-invests"]
    );
    assert_eq!(
        slugs(&app, "/v1/companies/amazon/events?role=investor").await,
        ["amazon-completes", "amazon-invests"]
    );
    assert_eq!(
        slugs(&app, "/v1/companies/amazon/events").await,
        ["amazon-completes", "ftc-inquiry", "amazon-invests"]
    );
    // All of the companies.
    assert_eq!(
        slugs(&app, "/v1/events?company=amazon&company=microsoft").await,
        ["ftc-inquiry"]
    );
    assert_eq!(
        slugs(&app, "/v1/events?company=amazon,anthropic&from=2024-01-01").await,
        ["amazon-completes"]
    );
    let amazon_id = app.get("/v1/companies/amazon").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        slugs(
            &app,
            &format!("/v1/events?company={amazon_id}&role=subject")
        )
        .await,
        ["ftc-inquiry"]
    );
    // All deals of Anthropic, with their tranches.
    let deals = app.get("/v1/companies/anthropic/partnerships").await.json();
    assert_eq!(deals["data"].as_array().unwrap().len(), 1);
    assert_eq!(deals["data"][0]["tranches"].as_array().unwrap().len(), 2);
    assert_eq!(
        slugs(&app, "/v1/partnerships?company=openai").await,
        ["microsoft-openai-partnership"]
    );
    assert_eq!(
        slugs(&app, "/v1/partnerships").await,
        [
            "amazon-anthropic-strategic-collaboration",
            "microsoft-openai-partnership"
        ]
    );
    assert_eq!(
        slugs(&app, "/v1/partnerships?kind=cloud").await,
        ["microsoft-openai-partnership"]
    );
    assert_eq!(
        slugs(&app, "/v1/partnerships?status=completed,ended").await,
        ["amazon-anthropic-strategic-collaboration"]
    );
    assert_eq!(
        slugs(&app, "/v1/partnerships?tag=cloud-computing").await,
        ["amazon-anthropic-strategic-collaboration"]
    );
    assert_eq!(
        slugs(&app, "/v1/partnerships?from=2023-06-01").await,
        ["amazon-anthropic-strategic-collaboration"]
    );
    assert_eq!(
        slugs(&app, "/v1/partnerships?to=2023-06-01").await,
        ["microsoft-openai-partnership"]
    );
    let mut walked = Vec::new();
    let mut uri = "/v1/partnerships?limit=1".to_owned();
    loop {
        let body = app.get(&uri).await.json();
        walked.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["slug"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/partnerships?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        walked,
        [
            "amazon-anthropic-strategic-collaboration",
            "microsoft-openai-partnership"
        ]
    );
}

#[tokio::test]
async fn bad_graph_parameters_are_400s_and_unknown_companies_in_paths_404s() {
    let app = TestApp::new().await;
    companies(&app).await;
    app.get("/v1/events?company=nobody")
        .await
        .assert_bad_param("company");
    app.get("/v1/events?role=investor")
        .await
        .assert_bad_param("role");
    app.get("/v1/events?company=amazon&role=boss")
        .await
        .assert_bad_param("role");
    app.get("/v1/partnerships?company=nobody")
        .await
        .assert_bad_param("company");
    app.get("/v1/partnerships?kind=merger")
        .await
        .assert_bad_param("kind");
    app.get("/v1/partnerships?status=done")
        .await
        .assert_bad_param("status");
    app.get("/v1/partnerships?from=2024-02-30")
        .await
        .assert_bad_param("from");
    app.get("/v1/partnerships?cursor=abc")
        .await
        .assert_bad_param("cursor");
    app.get("/v1/partnerships?limit=0")
        .await
        .assert_bad_param("limit");
    app.get("/v1/companies/amazon/partnerships?company=openai")
        .await
        .assert_bad_param("company");
    app.get("/v1/companies/nobody/events")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.get("/v1/companies/nobody/partnerships")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.get("/v1/partnerships/nobody")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_named_company_cannot_be_deleted_and_the_409_says_how_many_refer_to_it() {
    let app = TestApp::new().await;
    companies(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    for i in 0..2 {
        let mut body = event(&format!("Amazon {i}"), "2024-01-01", &[], "minor");
        body["companies"] = json!([{"company": "amazon", "role": "investor"}]);
        app.create_event(body).await;
    }
    let problem = app
        .delete_with("/v1/companies/amazon", &[])
        .await
        .assert_problem(StatusCode::CONFLICT);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("2 events") && detail.contains("1 partnership"),
        "{detail}"
    );
    app.get("/v1/companies/amazon")
        .await
        .assert_status(StatusCode::OK);
    // A company nothing names can go.
    app.delete_with("/v1/companies/openai", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_page_of_events_with_their_links_costs_the_same_few_statements_however_long() {
    let app = TestApp::new().await;
    companies(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    for i in 0..100 {
        let mut body = event(&format!("Linked {i}"), "2024-01-01", &["linked"], "minor");
        body["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}, {"company": "ftc", "role": "regulator"}]);
        body["partnerships"] = json!(["amazon-anthropic-strategic-collaboration"]);
        app.create_event(body).await;
    }
    app.get("/v1/events?tag=linked")
        .await
        .assert_status(StatusCode::OK);
    let mut costs = Vec::new();
    for limit in [1, 10, 100] {
        let count = count_statements();
        let res = app
            .get(&format!("/v1/events?tag=linked&limit={limit}"))
            .await;
        let statements = count.get();
        drop(count);
        res.assert_status(StatusCode::OK);
        let body = res.json();
        assert_eq!(body["data"].as_array().unwrap().len(), limit);
        assert_eq!(body["data"][0]["companies"].as_array().unwrap().len(), 3);
        assert_eq!(
            body["data"][limit - 1]["partnerships"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        costs.push(statements);
    }
    assert!(costs[0] > 0, "the counter must see statements: {costs:?}");
    assert!(
        costs.iter().all(|c| *c == costs[0]),
        "the cost grows with the page: {costs:?}"
    );
    assert_eq!(
        costs[0], 1,
        "one statement: the page with its companies and deals: {costs:?}"
    );

    let count = count_statements();
    app.get("/v1/companies/anthropic/partnerships?limit=100")
        .await
        .assert_status(StatusCode::OK);
    // The company lookup, the page, and its parties, tranches and timelines.
    assert!(count.get() <= 5, "{}", count.get());
}

/// The five companies, the Amazon-Anthropic deal, and the event `linked` naming
/// `companies` and the deal; returns the event as created.
async fn linked_event(app: &TestApp, companies_json: Value) -> Value {
    companies(app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    let mut body = event("Linked", "2024-01-01", &["linked"], "minor");
    body["companies"] = companies_json;
    body["partnerships"] = json!(["amazon-anthropic-strategic-collaboration"]);
    app.create_event(body).await
}

#[tokio::test]
async fn one_event_with_its_companies_and_deals_is_one_statement() {
    let app = TestApp::new().await;
    let created = linked_event(
        &app,
        json!([{"company": "anthropic", "role": "investee"}, {"company": "amazon", "role": "investor"}]),
    )
    .await;
    let count = count_statements();
    let res = app.get("/v1/events/linked").await;
    let statements = count.get();
    drop(count);
    res.assert_status(StatusCode::OK);
    assert_eq!(statements, 1, "the event and its links in one statement");
    let read = res.json();
    assert_eq!(read, created, "the read shows what the write answered");
    let slugs: Vec<&str> = read["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["anthropic", "amazon"], "in the order given");
    assert_eq!(read["companies"][0]["role"], "investee");
    assert_eq!(read["companies"][0]["name"], "Anthropic");
    assert_eq!(
        read["partnerships"][0]["slug"],
        "amazon-anthropic-strategic-collaboration"
    );
}

#[tokio::test]
async fn renaming_a_company_or_deal_shows_in_the_events_naming_it_and_changes_their_etag() {
    let app = TestApp::new().await;
    let created = linked_event(&app, json!([{"company": "amazon", "role": "investor"}])).await;
    let unrelated = app
        .create_event(event("Unrelated", "2024-01-02", &["other"], "minor"))
        .await;
    let before = app.get("/v1/events/linked").await;
    let etag = before.header("etag").unwrap().to_owned();

    app.patch_json("/v1/companies/amazon", json!({"name": "Amazon.com"}))
        .await
        .assert_status(StatusCode::OK);
    app.patch_json(
        "/v1/partnerships/amazon-anthropic-strategic-collaboration",
        json!({"title": "Amazon and Anthropic"}),
    )
    .await
    .assert_status(StatusCode::OK);

    let after = app
        .get_with("/v1/events/linked", &[("if-none-match", &etag)])
        .await;
    after.assert_status(StatusCode::OK);
    assert_ne!(after.header("etag").unwrap(), etag);
    let read = after.json();
    assert_eq!(read["companies"][0]["name"], "Amazon.com");
    assert_eq!(read["companies"][0]["role"], "investor");
    assert_eq!(read["partnerships"][0]["title"], "Amazon and Anthropic");
    assert_eq!(read["version"], created["version"].as_i64().unwrap() + 2);
    let listed = app.get("/v1/events?tag=linked").await.json();
    assert_eq!(listed["data"][0], read, "lists show the same links");

    // A poll from before the renames sees the linked event changed, not the other.
    let since = created["updated_at"].as_str().unwrap();
    let changed = app
        .get(&format!("/v1/events?updated_since={since}"))
        .await
        .json();
    let ids: Vec<&str> = changed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&created["id"].as_str().unwrap()), "{ids:?}");
    assert_eq!(
        app.get(&format!("/v1/events/{}", unrelated["id"].as_str().unwrap()))
            .await
            .json()["version"],
        unrelated["version"],
        "an event that names neither is untouched"
    );
}

/// Waits until a session of this database is blocked on a lock (the other side of a race).
async fn until_one_waits_on_a_lock(db: &sqlx::PgPool) {
    until_some_wait_on_locks(db, 1).await;
}

/// Waits until `sessions` sessions of this database are blocked on locks.
async fn until_some_wait_on_locks(db: &sqlx::PgPool, sessions: i64) {
    let started = std::time::Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        if waiting >= sessions {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no session waits on a lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn id_of(app: &TestApp, path: &str) -> uuid::Uuid {
    let res = app.get(path).await;
    res.assert_status(StatusCode::OK);
    res.json()["id"].as_str().unwrap().parse().unwrap()
}

const LINK: &str = "insert into event_companies (event_id, company_id, role, position) \
                    values ($1, $2, 'investor', 0)";

fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_company_and_the_companys_delete_cannot_both_succeed_whichever_comes_first() {
    let app = TestApp::new().await;
    companies(&app).await;
    let created = app
        .create_event(event("Unlinked", "2024-01-01", &[], "minor"))
        .await;
    let event_id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let amazon = id_of(&app, "/v1/companies/amazon").await;
    let openai = id_of(&app, "/v1/companies/openai").await;

    // A link to a company that does not exist is refused as a foreign key would.
    let error = sqlx::query(LINK)
        .bind(event_id)
        .bind(uuid::Uuid::now_v7())
        .execute(&app.db)
        .await
        .unwrap_err();
    assert!(is_foreign_key_violation(&error), "{error}");

    // The link first: the delete waits for the linking transaction, then sees its link.
    let mut linking = app.db.begin().await.unwrap();
    sqlx::query(LINK)
        .bind(event_id)
        .bind(amazon)
        .execute(&mut *linking)
        .await
        .unwrap();
    let db = app.db.clone();
    let deleting = tokio::spawn(async move {
        sqlx::query("delete from companies where id = $1")
            .bind(amazon)
            .execute(&db)
            .await
    });
    until_one_waits_on_a_lock(&app.db).await;
    linking.commit().await.unwrap();
    let error = deleting.await.unwrap().unwrap_err();
    assert!(is_foreign_key_violation(&error), "{error}");
    app.get("/v1/companies/amazon")
        .await
        .assert_status(StatusCode::OK);

    // The delete first: the link waits for it, then finds the company gone.
    let mut deleting = app.db.begin().await.unwrap();
    sqlx::query("delete from companies where id = $1")
        .bind(openai)
        .execute(&mut *deleting)
        .await
        .unwrap();
    let db = app.db.clone();
    let linking = tokio::spawn(async move {
        sqlx::query(LINK)
            .bind(event_id)
            .bind(openai)
            .execute(&db)
            .await
    });
    until_one_waits_on_a_lock(&app.db).await;
    deleting.commit().await.unwrap();
    let error = linking.await.unwrap().unwrap_err();
    assert!(is_foreign_key_violation(&error), "{error}");
    let links: Vec<uuid::Uuid> =
        sqlx::query_scalar("select company_id from event_companies where event_id = $1")
            .bind(event_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(links, vec![amazon]);

    // A deleted event's link rows go with it.
    sqlx::query("delete from events where id = $1")
        .bind(event_id)
        .execute(&app.db)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from event_companies")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// POSTs `body` as an event while a transaction runs `renames` and stays open; commits
/// it once the POST waits on a lock, and answers the POST's response.
async fn posted_during_renames(
    app: &TestApp,
    renames: &[&'static str],
    body: Value,
) -> TestResponse {
    let mut renaming = app.db.begin().await.unwrap();
    for rename in renames {
        sqlx::query(*rename).execute(&mut *renaming).await.unwrap();
    }
    let (res, ()) = tokio::join!(app.post_json("/v1/events", body), async {
        until_one_waits_on_a_lock(&app.db).await;
        renaming.commit().await.unwrap();
    });
    res
}

/// Waits until another transaction holds a lock on the company `slug` (one that a
/// rename's `FOR UPDATE` would wait for).
async fn until_company_is_locked(db: &sqlx::PgPool, slug: &str) {
    let started = std::time::Instant::now();
    loop {
        let mut probe = db.begin().await.unwrap();
        let tried = sqlx::query("select 1 from companies where slug = $1 for update nowait")
            .bind(slug)
            .execute(&mut *probe)
            .await;
        probe.rollback().await.unwrap();
        match tried {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => return,
            Err(e) => panic!("{e}"),
            Ok(_) => {}
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "nothing locks the company"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An event linked while a company or deal it names is renamed shows the new name,
/// whichever comes first: a rename under way holds the write back until it commits,
/// and the write then reads the new names; a write under way (an import, whose
/// transaction stays open while its body arrives) holds the renames back, and their
/// rewrites then see the events it linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_linked_while_its_company_or_deal_is_renamed_shows_the_new_name_whichever_comes_first()
 {
    let app = TestApp::new().await;
    companies(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    let deal = "amazon-anthropic-strategic-collaboration";
    let linked = |title: &str| {
        let mut body = event(title, "2024-01-01", &["linked"], "minor");
        body["companies"] = json!([{"company": "amazon", "role": "investor"}]);
        body["partnerships"] = json!([deal]);
        body
    };

    // The renames first, by any statement: the write waits, then shows the new names.
    let res = posted_during_renames(
        &app,
        &[
            "update companies set name = 'Amazon.com' where slug = 'amazon'",
            "update partnerships set title = 'Amazon and Anthropic' \
             where slug = 'amazon-anthropic-strategic-collaboration'",
        ],
        linked("Posted"),
    )
    .await;
    res.assert_status(StatusCode::CREATED);
    let posted = res.json();
    assert_eq!(posted["companies"][0]["name"], "Amazon.com");
    assert_eq!(posted["partnerships"][0]["title"], "Amazon and Anthropic");

    // A deal's rename on its own holds the write back too.
    let res = posted_during_renames(
        &app,
        &["update partnerships set title = 'Amazon with Anthropic' \
           where slug = 'amazon-anthropic-strategic-collaboration'"],
        linked("Posted again"),
    )
    .await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json()["partnerships"][0]["title"],
        "Amazon with Anthropic"
    );

    // The write first: an import sends a first batch and keeps its body open; the
    // renames start once it holds the company, and the body ends once both wait.
    let (pieces, arriving) = tokio::sync::mpsc::channel::<axum::body::Bytes>(4);
    let body = axum::body::Body::from_stream(futures::stream::unfold(
        arriving,
        |mut arriving| async move {
            let piece = arriving.recv().await?;
            Some((Ok::<_, std::io::Error>(piece), arriving))
        },
    ));
    let importing = app.send(
        app.authed(axum::http::Method::POST, "/v1/events/import")
            .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .unwrap(),
    );
    let deal_path = format!("/v1/partnerships/{deal}");
    let (app_ref, linked_ref) = (&app, &linked);
    let renaming = async move {
        let first: String = (0..260)
            .map(|n| format!("{}\n", linked_ref(&format!("Imported {n}"))))
            .collect();
        pieces.send(first.into()).await.unwrap();
        until_company_is_locked(&app_ref.db, "amazon").await;
        let (company, deal, ()) = tokio::join!(
            app_ref.patch_json(
                "/v1/companies/amazon",
                json!({"name": "Amazon Web Services"})
            ),
            app_ref.patch_json(&deal_path, json!({"title": "AWS and Anthropic"})),
            // Once both wait: the last record, then the body ends and the import
            // commits, which lets the renames go on.
            async move {
                until_some_wait_on_locks(&app_ref.db, 2).await;
                pieces
                    .send(format!("{}\n", linked_ref("Imported last")).into())
                    .await
                    .unwrap();
                drop(pieces);
            }
        );
        (company, deal)
    };
    let (res, (renamed_company, renamed_deal)) = tokio::join!(importing, renaming);
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 261);
    renamed_company.assert_status(StatusCode::OK);
    renamed_deal.assert_status(StatusCode::OK);

    for slug in [
        "posted",
        "posted-again",
        "imported-0",
        "imported-259",
        "imported-last",
    ] {
        let read = app.get(&format!("/v1/events/{slug}")).await.json();
        assert_eq!(
            read["companies"][0]["name"], "Amazon Web Services",
            "{slug}"
        );
        assert_eq!(
            read["partnerships"][0]["title"], "AWS and Anthropic",
            "{slug}"
        );
    }
    assert_links_as_the_database_renders_them(&app.db).await;
}

/// A deal retitled while one of its parties is being renamed: both go through, and the
/// events that show both show both new names. The deal's write takes its parties
/// before it changes anything, so it waits for the rename before it rewrites the events
/// they share; taking them only at the end (the parties' foreign key) it rewrote those
/// events first and then waited for the rename, which waited for those events: a
/// deadlock, and a 503 for one of the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_retitled_while_a_party_is_renamed_waits_instead_of_deadlocking() {
    let app = TestApp::new().await;
    companies(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic())
        .await
        .assert_status(StatusCode::CREATED);
    let deal = "amazon-anthropic-strategic-collaboration";
    let mut body = event("Shared", "2024-01-01", &["linked"], "minor");
    body["companies"] = json!([{"company": "amazon", "role": "investor"}]);
    body["partnerships"] = json!([deal]);
    app.create_event(body).await;

    // A rename under way: its row is held, its events not yet rewritten.
    let mut renaming = app.db.begin().await.unwrap();
    sqlx::query("select 1 from companies where slug = 'amazon' for update")
        .execute(&mut *renaming)
        .await
        .unwrap();
    let deal_path = format!("/v1/partnerships/{deal}");
    let (retitled, ()) = tokio::join!(
        app.patch_json(&deal_path, json!({"title": "AWS and Anthropic"})),
        async {
            until_one_waits_on_a_lock(&app.db).await;
            sqlx::query("update companies set name = 'Amazon.com' where slug = 'amazon'")
                .execute(&mut *renaming)
                .await
                .unwrap();
            renaming.commit().await.unwrap();
        }
    );
    retitled.assert_status(StatusCode::OK);
    let read = app.get("/v1/events/shared").await.json();
    assert_eq!(read["companies"][0]["name"], "Amazon.com");
    assert_eq!(read["partnerships"][0]["title"], "AWS and Anthropic");
    assert_links_as_the_database_renders_them(&app.db).await;
}
