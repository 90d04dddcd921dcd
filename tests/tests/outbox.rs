//! E7: the outbox. Echo first, then the server's confirmation in place;
//! refusals typed and kept; a day offline queues; and a client killed (-9)
//! at random moments during 200 sends, with faults on, delivers each
//! exactly once and in order per chat.

use rapport_core::model::*;
use rapport_core::observe::ListDiff;
use rapport_core::outbox::Draft;
use rapport_core::outbox::OutboxState;
use rapport_core::policy::Refusal;
use rapport_core::store::TimelineItem;
use rapport_core::sync::Action;
use rapport_core::{Client, ClientError};
use rapport_tests::{TestServer, texts_with_prefix, wait_until};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Waits until the client has the chat's window open (its subscriber's
/// message of [`TestServer::open_chats`] arrived).
fn wait_open(c: &Client, chat: &ChatId) {
    wait_until("the open window", 20, || {
        c.chat(chat)
            .unwrap()
            .unwrap()
            .chat
            .last_inbound_at
            .is_some_and(|t| t.0 > rapport_server::hub::now().0 - 60_000)
    });
}

fn client(srv: &TestServer, dir: &std::path::Path, rt: &tokio::runtime::Runtime) -> Client {
    let c = srv.client(dir, rt, "u0@w1.test");
    srv.sync(&c);
    c
}

#[test]
fn e7_echo_then_confirmation_refusals_typed_and_kept() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&srv, dir.path(), &rt);
    let chat = ChatId::from("c1");
    wait_open(&c, &chat);

    let seen: Arc<Mutex<Vec<Vec<ListDiff<TimelineItem>>>>> = Arc::default();
    let s2 = seen.clone();
    let _sub = c
        .subscribe_timeline(chat.clone(), 10, move |d| s2.lock().unwrap().push(d))
        .unwrap();
    let id = c.send(&chat, Draft::Text("On it 👍"), None).unwrap();
    // The echo is there at once, pending.
    {
        let calls = seen.lock().unwrap();
        let echo = calls[1..].iter().flatten().find_map(|d| match d {
            ListDiff::Insert {
                value: TimelineItem::Message(m),
                ..
            } if m.id == id => Some(m.clone()),
            _ => None,
        });
        assert_eq!(
            echo.expect("an echo insert").delivery,
            Some(Delivery::Pending)
        );
    }
    // Then the server's copy replaces it in place: one message, sent.
    wait_until("the confirmation", 20, || {
        c.timeline_page(&chat, None, 20).unwrap().items.iter().any(|i| matches!(i, TimelineItem::Message(m) if m.id == id && m.delivery == Some(Delivery::Sent)))
    });
    let copies = c
        .timeline_page(&chat, None, 50)
        .unwrap()
        .items
        .iter()
        .filter(|i| matches!(i, TimelineItem::Message(m) if m.id == id))
        .count();
    assert_eq!(copies, 1);
    assert_eq!(c.unsent_commands().unwrap(), 0);
    // No flicker back to pending after the confirmation.
    let calls = seen.lock().unwrap();
    let states: Vec<Option<Delivery>> = calls
        .iter()
        .flatten()
        .filter_map(|d| match d {
            ListDiff::Insert {
                value: TimelineItem::Message(m),
                ..
            }
            | ListDiff::Set {
                value: TimelineItem::Message(m),
                ..
            } if m.id == id => Some(m.delivery),
            _ => None,
        })
        .collect();
    let first_sent = states
        .iter()
        .position(|d| *d == Some(Delivery::Sent))
        .unwrap();
    assert!(
        states[first_sent..]
            .iter()
            .all(|d| *d != Some(Delivery::Pending)),
        "{states:?}"
    );
    drop(calls);

    // Refused by the rules: typed, nothing queued.
    match c.send(&chat, Draft::Text(&"a".repeat(513)), None) {
        Err(ClientError::Refused(r)) => assert_eq!(r.code(), "text_too_long"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.unsent_commands().unwrap(), 0);
    // The core refuses what it can check (B8 is Telegram's)...
    assert!(matches!(
        c.run_action(Action::DeleteMessage {
            chat_id: chat.clone(),
            message_id: id.clone(),
        }),
        Err(ClientError::Refused(Refusal::NotSupported { .. }))
    ));
    // ...the server the rest: kept, failed with its code, until discarded.
    c.run_action(Action::DeleteNote {
        chat_id: chat.clone(),
        note_id: NoteId::from("no-such-note"),
    })
    .unwrap();
    wait_until("the refusal", 20, || {
        c.outbox()
            .unwrap()
            .iter()
            .any(|e| matches!(&e.state, OutboxState::Failed { code, .. } if code == "not_found"))
    });
    let failed = c.outbox().unwrap().remove(0);
    // While it waits for the agent, the chat's later commands wait behind
    // it (order per chat), other chats' do not.
    let held = c
        .send(&chat, Draft::Text("after the refusal"), None)
        .unwrap();
    let other = c
        .send(&ChatId::from("c2"), Draft::Text("elsewhere"), None)
        .unwrap();
    let sent = |id: &MessageId, chat: &str| {
        c.timeline_page(&ChatId::from(chat), None, 50).unwrap().items.iter().any(|i| matches!(i, TimelineItem::Message(m) if &m.id == id && m.delivery != Some(Delivery::Pending)))
    };
    wait_until("the other chat's send", 20, || sent(&other, "c2"));
    assert!(!sent(&held, "c1"), "held behind the failed command");
    assert!(matches!(
        c.send(&chat, Draft::Text("x"), Some("bad key!")),
        Err(ClientError::InvalidKey)
    ));
    c.retry(failed.id).unwrap();
    wait_until("failed again", 20, || {
        c.outbox()
            .unwrap()
            .iter()
            .any(|e| e.attempts >= 2 && matches!(e.state, OutboxState::Failed { .. }))
    });
    c.discard(failed.id).unwrap();
    wait_until("the held send", 20, || sent(&held, "c1"));
    wait_until("an empty outbox", 20, || c.unsent_commands().unwrap() == 0);
}

