//! Issue 18 (large workspaces on the phone), end to end against the
//! reference server over loopback HTTP with real SQLite files: the first
//! sync in pages (S2), and a client far behind taking a fresh paged
//! snapshot that keeps its outbox and mutes (S2, E7, H2).

use rapport_core::model::*;
use rapport_core::store::{ChatFilter, SnapshotPart, Store};
use rapport_core::sync::{Action, Backend, Pulled, RapportBackend, SyncEngine, SyncState};
use rapport_core::timers::ServerClock;
use rapport_tests::{PASSWORD, TempStore, TestServer};
use std::sync::Arc;

async fn client(
    srv: &TestServer,
    first: u32,
    rest: u32,
) -> (TempStore, Arc<SyncEngine<RapportBackend>>) {
    let t = TempStore::new();
    let backend = RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap();
    let login = backend.login("u0@w1.test", PASSWORD).await.unwrap();
    t.store.set_me(login.member_id).unwrap();
    let mut engine = SyncEngine::new(t.store.clone(), Arc::new(backend));
    engine.first_page = first;
    engine.snapshot_page = rest;
    (t, Arc::new(engine))
}

/// The server writes `n` more events of its generator's activity.
fn activity(srv: &mut TestServer, n: usize) {
    let g = srv.generator.as_mut().unwrap();
    g.continue_for(n);
    let payloads: Vec<EventPayload> = g.batch(n).into_iter().map(|e| e.payload).collect();
    assert!(!payloads.is_empty());
    srv.server
        .state
        .hub
        .emit(&srv.workspace("w1"), payloads)
        .unwrap();
}

fn ids(store: &Store, n: u32) -> Vec<String> {
    store
        .chat_page(&ChatFilter::default(), None, n)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.chat.id.0)
        .collect()
}

/// Every chat row as the list shows it (status, unread count, preview,
/// order), each chat's newest messages, and the I1 figures: client and
/// server alike.
fn assert_same(client: &Store, server: &Store) {
    let all = |s: &Store| {
        s.chat_page(&ChatFilter::default(), None, u32::MAX)
            .unwrap()
            .rows
    };
    let (c, s) = (all(client), all(server));
    assert_eq!(c.len(), s.len(), "chats");
    let by_id = |v: &[ChatSummary]| -> std::collections::BTreeMap<String, ChatSummary> {
        v.iter().map(|x| (x.chat.id.0.clone(), x.clone())).collect()
    };
    let (cm, sm) = (by_id(&c), by_id(&s));
    for (id, sv) in &sm {
        assert_eq!(cm.get(id), Some(sv), "chat {id}: client vs server");
    }
    for b in &s {
        let msgs = |st: &Store| st.messages_before(&b.chat.id, None, u32::MAX).unwrap().0;
        let (ma, mb) = (msgs(client), msgs(server));
        assert!(ma.len() <= mb.len());
        assert_eq!(
            ma[..],
            mb[mb.len() - ma.len()..],
            "messages of {}",
            b.chat.id
        );
    }
    assert_eq!(
        client.stats().unwrap(),
        server.stats().unwrap(),
        "I1 figures"
    );
    assert_eq!(
        client.status_counts(&ChatFilter::default()).unwrap(),
        server.status_counts(&ChatFilter::default()).unwrap(),
        "A5 counts"
    );
}

