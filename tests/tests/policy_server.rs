//! The core's boundary tables (rapport_core::policy::cases), row by row,
//! through the reference server's API on a manual clock: the server, the
//! authority, agrees with the core at every boundary.

use rapport_core::model::*;
use rapport_core::policy::cases::{CaseOut, MessageAction, message_cases, send_cases};
use rapport_core::sync::RapportBackend;
use rapport_core::timers::{ManualClock, ServerClock};
use rapport_tests::{PASSWORD, TestServer};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn chat(id: &str, app: App) -> EventPayload {
    EventPayload::ChatUpserted(Chat {
        id: ChatId::from(id),
        bot_id: BotId::from("b1"),
        app,
        kind: ChatKind::Personal,
        subscriber_id: SubscriberId(format!("s-{id}")),
        title: "Case".into(),
        avatar_url: None,
        state: ChatState::Open,
        assignee: None,
        last_activity: T0,
        unread_count: 0,
        last_inbound_at: None,
        paused_until: None,
    })
}

async fn call(
    srv: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
    key: &str,
) -> (u16, serde_json::Value) {
    rapport_core::sync::install_crypto();
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", srv.url()))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn setup() -> (TestServer, Arc<ManualClock>, String) {
    let clock = Arc::new(ManualClock::new(T0));
    let srv = TestServer::start_with_clock(3, 10, Some(clock.clone())).await;
    // Tokens outlive the clock's jumps of days.
    srv.server
        .state
        .hub
        .token_ttl_ms
        .store(1_000 * 86_400_000, Ordering::Relaxed);
    let b = RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap();
    let token = b.login("u0@w1.test", PASSWORD).await.unwrap().token;
    (srv, clock, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e1_e4_e5_e6_send_table_on_the_server() {
    let (srv, clock, token) = setup().await;
    let w1 = srv.workspace("w1");
    let hub = &srv.server.state.hub;
    for (i, case) in send_cases().iter().enumerate() {
        clock.set(T0);
        let id = format!("case-{i}");
        let mut events = vec![chat(&id, case.app)];
        if case.since_inbound_ms.is_some() {
            let m =
                rapport_tests::message(&id, &format!("in-{i}"), Sender::Subscriber, "hello", T0);
            events.push(EventPayload::MessageUpserted(m));
        }
        hub.emit(&w1, events).unwrap();
        clock.set(T0.plus_millis(case.since_inbound_ms.unwrap_or(0)));
        let body = match &case.out {
            CaseOut::Text(t) => serde_json::json!({ "text": t }),
            CaseOut::Template(name) => serde_json::json!({ "template": name }),
            CaseOut::Tagged(tag, t) => serde_json::json!({ "tag": tag, "text": t }),
        };
        let (status, answer) = call(
            &srv,
            &token,
            reqwest::Method::POST,
            &format!("/v1/chats/{id}/messages"),
            body,
            &format!("k-{i}"),
        )
        .await;
        match case.expect {
            None => assert_eq!(status, 200, "row {i}: {case:?}: {answer}"),
            Some(code) => {
                assert_eq!(status, 422, "row {i}: {case:?}: {answer}");
                assert_eq!(answer["code"], code, "row {i}: {case:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_b8_message_table_on_the_server() {
    let (srv, clock, token) = setup().await;
    let w1 = srv.workspace("w1");
    let hub = &srv.server.state.hub;
    for (i, case) in message_cases().iter().enumerate() {
        clock.set(T0);
        let id = format!("mcase-{i}");
        let mid = format!("mm-{i}");
        let m = rapport_tests::message(&id, &mid, case.sender.clone(), "see you", T0);
        hub.emit(
            &w1,
            vec![chat(&id, case.app), EventPayload::MessageUpserted(m)],
        )
        .unwrap();
        clock.set(T0.plus_millis(case.age_ms));
        let path = format!("/v1/chats/{id}/messages/{mid}");
        let (method, path, body) = match case.action {
            MessageAction::Edit => (
                reqwest::Method::PATCH,
                path,
                serde_json::json!({"text": "see you tomorrow"}),
            ),
            MessageAction::Delete => (reqwest::Method::DELETE, path, serde_json::json!({})),
            MessageAction::React => (
                reqwest::Method::POST,
                format!("{path}/reactions"),
                serde_json::json!({"emoji": "👍"}),
            ),
        };
        let (status, answer) = call(&srv, &token, method, &path, body, &format!("m-{i}")).await;
        match case.expect {
            None => assert_eq!(status, 200, "row {i}: {case:?}: {answer}"),
            Some(code) => {
                assert_eq!(status, 422, "row {i}: {case:?}: {answer}");
                assert_eq!(answer["code"], code, "row {i}: {case:?}");
            }
        }
    }
}

/// Issue 16 hole 4: every free-form field that reaches the event log is
/// bounded on the server (policy::fields): one over its limit is refused
/// with 422 `field_too_long` naming the field, and nothing is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_e2_e5_f5_f8_g1_fields_over_their_bounds_are_refused_on_the_server() {
    use reqwest::Method;
    use serde_json::json;
    let (srv, _clock, token) = setup().await;
    let head = srv.head("w1");
    let a = |n: usize| "a".repeat(n);
    let cases = [
        (
            Method::POST,
            "/v1/chats/c1/messages",
            json!({ "template": a(257) }),
            "template",
        ),
        (
            Method::POST,
            "/v1/chats/c1/messages/m1/reactions",
            json!({ "emoji": a(33) }),
            "emoji",
        ),
        (
            Method::PATCH,
            "/v1/subscribers/s1",
            json!({ "add_tags": [a(257)] }),
            "tag",
        ),
        (
            Method::PATCH,
            "/v1/subscribers/s1",
            json!({ "variables": { a(129): "v" } }),
            "variable_name",
        ),
        (
            Method::PATCH,
            "/v1/subscribers/s1",
            json!({ "variables": { "k": a(4_097) } }),
            "variable_value",
        ),
        (
            Method::POST,
            "/v1/deals",
            json!({ "subscriber_id": "s1", "pipeline": { "id": "p", "name": "P" },
                    "stage": { "id": "s", "name": "S" }, "name": a(1_025) }),
            "deal",
        ),
        (
            Method::POST,
            "/v1/uploads",
            json!({ "id": "up-long", "name": a(256), "size_bytes": 10, "sha256": "0".repeat(64) }),
            "file_name",
        ),
    ];
    for (i, (method, path, body, field)) in cases.into_iter().enumerate() {
        let (status, err) = call(&srv, &token, method, path, body, &format!("long-{i}")).await;
        assert_eq!(status, 422, "{path} {field}: {err}");
        assert_eq!(err["code"], "field_too_long", "{path}");
        assert!(
            err["message"].as_str().unwrap_or("").starts_with(field),
            "{path}: {err}"
        );
    }
    assert_eq!(srv.head("w1"), head, "nothing logged");
}