#[test]
fn e7_offline_sends_queue_and_go_out_when_the_network_returns() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&srv, dir.path(), &rt);
    wait_open(&c, &ChatId::from("c3"));
    // The network is down: every request fails.
    srv.server.state.faults.fail_next(1_000_000);
    for i in 0..50 {
        c.send(
            &ChatId(format!("c{}", 1 + i % 3)),
            Draft::Text(&format!("offline-{i}")),
            None,
        )
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.unsent_commands().unwrap(), 50, "all kept while offline");
    srv.server.state.faults.clear();
    wait_until("the queue drained", 60, || {
        c.unsent_commands().unwrap() == 0
    });
    let w1 = srv.workspace("w1");
    for i in 1..=3 {
        let texts = texts_with_prefix(&w1.store, &format!("c{i}"), "offline-");
        let want: Vec<String> = (0..50)
            .filter(|k| 1 + k % 3 == i)
            .map(|k| format!("offline-{k}"))
            .collect();
        assert_eq!(texts, want, "c{i}: once each, in order");
    }
}

#[test]
fn e7_a_client_killed_at_random_during_200_sends_delivers_each_exactly_once_in_order() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let n = 200;
    let faults = &srv.server.state.faults;
    faults.set_latency_ms(2);
    let mut kills = 0;
    let mut rng = fastrand::Rng::with_seed(7);
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        assert!(Instant::now() < deadline, "never finished");
        faults.fail_next(rng.u32(0..4));
        faults.drop_next(rng.u32(0..3));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_outbox_child"))
            .args([srv.url(), dir.path().display().to_string(), n.to_string()])
            .spawn()
            .unwrap();
        if kills < 8 {
            std::thread::sleep(Duration::from_millis(rng.u64(150..700)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "the child failed: {status}");
        break;
    }
    assert!(kills >= 3, "killed {kills} times");
    let w1 = srv.workspace("w1");
    for i in 1..=3 {
        let texts = texts_with_prefix(&w1.store, &format!("c{i}"), "kill-");
        let want: Vec<String> = (0..n)
            .filter(|k| 1 + k % 3 == i)
            .map(|k| format!("kill-{k}"))
            .collect();
        assert_eq!(
            texts, want,
            "c{i}: each exactly once, in order ({kills} kills)"
        );
    }
}