/// Issue 18: the first sync of a workspace comes in pages. After the first
/// page the inbox's first screen is the server's (usable), while the store
/// holds only that page; the server moves on between pages (new messages
/// in chats of the first page and of later ones), and catch-up from the
/// first page's seq skips what each later page already holds: no unread
/// counted twice, no message lost, the same figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_paged_first_sync_is_usable_after_its_first_page_and_converges() {
    let mut srv = TestServer::start(300, 3_000).await;
    let server = srv.workspace("w1").store.clone();
    let (t, engine) = client(&srv, 20, 50).await;

    // The first page alone.
    let Pulled::SnapshotPage(first) = engine
        .backend()
        .pull_paged(Seq(0).into(), None, 1000, 20)
        .await
        .unwrap()
    else {
        panic!("not a snapshot page")
    };
    assert_eq!(first.snapshot.chats.len(), 20);
    assert!(first.next.is_some() && !first.fresh);
    t.store
        .apply_snapshot_page(&first.snapshot, SnapshotPart::First, first.next.as_deref())
        .unwrap();
    assert_eq!(
        ids(&t.store, 20),
        ids(&server, 20),
        "the inbox's first screen"
    );
    assert_eq!(
        ids(&t.store, u32::MAX).len(),
        20,
        "only the first page is held"
    );
    assert_eq!(t.store.snapshot_next().unwrap(), first.next);
    assert_eq!(t.store.last_seq().unwrap(), first.snapshot.seq);

    // The workspace moves on before the other pages are read.
    activity(&mut srv, 400);
    // The rest of the pages (the server moving on between them), the
    // catch-up: one call, as the engine runs it.
    let pages = tokio::spawn({
        let engine = engine.clone();
        async move { engine.catch_up().await }
    });
    activity(&mut srv, 200);
    pages.await.unwrap().unwrap();
    let head = srv.head("w1");
    engine.catch_up().await.unwrap();
    assert!(t.store.last_seq().unwrap() >= head);
    assert_eq!(t.store.snapshot_next().unwrap(), None);
    assert_same(&t.store, &server);
}

/// Issue 18: a client too far behind the head (the server's threshold,
/// lowered here) gets a fresh paged snapshot instead of the events, and
/// keeps its unsent command (E7), its echo and its mute (H2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_far_behind_client_takes_a_fresh_paged_snapshot_keeping_its_outbox_and_mutes() {
    let mut srv = TestServer::start(120, 1_000).await;
    let server = srv.workspace("w1").store.clone();
    let (t, engine) = client(&srv, 20, 40).await;
    engine.catch_up().await.unwrap();
    assert_same(&t.store, &server);

    srv.server
        .state
        .far_behind_events
        .store(100, std::sync::atomic::Ordering::Relaxed);
    activity(&mut srv, 500);
    // Local state: a mute, and an unsent reply with its echo in a chat
    // whose subscriber just wrote (the newest: in the fresh snapshot's
    // first page).
    let chat = ChatId(ids(&t.store, 100).remove(50));
    srv.subscriber_writes(chat.as_str(), "m-sub-late");
    let muted = ChatId(ids(&t.store, 100).pop().unwrap());
    t.store.set_muted(&muted, true).unwrap();
    let echo = rapport_core::outbox::echo(
        MessageId::from("m-unsent-1"),
        &chat,
        rapport_core::generate::me(),
        Content::Text {
            text: "on its way".into(),
        },
        srv.server.state.hub.now(),
    );
    let action = Action::SendText {
        chat_id: chat.clone(),
        text: "on its way".into(),
        message_id: Some(echo.id.clone()),
    };
    t.store
        .enqueue(
            &action,
            "k-unsent-1",
            Some(&echo),
            srv.server.state.hub.now(),
        )
        .unwrap();
    let behind = srv.head("w1").0 - t.store.last_seq().unwrap().0;
    assert!(behind >= 100, "{behind} events behind");

    let mut state = engine.state();
    let saw_snapshot = tokio::spawn(async move {
        state
            .wait_for(|s| matches!(s, SyncState::Snapshot))
            .await
            .is_ok()
    });
    engine.catch_up().await.unwrap();
    assert!(
        saw_snapshot.await.unwrap(),
        "a fresh snapshot, not a replay"
    );
    assert!(t.store.last_seq().unwrap() >= srv.head("w1"));
    // The server's state (the echo aside: it is the client's own).
    assert_eq!(t.store.unsent_commands().unwrap(), 1, "the outbox is kept");
    assert!(t.store.push_state(&muted).unwrap().1, "the mute is kept");
    let msgs = t.store.messages_before(&chat, None, u32::MAX).unwrap().0;
    assert!(
        msgs.iter()
            .any(|m| m.id == echo.id && m.delivery == Some(Delivery::Pending)),
        "the echo is kept"
    );
    // Once sent, the server's copy takes the echo's place: the same state.
    srv.server.state.far_behind_events.store(
        rapport_core::wire::FAR_BEHIND_EVENTS,
        std::sync::atomic::Ordering::Relaxed,
    );
    let entry = t.store.outbox().unwrap().remove(0);
    engine
        .backend()
        .run(&entry.action, &entry.key)
        .await
        .unwrap();
    t.store.outbox_sent(entry.id).unwrap();
    engine.catch_up().await.unwrap();
    assert_same(&t.store, &server);
}
