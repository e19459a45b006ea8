//! The event list: filters, sorts, keyset pages, `Link`, and bad parameters.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, count_statements, event, ids};

/// Events with deliberate ties on every sort key.
async fn tie_heavy_data_set(app: &TestApp) -> Vec<Value> {
    let titles = ["delta", "alpha", "charlie", "bravo", "alpha"];
    let dates = [
        "2024-03-01",
        "2024-01-15",
        "2024-03-01",
        "2023-12-31",
        "2024-01-15",
        "2024-06-30",
    ];
    let significances = ["minor", "notable", "major", "landmark"];
    let mut created = Vec::new();
    for i in 0..23 {
        let mut body = event(
            titles[i % titles.len()],
            dates[i % dates.len()],
            &[if i % 2 == 0 { "even" } else { "odd" }, "all"],
            significances[i % significances.len()],
        );
        body["slug"] = json!(format!("e{i}"));
        created.push(app.create_event(body).await);
    }
    created
}

/// Follows `next_cursor` from `first` to the end, checking `Link` on the way.
async fn walk(app: &TestApp, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut uri = first.to_owned();
    for _ in 0..100 {
        let res = app.get(&uri).await;
        res.assert_status(StatusCode::OK);
        let body = res.json();
        seen.extend(ids(&body));
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                let link = res
                    .header("link")
                    .expect("a Link header when there is a next page");
                assert!(
                    link.starts_with("<http://") && link.ends_with(">; rel=\"next\""),
                    "{link}"
                );
                assert!(link.contains(cursor), "{link}");
                let path = link.trim_start_matches('<').split('>').next().unwrap();
                uri = path.trim_start_matches("http://localhost").to_owned();
                assert!(
                    uri.starts_with("/v1/"),
                    "the link is a full URL on this host: {link}"
                );
            }
            None => {
                assert_eq!(res.header("link"), None);
                return seen;
            }
        }
    }
    panic!("more than 100 pages");
}