/// Issue 16, hole 1: a 200 whose body is a captive portal's HTML (the
/// command never arrived) or a proxy's (the command ran, its answer was
/// replaced) is not a delivery. The outbox keeps the command and retries it
/// with its key: each reply reaches the server exactly once, and its echo
/// does not stay pending.
#[test]
fn e7_a_200_with_an_html_body_is_retried_with_its_key_and_delivered_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&srv, dir.path(), &rt);
    let chat = ChatId::from("c1");
    wait_open(&c, &chat);
    let faults = &srv.server.state.faults;
    let w1 = srv.workspace("w1");
    for (i, inject) in [
        rapport_server::faults::Faults::portal_next as fn(&_, u32),
        rapport_server::faults::Faults::mangle_next,
    ]
    .into_iter()
    .enumerate()
    {
        // The live stream is up, so the send is the next request (and its
        // first retries, should the backoff be short).
        inject(faults, 3);
        let text = format!("behind-a-portal-{i}");
        let id = c.send(&chat, Draft::Text(&text), None).unwrap();
        wait_until("the reply on the server", 60, || {
            texts_with_prefix(&w1.store, "c1", &text).len() == 1
        });
        wait_until("the queue drained", 60, || {
            c.unsent_commands().unwrap() == 0
        });
        faults.clear();
        assert_eq!(
            texts_with_prefix(&w1.store, "c1", &text),
            vec![text.clone()],
            "exactly once"
        );
        wait_until("the echo confirmed", 30, || {
            c.timeline_page(&chat, None, 50)
                .unwrap()
                .items
                .iter()
                .any(|i| {
                    matches!(i, TimelineItem::Message(m)
                    if m.id == id && m.delivery == Some(Delivery::Sent))
                })
        });
    }
}

/// Issue 16, hole 6: the server panicking on a reply's request answers 500;
/// the outbox retries with the same key and the reply arrives exactly once.
#[test]
fn e7_a_server_panic_on_a_reply_is_retried_and_the_reply_arrives_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&srv, dir.path(), &rt);
    let chat = ChatId::from("c2");
    wait_open(&c, &chat);
    srv.server.state.faults.panic_next(2);
    c.send(&chat, Draft::Text("after-a-panic"), None).unwrap();
    wait_until("the queue drained", 60, || {
        c.unsent_commands().unwrap() == 0
    });
    let w1 = srv.workspace("w1");
    assert_eq!(
        texts_with_prefix(&w1.store, "c2", "after-a-panic"),
        vec!["after-a-panic".to_owned()]
    );
}

