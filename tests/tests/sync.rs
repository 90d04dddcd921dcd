//! S2 end to end: the core's sync engine against the reference server over
//! real loopback HTTP and WebSocket, with faults on.

use rapport_core::generate::me;
use rapport_core::model::*;
use rapport_core::store::{ChatFilter, Store};
use rapport_core::sync::{Backend, Live, RapportBackend, SyncEngine, SyncError, SyncState};
use rapport_core::timers::ServerClock;
use rapport_tests::{PASSWORD, TempStore, TestServer};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn client(srv: &TestServer, email: &str) -> (TempStore, Arc<SyncEngine<RapportBackend>>) {
    let t = TempStore::new();
    let backend = RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap();
    // Faults may be on: a login is retried like any request.
    let mut tries = 0;
    let login = loop {
        match backend.login(email, PASSWORD).await {
            Ok(l) => break l,
            Err(e) if e.is_retryable() && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("login: {e}"),
        }
    };
    t.store.set_me(login.member_id).unwrap();
    let mut engine = SyncEngine::new(t.store.clone(), Arc::new(backend));
    engine.backoff_base = Duration::from_millis(20);
    engine.backoff_max = Duration::from_millis(300);
    (t, Arc::new(engine))
}

/// Waits until the store has applied everything up to `head`.
async fn converge(store: &Store, head: Seq) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.last_seq().unwrap() < head {
        assert!(
            Instant::now() < deadline,
            "no convergence: {:?} < {head:?}",
            store.last_seq()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn messages(store: &Store, chat: &ChatId) -> Vec<Message> {
    store.messages_before(chat, None, u32::MAX).unwrap().0
}

/// The client's store equals the server's state: every chat row (status,
/// unread count, preview...), and each chat's messages are exactly the
/// server's newest ones (no gap, nothing twice).
fn assert_same(client: &Store, server: &Store) {
    let all = |s: &Store| {
        s.chat_page(&ChatFilter::default(), None, u32::MAX)
            .unwrap()
            .rows
    };
    let (c, s) = (all(client), all(server));
    assert_eq!(c.len(), s.len());
    // Chat by chat first (a clear message), then the order.
    let by_id = |v: &[rapport_core::model::ChatSummary]| -> std::collections::BTreeMap<String, rapport_core::model::ChatSummary> {
        v.iter().map(|x| (x.chat.id.0.clone(), x.clone())).collect()
    };
    let (cm, sm) = (by_id(&c), by_id(&s));
    for (id, sv) in &sm {
        assert_eq!(
            cm.get(id),
            Some(sv),
            "chat {id}: client vs server (client last seq {:?}, server {:?})",
            client.last_seq(),
            server.last_seq()
        );
    }
    for (a, b) in c.iter().zip(&s) {
        assert_eq!(a, b, "chat {}", b.chat.id);
        let (ma, mb) = (messages(client, &a.chat.id), messages(server, &b.chat.id));
        assert!(ma.len() <= mb.len());
        let tail = &mb[mb.len() - ma.len()..];
        if let Some(i) = (0..ma.len()).find(|&i| ma[i] != tail[i]) {
            panic!(
                "messages of {} differ at {i} of {}:\nclient {:?}\nserver {:?}",
                b.chat.id,
                ma.len(),
                ma[i],
                tail[i]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_client_converges_through_snapshot_catch_up_and_a_faulty_live_stream() {
    let mut srv = TestServer::start(150, 1_500).await;
    let (a, engine) = client(&srv, "u0@w1.test").await;
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run().await }
    });
    converge(&a.store, srv.head("w1")).await;
    let mut state = engine.state();
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| matches!(s, SyncState::Live { .. })),
    )
    .await
    .expect("live within 10 s")
    .unwrap();

    // Faults on: 5xx, 429 and broken connections, streams cut every 40
    // events, frames duplicated
    // and reordered; a simulator writes at 300 events/s meanwhile.
    // Count the reconnections the faults cause.
    let offline = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let watcher = tokio::spawn({
        let (mut rx, offline) = (engine.state(), offline.clone());
        async move {
            while rx.changed().await.is_ok() {
                if matches!(*rx.borrow(), SyncState::Offline { .. }) {
                    offline.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    let seeded = srv.head("w1");
    let faults = &srv.server.state.faults;
    faults.cut_streams_after(40);
    faults.set_duplicate(true);
    faults.set_reorder(true);
    faults.fail_next(3);
    faults.drop_next(3);
    faults.rate_limit_next(2, 0);
    let sim = rapport_server::sim::start(
        srv.server.state.clone(),
        srv.workspace("w1"),
        srv.generator.take().unwrap(),
        300.0,
    );
    // A second client comes online halfway, behind by everything.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (b, engine_b) = client(&srv, "u1@w1.test").await;
    let run_b = tokio::spawn({
        let engine = engine_b.clone();
        async move { engine.run().await }
    });
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    drop(sim);
    faults.clear();
    // An emit already handed to a blocking thread may still land: wait for
    // the head to settle before comparing.
    let mut head = srv.head("w1");
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = srv.head("w1");
        if now == head {
            break;
        }
        head = now;
    }
    assert!(
        head.0 > seeded.0 + 300,
        "the simulator ran: {seeded:?} -> {head:?}"
    );
    converge(&a.store, head).await;
    converge(&b.store, head).await;
    let server_store = srv.workspace("w1").store.clone();
    assert_same(&a.store, &server_store);
    assert_same(&b.store, &server_store);
    let reconnects = offline.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        reconnects >= 5,
        "the faults cut the stream: {reconnects} reconnections"
    );
    watcher.abort();
    run.abort();
    run_b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_client_offline_for_a_while_catches_up_and_history_loads_on_demand() {
    let srv = TestServer::start(40, 3_000).await;
    let (a, engine) = client(&srv, "u0@w1.test").await;
    engine.catch_up().await.unwrap();
    // While it is offline, the workspace moves on.
    let w1 = srv.workspace("w1");
    let hub = &srv.server.state.hub;
    for i in 0..30 {
        let m = rapport_tests::message(
            "c1",
            &format!("late{i}"),
            Sender::Subscriber,
            "hello?",
            Timestamp(2_000_000_000_000 + i),
        );
        hub.emit(&w1, vec![EventPayload::MessageUpserted(m)])
            .unwrap();
    }
    engine.catch_up().await.unwrap();
    assert_eq!(a.store.last_seq().unwrap(), srv.head("w1"));
    assert_same(&a.store, &w1.store);
    // B1: the busiest chat has more history on the server than the
    // snapshot brought; fetch it page by page until the start.
    let busy = ChatId::from("c0");
    let before = messages(&a.store, &busy).len();
    let server_total = messages(&w1.store, &busy).len();
    assert!(before < server_total, "{before} < {server_total}");
    loop {
        let oldest = messages(&a.store, &busy).first().map(|m| m.id.clone());
        if !engine
            .load_older(&busy, oldest.as_ref(), 100)
            .await
            .unwrap()
        {
            break;
        }
    }
    assert_eq!(messages(&a.store, &busy), messages(&w1.store, &busy));
}

async fn raw(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let http = {
        rapport_core::sync::install_crypto();
        reqwest::Client::new()
    };
    let mut req = http.request(method, format!("{}{path}", srv.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    assert!(
        resp.headers().contains_key("x-server-time"),
        "{path}: every response carries server time"
    );
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

async fn token(srv: &TestServer, email: &str) -> String {
    let b = RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap();
    b.login(email, PASSWORD).await.unwrap().token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_auth_and_isolation_answer_401_403_404_with_stable_codes() {
    use reqwest::Method;
    let srv = TestServer::start(10, 50).await;
    let t1 = token(&srv, "u0@w1.test").await;
    let t2 = token(&srv, "u0@w2.test").await;
    let viewer = token(&srv, "viewer@w1.test").await;
    // No token, a wrong token, wrong credentials.
    assert_eq!(
        raw(&srv, Method::GET, "/v1/sync?since=0", None, None, None)
            .await
            .0,
        401
    );
    let (s, b) = raw(
        &srv,
        Method::GET,
        "/v1/sync?since=0",
        Some("nope"),
        None,
        None,
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (401, Some("unauthorized")));
    let (s, b) = raw(
        &srv,
        Method::POST,
        "/v1/login",
        None,
        Some(r#"{"email":"u0@w1.test","password":"x"}"#),
        None,
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (401, Some("bad_credentials")));
    // A member sees only its workspace: w1's chat does not exist for w2.
    let (s, _) = raw(
        &srv,
        Method::GET,
        "/v1/chats/c3/messages",
        Some(&t1),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = raw(
        &srv,
        Method::GET,
        "/v1/chats/c9/messages",
        Some(&t2),
        None,
        None,
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    let (s, b) = raw(
        &srv,
        Method::POST,
        "/v1/chats/c9/read",
        Some(&t2),
        None,
        Some("k-iso"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    let snap = raw(&srv, Method::GET, "/v1/sync?since=0", Some(&t2), None, None)
        .await
        .1;
    assert_eq!(
        snap["chats"].as_array().map(Vec::len),
        Some(5),
        "w2 has its own 5 chats"
    );
    // D1: a viewer's role has no access to conversations.
    let (s, b) = raw(
        &srv,
        Method::POST,
        "/v1/chats/c1/read",
        Some(&viewer),
        None,
        Some("k-v"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("forbidden")));
    // ... nor read them.
    let (s, b) = raw(
        &srv,
        Method::GET,
        "/v1/sync?since=0",
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("forbidden")));
    let (s, _) = raw(
        &srv,
        Method::GET,
        "/v1/chats/c1/messages",
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!(s, 403);
    // ... and cannot be assigned.
    let (s, b) = raw(
        &srv,
        Method::POST,
        "/v1/chats/c1/assign",
        Some(&t1),
        Some(r#"{"member_id":"u3"}"#),
        Some("k-a"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("not_assignable")));
    // Malformed input to every kind of endpoint: typed 4xx, no panic.
    for (m, path, body) in [
        (Method::GET, "/v1/sync?since=abc", None),
        (Method::GET, "/v1/sync", None),
        (Method::GET, "/v1/stream?since=0", None),
        (Method::POST, "/v1/chats/c1/messages", Some("{not json")),
        (
            Method::POST,
            "/v1/chats/c1/messages",
            Some(r#"{"text": 5}"#),
        ),
        (Method::POST, "/v1/chats/c1/assign", Some("[]")),
        (
            Method::POST,
            "/v1/chats/c1/pause",
            Some(r#"{"action":"forever"}"#),
        ),
        (Method::PATCH, "/v1/deals/nope", Some("{}")),
        (Method::DELETE, "/v1/sync", None),
        (Method::GET, "/v1/nothing-here", None),
    ] {
        let (s, b) = raw(&srv, m.clone(), path, Some(&t1), body, Some("k-bad")).await;
        assert!((400..500).contains(&s), "{m} {path}: {s}");
        assert!(b["code"].is_string(), "{m} {path}: {b}");
    }
    // Refresh replaces the pair and revokes the old one; logout revokes it.
    let b = srv.backend();
    let first = b.login("u0@w1.test", PASSWORD).await.unwrap();
    let second = b.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(first.token, second.token);
    let (s, _) = raw(
        &srv,
        Method::GET,
        "/v1/sync?since=1",
        Some(&first.token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401, "the refreshed pair is revoked");
    // The replaced refresh token gets another pair of the same family for
    // a minute, then revokes the family (session_stats.rs::s5_h3_*,
    // accounts.rs).
    let again = b.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(again.token, second.token, "another pair, not the same one");
    b.pull(Seq(1).into(), 10).await.unwrap();
    b.logout().await.unwrap();
    let (s, _) = raw(
        &srv,
        Method::GET,
        "/v1/sync?since=1",
        Some(&second.token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert!(matches!(
        b.pull(Seq(1).into(), 10).await,
        Err(SyncError::Unauthorized)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_commands_are_idempotent_and_refusals_carry_the_policy_code() {
    use reqwest::Method;
    let srv = TestServer::start(30, 300).await;
    let t1 = token(&srv, "u0@w1.test").await;
    // A chat whose window is open (its subscriber wrote just now).
    let w1 = srv.workspace("w1");
    let chat = w1
        .store
        .chat_page(
            &ChatFilter {
                app: Some(App::Whatsapp),
                ..Default::default()
            },
            None,
            1,
        )
        .unwrap()
        .rows
        .remove(0)
        .chat;
    srv.subscriber_writes(chat.id.as_str(), "fresh");
    let path = format!("/v1/chats/{}/messages", chat.id);
    let head = srv.head("w1");
    let (s1, b1) = raw(
        &srv,
        Method::POST,
        &path,
        Some(&t1),
        Some(r#"{"text":"On it 👍"}"#),
        Some("send-1"),
    )
    .await;
    let (s2, b2) = raw(
        &srv,
        Method::POST,
        &path,
        Some(&t1),
        Some(r#"{"text":"On it 👍"}"#),
        Some("send-1"),
    )
    .await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1, b2, "a repeated key gets the first answer");
    assert_eq!(
        srv.head("w1").0,
        head.0 + 2,
        "one message and its pause (E3), once"
    );
    assert_eq!(b1["message"]["sender"]["member_id"], me().0);
    assert!(b1["paused_until"].as_i64().unwrap() > rapport_server::hub::now().0 + 59 * 60_000);
    // The same key from another member is another command.
    let t2 = token(&srv, "u1@w1.test").await;
    let (s3, b3) = raw(
        &srv,
        Method::POST,
        &path,
        Some(&t2),
        Some(r#"{"text":"Me too"}"#),
        Some("send-1"),
    )
    .await;
    assert_eq!(s3, 200);
    assert_ne!(b3["message"]["id"], b1["message"]["id"]);
    assert_eq!(b3["message"]["sender"]["member_id"], "u1");
    // E1 over the server: 513 characters are refused with the core's code.
    let long = format!(r#"{{"text":"{}"}}"#, "a".repeat(513));
    let (s, b) = raw(
        &srv,
        Method::POST,
        &path,
        Some(&t1),
        Some(&long),
        Some("send-2"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("text_too_long")));
    // A refusal is remembered too.
    let (s, b) = raw(
        &srv,
        Method::POST,
        &path,
        Some(&t1),
        Some(r#"{"text":"ok now?"}"#),
        Some("send-2"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("text_too_long")));
    // E4/E5: a Viber chat whose subscriber never wrote is outside the window,
    // but Viber lets the bot write (E6); WhatsApp refuses with window_closed.
    let w2 = srv.workspace("w1");
    let closed = w2
        .store
        .chat_page(
            &ChatFilter {
                app: Some(App::Whatsapp),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap()
        .rows
        .into_iter()
        .find(|r| {
            r.chat
                .last_inbound_at
                .is_none_or(|t| t.0 < rapport_server::hub::now().0 - 86_400_000)
        });
    if let Some(c) = closed {
        let (s, b) = raw(
            &srv,
            Method::POST,
            &format!("/v1/chats/{}/messages", c.chat.id),
            Some(&t1),
            Some(r#"{"text":"hi"}"#),
            Some("send-3"),
        )
        .await;
        assert_eq!((s, b["code"].as_str()), (422, Some("window_closed")));
        let (s, _) = raw(
            &srv,
            Method::POST,
            &format!("/v1/chats/{}/messages", c.chat.id),
            Some(&t1),
            Some(r#"{"template":"order_update"}"#),
            Some("send-4"),
        )
        .await;
        assert_eq!(s, 200, "E5: a WhatsApp template goes out");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_unknown_and_malformed_events_are_kept_and_the_feed_goes_on() {
    let srv = TestServer::start(10, 50).await;
    let (a, engine) = client(&srv, "u0@w1.test").await;
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run().await }
    });
    converge(&a.store, srv.head("w1")).await;
    let w1 = srv.workspace("w1");
    let hub = &srv.server.state.hub;
    // A later server version: a new type, and a known type in a new shape.
    hub.emit_raw(&w1, "poll_created", serde_json::json!({"question": "?"}))
        .unwrap();
    hub.emit_raw(&w1, "chat_read", serde_json::json!({"chat": 7}))
        .unwrap();
    let m = rapport_tests::message(
        "c1",
        "after",
        Sender::Subscriber,
        "still here",
        rapport_server::hub::now(),
    );
    hub.emit(&w1, vec![EventPayload::MessageUpserted(m)])
        .unwrap();
    converge(&a.store, srv.head("w1")).await;
    assert_eq!(
        a.store.kept_events().unwrap(),
        2,
        "both kept, neither dropped"
    );
    assert_same(&a.store, &w1.store);
    run.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e3_during_a_pause_the_bots_messages_to_the_subscriber_are_held() {
    use reqwest::Method;
    let mut srv = TestServer::start(20, 200).await;
    let t1 = token(&srv, "u0@w1.test").await;
    let (s, b) = raw(
        &srv,
        Method::POST,
        "/v1/chats/c0/pause",
        Some(&t1),
        Some(r#"{"action":"start"}"#),
        Some("p-1"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let paused_at = rapport_server::hub::now();
    let w1 = srv.workspace("w1");
    let before = messages(&w1.store, &ChatId::from("c0")).len();
    let sim = rapport_server::sim::start(
        srv.server.state.clone(),
        w1.clone(),
        srv.generator.take().unwrap(),
        400.0,
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    drop(sim);
    let all = messages(&w1.store, &ChatId::from("c0"));
    assert!(all.len() > before, "the subscriber kept writing");
    let bot_during_pause = all
        .iter()
        .filter(|m| m.sent_at >= paused_at && m.sender == Sender::Bot)
        .count();
    assert_eq!(bot_during_pause, 0, "the bot is held during the pause");
    // Elsewhere the bot goes on.
    let others: usize = (1..5)
        .map(|i| {
            messages(&w1.store, &ChatId(format!("c{i}")))
                .iter()
                .filter(|m| m.sent_at >= paused_at && m.sender == Sender::Bot)
                .count()
        })
        .sum();
    assert!(others > 0, "bots still answer in chats without a pause");
}

/// Issue 16, hole 1: a captive portal answering the snapshot and the first
/// catch-up pages with a 200 HTML page makes sync wait and retry (Offline),
/// never stop for good; it converges once the portal lets it through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_an_html_200_on_sync_is_retried_not_the_end_of_sync() {
    let srv = TestServer::start(20, 100).await;
    let (a, engine) = client(&srv, "u0@w1.test").await;
    srv.server.state.faults.portal_next(4);
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run().await }
    });
    converge(&a.store, srv.head("w1")).await;
    let mut state = engine.state();
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| matches!(s, SyncState::Live { .. })),
    )
    .await
    .expect("live within 10 s")
    .unwrap();
    assert!(!run.is_finished(), "sync still runs");
    run.abort();
}

/// Issue 16, hole 2 (S5, D1): a stream kept busy by a simulator (an event
/// well within every heartbeat interval) still re-checks its session and
/// role once per interval: a revoked session's stream closes (4401, the
/// client reconnects), and a member whose role lost conversations access
/// gets `Forbidden` (4403) instead of more events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_d1_a_busy_stream_ends_on_logout_and_when_the_role_loses_access() {
    let mut srv = TestServer::start(30, 100).await;
    let sim = rapport_server::sim::start(
        srv.server.state.clone(),
        srv.workspace("w1"),
        srv.generator.take().unwrap(),
        100.0,
    );
    let open = |email: &'static str| {
        let backend = srv.backend();
        async move {
            let login = backend.login(email, PASSWORD).await.unwrap();
            (backend, login)
        }
    };
    /// Reads the stream until it ends: the events it delivered first, and
    /// how it ended. Panics if it is still delivering after `secs`.
    async fn until_end(
        stream: &mut futures_util::stream::BoxStream<'static, Result<Live, SyncError>>,
        secs: u64,
    ) -> (usize, SyncError) {
        use futures_util::StreamExt;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut events = 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "still streaming: {events} events"
            );
            match tokio::time::timeout(Duration::from_secs(secs), stream.next()).await {
                Ok(Some(Ok(Live::Events { events: e, .. }))) => events += e.len(),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return (events, e),
                Ok(None) => return (events, SyncError::Network("ended".into())),
                Err(_) => panic!("silent stream"),
            }
        }
    }

    // Logout: the session is revoked while events keep coming.
    let (a, login_a) = open("u0@w1.test").await;
    let mut stream = a.stream(srv.head("w1").into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    srv.server.state.hub.revoke(&login_a.token).unwrap();
    let (events, end) = until_end(&mut stream, 5).await;
    assert!(events > 0, "the stream was busy");
    assert!(
        matches!(&end, SyncError::Network(m) if m.contains("session ended")),
        "{end:?}"
    );

    // A role change: u1 loses conversations access.
    let (b, login_b) = open("u1@w1.test").await;
    let mut stream = b.stream(srv.head("w1").into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let w1 = srv.workspace("w1");
    let mut member = w1
        .store
        .members(false)
        .unwrap()
        .into_iter()
        .find(|m| m.id == login_b.member_id)
        .unwrap();
    member.conversations_access = false;
    srv.server
        .state
        .hub
        .emit(&w1, vec![EventPayload::MemberUpserted(member)])
        .unwrap();
    let (events, end) = until_end(&mut stream, 5).await;
    assert!(events > 0, "the stream was busy");
    assert!(matches!(end, SyncError::Forbidden(_)), "{end:?}");
    drop(sim);
}

/// Issue 16 hole 7: a `since` ahead of the feed's head (the server lost
/// its log's tail) is answered a fresh snapshot by `GET /v1/sync`, and the
/// live stream opened with it closes at once with 4409 (`resync`) instead
/// of waiting silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_since_ahead_of_the_head_gets_a_snapshot_and_the_stream_closes_with_resync() {
    let srv = TestServer::start(10, 50).await;
    let backend = RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap();
    backend.login("u0@w1.test", PASSWORD).await.unwrap();
    let head = srv.head("w1");
    let ahead = Seq(head.0 + 100);
    match backend.pull(ahead.into(), 100).await.unwrap() {
        rapport_core::sync::Pulled::Snapshot(s) => {
            assert_eq!(s.seq, head);
            assert_eq!(
                s.chats.len(),
                srv.workspace("w1").store.snapshot(20).unwrap().chats.len()
            );
        }
        other => panic!("not a snapshot: {other:?}"),
    }
    assert_stream_closes_with_resync(&backend, ahead.into()).await;
    // Up to the head, the feed answers events as before.
    assert!(matches!(
        backend.pull(head.into(), 100).await.unwrap(),
        rapport_core::sync::Pulled::Events { .. }
    ));
}

/// Issue 16 hole 7, the rest of it: a power loss took the log's tail, and
/// the log then grew past the client's seq before the client came back. By
/// seq alone the client looks merely behind; the time of its event at that
/// seq is not the log's, so the stream closes with 4409 and the pull answers
/// a fresh snapshot: the client ends equal to the server, with nothing of
/// the lost tail left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_log_that_lost_its_tail_then_grew_past_the_client_sends_it_a_fresh_snapshot() {
    let srv = TestServer::start(10, 50).await;
    let chat = srv
        .workspace("w1")
        .store
        .chat_page(&ChatFilter::default(), None, 1)
        .unwrap()
        .rows[0]
        .chat
        .id
        .clone();
    let (t, engine) = client(&srv, "u0@w1.test").await;
    engine.catch_up().await.unwrap();
    // Two events the client applies and the log then loses.
    let kept = srv.head("w1");
    srv.subscriber_writes(chat.as_str(), "lost-1");
    srv.subscriber_writes(chat.as_str(), "lost-2");
    let head = srv.head("w1");
    engine.catch_up().await.unwrap();
    let cursor = t.store.cursor().unwrap();
    assert_eq!(cursor.seq, head);
    assert!(cursor.at.is_some(), "the store keeps its event's time");
    drop(engine);

    let srv = srv
        .restarted(|db| {
            rusqlite::Connection::open(db)
                .unwrap()
                .execute("DELETE FROM events WHERE seq > ?1", [kept.0 as i64])
                .unwrap();
        })
        .await;
    // The log grows past the client's seq with other events.
    for i in 0..4 {
        srv.subscriber_writes(chat.as_str(), &format!("new-{i}"));
    }
    assert!(srv.head("w1") > head);

    let backend = srv.backend();
    backend.login("u0@w1.test", PASSWORD).await.unwrap();
    assert_stream_closes_with_resync(&backend, cursor).await;
    let engine = SyncEngine::new(t.store.clone(), Arc::new(backend));
    engine.catch_up().await.unwrap();
    let server = &srv.workspace("w1").store;
    assert_eq!(t.store.last_seq().unwrap(), server.last_seq().unwrap());
    assert_same(&t.store, server);
    let ids: Vec<String> = messages(&t.store, &chat)
        .into_iter()
        .map(|m| m.id.0)
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("lost-")), "{ids:?}");
    assert_eq!(ids.iter().filter(|id| id.starts_with("new-")).count(), 4);
    // From the new cursor the feed resumes as usual.
    assert!(matches!(
        backend_pull(&srv, t.store.cursor().unwrap()).await,
        rapport_core::sync::Pulled::Events { .. }
    ));
}

async fn backend_pull(srv: &TestServer, at: Cursor) -> rapport_core::sync::Pulled {
    let b = srv.backend();
    b.login("u0@w1.test", PASSWORD).await.unwrap();
    b.pull(at, 100).await.unwrap()
}

/// Issue 16 hole 7: a stream opened at a cursor the log cannot resume from
/// closes at once with 4409 (`resync`) instead of waiting silently.
async fn assert_stream_closes_with_resync(backend: &RapportBackend, at: Cursor) {
    use futures_util::StreamExt;
    let end = match backend.stream(at).await {
        Err(e) => e,
        Ok(mut stream) => {
            match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                Ok(Some(Err(e))) => e,
                other => panic!("the stream did not close with a reason: {other:?}"),
            }
        }
    };
    assert!(
        matches!(&end, SyncError::Network(m) if m.contains("resync")),
        "{end:?}"
    );
}