fn sorted_ids(events: &[Value], key: impl Fn(&Value) -> String, descending: bool) -> Vec<String> {
    let mut keyed: Vec<(String, String)> = events
        .iter()
        .map(|e| (key(e), e["id"].as_str().unwrap().to_owned()))
        .collect();
    keyed.sort();
    if descending {
        keyed.reverse();
    }
    keyed.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn every_sort_walks_all_pages_with_no_duplicate_and_nothing_missing() {
    let app = TestApp::new().await;
    let events = tie_heavy_data_set(&app).await;
    let text = |field: &'static str| move |e: &Value| e[field].as_str().unwrap().to_owned();
    let rank = |e: &Value| {
        ["minor", "notable", "major", "landmark"]
            .iter()
            .position(|s| *s == e["significance"])
            .unwrap()
            .to_string()
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("", sorted_ids(&events, text("occurred_on"), true)),
        (
            "sort=-occurred_on",
            sorted_ids(&events, text("occurred_on"), true),
        ),
        (
            "sort=occurred_on",
            sorted_ids(&events, text("occurred_on"), false),
        ),
        (
            "sort=-updated_at",
            sorted_ids(&events, text("updated_at"), true),
        ),
        (
            "sort=updated_at",
            sorted_ids(&events, text("updated_at"), false),
        ),
        ("sort=title", sorted_ids(&events, text("title"), false)),
        ("sort=-significance", sorted_ids(&events, rank, true)),
    ];
    for (query, expected) in cases {
        for limit in [1, 4, 100] {
            let got = walk(&app, &format!("/v1/events?{query}&limit={limit}")).await;
            assert_eq!(got, expected, "sort `{query}` with limit {limit}");
        }
    }
    // The tag-driven plan pages the same way.
    let evens: Vec<Value> = events
        .iter()
        .filter(|e| e["tags"][0] == "even")
        .cloned()
        .collect();
    let got = walk(&app, "/v1/events?tag=even&limit=2").await;
    assert_eq!(got, sorted_ids(&evens, text("occurred_on"), true));
    let got = walk(&app, "/v1/events?tag=all,even&sort=occurred_on&limit=3").await;
    assert_eq!(got, sorted_ids(&evens, text("occurred_on"), false));
}

#[tokio::test]
async fn default_page_is_twenty_and_limit_bounds_it() {
    let app = TestApp::new().await;
    tie_heavy_data_set(&app).await;
    let body = app.get("/v1/events").await.json();
    assert_eq!(ids(&body).len(), 20);
    assert!(body["next_cursor"].is_string());
    let body = app.get("/v1/events?limit=100").await.json();
    assert_eq!(ids(&body).len(), 23);
    assert!(body["next_cursor"].is_null());
}

async fn filter_data_set(app: &TestApp) {
    let rows = [
        (
            "ai-funding",
            "2023-06-01",
            "funding",
            "minor",
            vec!["ai", "funding"],
        ),
        (
            "ai-cloud",
            "2023-09-25",
            "industry",
            "notable",
            vec!["ai", "cloud-computing"],
        ),
        (
            "cloud-only",
            "2024-01-10",
            "industry",
            "major",
            vec!["cloud-computing"],
        ),
        (
            "policy-ai",
            "2024-03-13",
            "policy",
            "landmark",
            vec!["ai", "regulation"],
        ),
        ("chips", "2024-06-05", "product", "notable", vec!["chips"]),
        (
            "lawsuit",
            "2024-12-27",
            "legal",
            "major",
            vec!["copyright", "ai"],
        ),
    ];
    for (slug, date, category, significance, tags) in rows {
        let mut body = event(&format!("Event {slug}"), date, &tags, significance);
        body["slug"] = json!(slug);
        body["category"] = json!(category);
        app.create_event(body).await;
    }
}

async fn slugs(app: &TestApp, query: &str) -> Vec<String> {
    let res = app.get(&format!("/v1/events?{query}")).await;
    res.assert_status(StatusCode::OK);
    res.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_filter_and_their_combinations_select_the_right_events() {
    let app = TestApp::new().await;
    filter_data_set(&app).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "tag=ai",
            &["lawsuit", "policy-ai", "ai-cloud", "ai-funding"],
        ),
        ("tag=ai&tag=cloud-computing", &["ai-cloud"]),
        ("tag=ai,cloud-computing", &["ai-cloud"]),
        ("tag=%23AI,Cloud%20Computing", &["ai-cloud"]),
        ("any_tag=chips,regulation", &["chips", "policy-ai"]),
        ("any_tag=chips&any_tag=copyright", &["lawsuit", "chips"]),
        ("exclude_tag=ai", &["chips", "cloud-only"]),
        ("exclude_tag=ai,chips", &["cloud-only"]),
        (
            "tag=ai&exclude_tag=regulation,copyright",
            &["ai-cloud", "ai-funding"],
        ),
        ("category=industry", &["cloud-only", "ai-cloud"]),
        ("category=legal,policy", &["lawsuit", "policy-ai"]),
        (
            "category=legal&category=funding",
            &["lawsuit", "ai-funding"],
        ),
        ("significance=notable", &["chips", "ai-cloud"]),
        (
            "min_significance=major",
            &["lawsuit", "policy-ai", "cloud-only"],
        ),
        ("min_significance=landmark", &["policy-ai"]),
        (
            "from=2024-01-01",
            &["lawsuit", "chips", "policy-ai", "cloud-only"],
        ),
        ("to=2023-12-31", &["ai-cloud", "ai-funding"]),
        (
            "from=2024-01-10&to=2024-06-05",
            &["chips", "policy-ai", "cloud-only"],
        ),
        (
            "tag=ai&from=2024-01-01&to=2024-12-31",
            &["lawsuit", "policy-ai"],
        ),
        (
            "tag=ai&category=funding,legal&min_significance=major",
            &["lawsuit"],
        ),
        (
            "any_tag=ai,chips&significance=notable&sort=occurred_on",
            &["ai-cloud", "chips"],
        ),
        ("tag=nothing-has-this", &[]),
        (
            "tag=ai&sort=title",
            &["ai-cloud", "ai-funding", "lawsuit", "policy-ai"],
        ),
        (
            "tag=ai&sort=-significance",
            &["policy-ai", "lawsuit", "ai-cloud", "ai-funding"],
        ),
    ];
    for (query, want) in cases {
        assert_eq!(slugs(&app, query).await, *want, "query `{query}`");
    }
}