/// Issue 16, hole 8: a command whose stored row cannot be decoded (a
/// corrupt or foreign `action`) is set aside with its reason, its echo
/// failed; it blocks neither its chat's later commands nor other chats'.
#[test]
fn e7_an_undecodable_outbox_row_is_set_aside_and_the_queue_goes_on() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&srv, dir.path(), &rt);
    wait_open(&c, &ChatId::from("c2"));
    c.stop_sync();
    let (c1, c2) = (ChatId::from("c1"), ChatId::from("c2"));
    let bad = c.send(&c1, Draft::Text("rot-0"), None).unwrap();
    c.send(&c1, Draft::Text("rot-1"), None).unwrap();
    c.send(&c2, Draft::Text("rot-2"), None).unwrap();
    {
        let db = rusqlite::Connection::open(dir.path().join("rapport.db")).unwrap();
        let n = db
            .execute(
                "UPDATE outbox SET action = '{\"type\":\"from_a_later_version\"}'
                 WHERE echo_id = ?1",
                [bad.as_str()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    // The running outbox meets the bad row first (nothing listed it yet).
    c.start_sync().unwrap();
    wait_until("the queue drained", 60, || {
        c.unsent_commands().unwrap() == 0
    });
    assert!(c.outbox().unwrap().is_empty(), "the bad row is not listed");
    let w1 = srv.workspace("w1");
    assert_eq!(texts_with_prefix(&w1.store, "c1", "rot-"), vec!["rot-1"]);
    assert_eq!(texts_with_prefix(&w1.store, "c2", "rot-"), vec!["rot-2"]);
    let echo = c
        .timeline_item(&c1, &rapport_core::store::TimelineItemId::Message(bad))
        .unwrap();
    assert!(
        matches!(echo, Some(TimelineItem::Message(m)) if m.delivery == Some(Delivery::Failed)),
        "the bad command's echo shows failed"
    );
    // Kept for diagnosis, not lost.
    let db = rusqlite::Connection::open(dir.path().join("rapport.db")).unwrap();
    let (state, code): (String, String) = db
        .query_row(
            "SELECT state, error_code FROM outbox WHERE echo_id IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), code.as_str()), ("corrupt", "corrupt"));
}

/// Issue 16, hole 8: rebuilding a broken store keeps its outbox. Replies
/// queued offline (a file among them) survive `Store::rebuild`, and go out
/// once each, in order, after the fresh snapshot.
#[test]
fn e7_s1_a_rebuilt_store_keeps_its_unsent_commands_and_sends_each_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rapport.db");
    let picture = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR rebuilt".to_vec();
    {
        let c = client(&srv, dir.path(), &rt);
        wait_open(&c, &ChatId::from("c3"));
        c.stop_sync();
        for i in 0..4 {
            c.send(&ChatId::from("c3"), Draft::Text(&format!("kept-{i}")), None)
                .unwrap();
        }
        c.send(
            &ChatId::from("c3"),
            Draft::File {
                name: "kept.png",
                bytes: &picture,
                caption: None,
            },
            None,
        )
        .unwrap();
        assert_eq!(c.unsent_commands().unwrap(), 5);
    }
    // The store breaks: a row this version cannot read.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE chats SET app = 42", [])
        .unwrap();
    let fresh = rapport_core::Store::rebuild(&path).unwrap();
    assert_eq!(fresh.last_seq().unwrap(), Seq(0), "rebuilt from nothing");
    assert_eq!(fresh.unsent_commands().unwrap(), 5, "the outbox kept");
    drop(fresh);

    let c = client(&srv, dir.path(), &rt);
    wait_until("the queue drained", 60, || {
        c.unsent_commands().unwrap() == 0
    });
    let w1 = srv.workspace("w1");
    let want: Vec<String> = (0..4).map(|i| format!("kept-{i}")).collect();
    assert_eq!(texts_with_prefix(&w1.store, "c3", "kept-"), want);
    let files = w1
        .store
        .timeline_page(&ChatId::from("c3"), None, 100)
        .unwrap()
        .items
        .into_iter()
        .filter(|i| {
            matches!(i, TimelineItem::Message(m)
                if matches!(&m.content, Content::Attachment(a) if a.name == "kept.png"))
        })
        .count();
    assert_eq!(files, 1, "the file went up once");
}

/// The texts of a chat's messages starting with `prefix`, as the client's
/// store has them (oldest first).
fn client_texts(c: &Client, chat: &str, prefix: &str) -> Vec<String> {
    c.timeline_page(&ChatId::from(chat), None, 1_000)
        .unwrap()
        .items
        .into_iter()
        .filter_map(|i| match i {
            TimelineItem::Message(m) => match m.content {
                Content::Text { text } if text.starts_with(prefix) => Some(text),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Issue 16 hole 7 (S2/E7): the server crashed and lost its log's tail
/// after the client applied it, so the client's seq is ahead of the head.
/// The feed answers it a fresh snapshot; the client replaces its store with
/// it, keeping its queued reply (and the reply's echo), which then arrives
/// exactly once; the store equals the server's state and a chat list
/// subscription shows it.
#[test]
fn s2_e7_a_seq_ahead_of_the_servers_head_resyncs_from_a_snapshot_keeping_the_outbox() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&srv, dir.path(), &rt);
    let kept_head = srv.head("w1");
    // Events the client applies and the server then loses.
    let now = rapport_server::hub::now();
    let lost: Vec<EventPayload> = (0..3)
        .map(|i| {
            EventPayload::MessageUpserted(rapport_tests::message(
                "c1",
                &format!("lost-{i}"),
                Sender::Subscriber,
                &format!("lost-{i}"),
                now,
            ))
        })
        .collect();
    srv.server
        .state
        .hub
        .emit(&srv.workspace("w1"), lost)
        .unwrap();
    let ahead = srv.head("w1");
    wait_until("the client applied the tail", 30, || {
        c.last_seq().unwrap() >= ahead
    });
    assert_eq!(client_texts(&c, "c1", "lost-").len(), 3);
    // A reply queued while the server is down.
    c.stop_sync();
    c.send(&ChatId::from("c3"), Draft::Text("resync-reply"), None)
        .unwrap();
    assert_eq!(c.unsent_commands().unwrap(), 1);
    drop(c);

    // The server crashes and loses its log's tail, then starts again on
    // the same file (its store is rebuilt from the log).
    let TestServer {
        server, dir: sdir, ..
    } = srv;
    drop(server);
    let db = sdir.path().join("server.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM events WHERE seq > ?1", [kept_head.0 as i64])
        .unwrap();
    let server = rt
        .block_on(rapport_server::start(rapport_server::ServerConfig {
            db,
            listen: "127.0.0.1:0".parse().unwrap(),
            heartbeat_ms: 300,
            clock: None,
        }))
        .unwrap();
    let srv = TestServer {
        server,
        dir: sdir,
        generator: None,
    };
    assert_eq!(srv.head("w1"), kept_head, "the log lost its tail");
    assert!(ahead > kept_head);

    let c = srv.client(dir.path(), &rt, "u0@w1.test");
    assert_eq!(c.last_seq().unwrap(), ahead, "the client is ahead");
    let list: Arc<Mutex<Vec<ChatSummary>>> = Arc::default();
    let sub = c
        .subscribe_chat_list(rapport_core::store::ChatFilter::default(), 100, {
            let list = list.clone();
            move |diffs| {
                let mut l = list.lock().unwrap();
                for d in diffs {
                    // A diff that does not fit leaves the list wrong, which
                    // the comparison below catches.
                    d.apply(&mut l);
                }
            }
        })
        .unwrap();
    c.start_sync().unwrap();
    wait_until("the queued reply sent", 60, || {
        c.unsent_commands().unwrap() == 0
    });
    let head = srv.head("w1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.last_seq().unwrap() != head {
        assert!(
            Instant::now() < deadline,
            "the client at {:?}, the server's head {head:?} (was {kept_head:?}, the client {ahead:?}): {:?}",
            c.last_seq(),
            *c.sync_state().borrow()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let w1 = srv.workspace("w1");
    assert_eq!(
        texts_with_prefix(&w1.store, "c3", "resync-"),
        vec!["resync-reply".to_owned()],
        "the reply arrived once"
    );
    assert_eq!(
        client_texts(&c, "c3", "resync-"),
        vec!["resync-reply".to_owned()],
        "the client shows it once"
    );
    assert!(
        client_texts(&c, "c1", "lost-").is_empty(),
        "the lost tail is gone"
    );
    let all = |page: rapport_core::store::ChatPage| page.rows;
    let server_rows = all(w1
        .store
        .chat_page(&rapport_core::store::ChatFilter::default(), None, u32::MAX)
        .unwrap());
    let client_rows = all(c
        .chat_page(&rapport_core::store::ChatFilter::default(), None, u32::MAX)
        .unwrap());
    assert_eq!(
        client_rows, server_rows,
        "the client's chats are the server's"
    );
    wait_until("the subscription shows the server's chats", 10, || {
        *list.lock().unwrap() == server_rows
    });
    drop(sub);
}