#[tokio::test]
async fn full_text_search_ranks_best_match_first_and_pages() {
    let app = TestApp::new().await;
    let mut strong = event(
        "Anthropic raises money from Amazon",
        "2023-01-01",
        &[],
        "minor",
    );
    strong["summary"] = json!("Anthropic and Amazon: Anthropic gets Amazon money.");
    strong["slug"] = json!("strong");
    let mut weak = event("A cloud deal", "2024-01-01", &[], "minor");
    weak["why_it_matters"] = json!("Mentions Anthropic once, and Amazon too.");
    weak["slug"] = json!("weak");
    let mut unrelated = event("Chips news", "2024-02-01", &[], "minor");
    unrelated["slug"] = json!("unrelated");
    for body in [weak, strong, unrelated] {
        app.create_event(body).await;
    }
    assert_eq!(
        slugs(&app, "q=anthropic%20amazon").await,
        ["strong", "weak"]
    );
    assert_eq!(
        slugs(&app, "q=anthropic&sort=-occurred_on").await,
        ["weak", "strong"]
    );
    assert_eq!(slugs(&app, "q=%22cloud%20deal%22").await, ["weak"]);
    assert_eq!(slugs(&app, "q=anthropic%20-cloud").await, ["strong"]);
    assert_eq!(
        slugs(&app, "q=raising").await,
        ["strong"],
        "stemming finds `raises`"
    );
    assert!(
        slugs(&app, "q=the").await.is_empty(),
        "a stop-word-only query matches nothing"
    );
    let walked = walk(&app, "/v1/events?q=anthropic&limit=1").await;
    assert_eq!(walked.len(), 2);
    // tsquery operators and quotes are plain text in web-search syntax, never an error.
    for q in [
        "a%20%26%20b",
        "%21%21%21",
        "%27%3B%20drop",
        "a%3A*",
        "(%7C)",
        "%22unclosed",
        "-",
        "OR",
    ] {
        app.get(&format!("/v1/events?q={q}"))
            .await
            .assert_status(StatusCode::OK);
    }
}

#[tokio::test]
async fn a_best_match_ranking_is_reused_until_the_content_changes() {
    let app = TestApp::new().await;
    let mut strong = event("Anthropic and Amazon", "2023-01-01", &[], "minor");
    strong["summary"] = json!("Anthropic and Amazon: Anthropic gets Amazon money.");
    strong["slug"] = json!("strong");
    let mut weak = event("A cloud deal", "2024-01-01", &[], "minor");
    weak["why_it_matters"] = json!("Mentions Anthropic once, and Amazon too.");
    weak["slug"] = json!("weak");
    app.create_event(strong).await;
    let weak = app.create_event(weak).await;
    app.get("/v1/events").await.assert_status(StatusCode::OK);

    let query = "q=anthropic%20amazon";
    let count = count_statements();
    assert_eq!(slugs(&app, query).await, ["strong", "weak"]);
    let cold = count.get();
    drop(count);
    let count = count_statements();
    assert_eq!(slugs(&app, query).await, ["strong", "weak"]);
    let warm = count.get();
    drop(count);
    assert_eq!(
        (cold, warm),
        (3, 2),
        "snapshot, ranking, page; then a check of the change notes and the page"
    );
    let limited = app.get(&format!("/v1/events?{query}&limit=1")).await.json();
    assert_eq!(limited["data"].as_array().unwrap().len(), 1);
    assert!(
        limited["next_cursor"].is_string(),
        "another key, ranked on its own"
    );

    // A write to any event can change the ranking: a new best match is seen at once...
    let mut best = event(
        "Anthropic Amazon Anthropic Amazon",
        "2022-01-01",
        &[],
        "minor",
    );
    best["summary"] = json!("Anthropic, Amazon, Anthropic, Amazon, Anthropic, Amazon.");
    best["slug"] = json!("best");
    app.create_event(best).await;
    assert_eq!(slugs(&app, query).await, ["best", "strong", "weak"]);
    // ...and so is an edit or a delete.
    let res = app
        .patch_json(
            &format!("/v1/events/{}", weak["id"].as_str().unwrap()),
            json!({"why_it_matters": "No longer about either."}),
        )
        .await;
    res.assert_status(StatusCode::OK);
    assert_eq!(slugs(&app, query).await, ["best", "strong"]);
    app.delete_with("/v1/events/strong", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(slugs(&app, query).await, ["best"]);
}

#[tokio::test]
async fn updated_since_returns_changes_after_the_time_including_tombstones() {
    let app = TestApp::new().await;
    let old = app
        .create_event(event("Old", "2024-01-01", &["x"], "minor"))
        .await;
    let kept = app
        .create_event(event("Kept", "2024-01-02", &["x"], "minor"))
        .await;
    let since = kept["updated_at"].as_str().unwrap().to_owned();
    let changed = app
        .patch_json(
            &format!("/v1/events/{}", old["id"].as_str().unwrap()),
            json!({"summary": "changed"}),
        )
        .await
        .json();
    let doomed = app
        .create_event(event("Doomed", "2024-01-03", &["x"], "minor"))
        .await;
    app.delete_with(
        &format!("/v1/events/{}", doomed["id"].as_str().unwrap()),
        &[],
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);

    let body = app
        .get(&format!("/v1/events?updated_since={since}&sort=updated_at"))
        .await
        .json();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{body}");
    assert_eq!(data[0]["id"], changed["id"]);
    assert_eq!(data[0]["summary"], "changed");
    assert_eq!(
        data[1],
        json!({"id": doomed["id"], "slug": "doomed", "deleted": true, "updated_at": data[1]["updated_at"]})
    );
    // Filters still apply to tombstones, by the event's last state.
    let tagged = app
        .get(&format!("/v1/events?updated_since={since}&tag=x"))
        .await
        .json();
    assert_eq!(tagged["data"].as_array().unwrap().len(), 2);
    let other = app
        .get(&format!("/v1/events?updated_since={since}&tag=y"))
        .await
        .json();
    assert_eq!(other["data"], json!([]));
    // An offset written with an unencoded `+` still parses.
    let yesterday =
        (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S+00:00");
    app.get(&format!("/v1/events?updated_since={yesterday}"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = TestApp::new().await;
    let cases = [
        ("colour=red", "colour"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("sort=random", "sort"),
        ("sort=-title", "sort"),
        ("category=gossip", "category"),
        ("significance=huge", "significance"),
        ("min_significance=0", "min_significance"),
        ("from=2024-02-30", "from"),
        ("to=tomorrow", "to"),
        ("from=2024-06-01&to=2024-01-01", "from"),
        ("updated_since=2024-01-01", "updated_since"),
        ("tag=c%2B%2B", "tag"),
        ("any_tag=a,,b", "any_tag"),
        ("exclude_tag=%20", "exclude_tag"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=MS5vZC4wMDAwLnh4eC5k", "cursor"),
        ("q=%00", "q"),
    ];
    for (query, parameter) in cases {
        let res = app.get(&format!("/v1/events?{query}")).await;
        res.assert_bad_param(parameter);
    }
    let long_q = format!("/v1/events?q={}", "a".repeat(201));
    app.get(&long_q).await.assert_bad_param("q");
    let many = (0..21)
        .map(|i| format!("tag=t{i}"))
        .collect::<Vec<_>>()
        .join("&");
    app.get(&format!("/v1/events?{many}"))
        .await
        .assert_bad_param("tag");
}

#[tokio::test]
async fn a_cursor_from_another_query_is_refused() {
    let app = TestApp::new().await;
    tie_heavy_data_set(&app).await;
    let body = app.get("/v1/events?tag=even&limit=2").await.json();
    let cursor = body["next_cursor"].as_str().unwrap();
    app.get(&format!("/v1/events?tag=even&limit=5&cursor={cursor}"))
        .await
        .assert_status(StatusCode::OK);
    app.get(&format!("/v1/events?tag=odd&limit=2&cursor={cursor}"))
        .await
        .assert_bad_param("cursor");
    app.get(&format!("/v1/events?tag=even&sort=title&cursor={cursor}"))
        .await
        .assert_bad_param("cursor");
    let mut tampered = cursor.to_owned();
    tampered.insert(5, 'x');
    app.get(&format!("/v1/events?tag=even&cursor={tampered}"))
        .await
        .assert_bad_param("cursor");
}

#[tokio::test]
async fn lists_carry_an_etag_answer_304_and_ask_not_to_be_cached_blindly() {
    let app = TestApp::new().await;
    tie_heavy_data_set(&app).await;
    let res = app.get("/v1/events?tag=odd").await;
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    let etag = res.header("etag").unwrap().to_owned();
    let again = app
        .get_with("/v1/events?tag=odd", &[("if-none-match", &etag)])
        .await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    // A write to an event outside the list leaves the list's tag alone...
    app.create_event(event("Unrelated", "2024-01-01", &["even"], "minor"))
        .await;
    app.get_with("/v1/events?tag=odd", &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    // ...and one inside it changes it.
    app.create_event(event("Related", "2025-01-01", &["odd"], "minor"))
        .await;
    app.get_with("/v1/events?tag=odd", &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn walked_pages_hold_each_event_once_even_with_many_same_day_events() {
    let app = TestApp::new().await;
    for i in 0..15 {
        app.create_event(event(
            &format!("Same day {i}"),
            "2024-05-05",
            &["same"],
            "minor",
        ))
        .await;
    }
    let got = walk(&app, "/v1/events?tag=same&limit=4").await;
    assert_eq!(got.len(), 15);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 15);
}

#[tokio::test]
async fn best_match_first_ranks_the_newest_candidates_when_capped_and_pages_them() {
    let app = TestApp::with_config(|c| c.search_rank_candidates = 3).await;
    let mut best = event("Anthropic Anthropic Anthropic", "2020-01-01", &[], "minor");
    best["summary"] = json!("Anthropic, Anthropic, Anthropic.");
    best["slug"] = json!("oldest-best");
    app.create_event(best).await;
    for (slug, day) in [
        ("a", "2024-01-01"),
        ("b", "2024-01-02"),
        ("c", "2024-01-03"),
    ] {
        let mut body = event(&format!("About Anthropic {slug}"), day, &[], "minor");
        body["slug"] = json!(slug);
        app.create_event(body).await;
    }
    let ranked = slugs(&app, "q=anthropic").await;
    assert_eq!(
        ranked.len(),
        3,
        "only the three newest matches are ranked: {ranked:?}"
    );
    assert!(!ranked.contains(&"oldest-best".to_owned()));
    let walked = walk(&app, "/v1/events?q=anthropic&limit=1").await;
    let ranked_ids = ids(&app.get("/v1/events?q=anthropic").await.json());
    assert_eq!(walked, ranked_ids, "pages walk the same ranking");

    // A query matching no more than the cap is ranked exactly.
    let exact = TestApp::with_config(|c| c.search_rank_candidates = 0).await;
    let mut best = event("Anthropic Anthropic Anthropic", "2020-01-01", &[], "minor");
    best["summary"] = json!("Anthropic, Anthropic, Anthropic.");
    best["slug"] = json!("oldest-best");
    exact.create_event(best).await;
    let mut other = event("About Anthropic", "2024-01-01", &[], "minor");
    other["slug"] = json!("newer");
    exact.create_event(other).await;
    assert_eq!(slugs(&exact, "q=anthropic").await, ["oldest-best", "newer"]);
}
