//! H1-H4 and D2 end to end: the server decides who hears about what and
//! records what FCM, APNs, mail and the notifications bot would have been
//! given; the core decodes those pushes; and H3's short-lived process
//! replies from a notification while the app holds the same database, is
//! killed at random moments, or finds the network down, and each reply
//! reaches the server exactly once.

use rapport_core::client::ClientError;
use rapport_core::model::*;
use rapport_core::outbox::Draft;
use rapport_core::push::{
    self, DeviceRegistration, NotificationClient, NotificationError, NotificationSettings,
    PushKind, PushPayload, PushPlatform, Suppressed,
};
use rapport_core::session::{FileSecretStore, SecretStore};
use rapport_core::store::TimelineItemId;
use rapport_core::timers::ManualClock;
use rapport_server::notify;
use rapport_tests::{TestServer, wait_until};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The pushes recorded for a member, decoded as the device would.
fn pushes(srv: &TestServer, member: &str) -> Vec<(String, PushPayload)> {
    notify::sent(&srv.server.state.hub, "w1", member)
        .unwrap()
        .into_iter()
        .filter(|(channel, _)| channel == "fcm" || channel == "apns")
        .map(|(channel, body)| {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            // What the platform hands the app: FCM's data map, APNs' payload.
            let delivered = if channel == "fcm" {
                v["message"]["data"].to_string()
            } else {
                v["payload"].to_string()
            };
            (channel, push::decode(&delivered).unwrap())
        })
        .collect()
}

fn sent(srv: &TestServer, member: &str, channel: &str) -> Vec<String> {
    notify::sent(&srv.server.state.hub, "w1", member)
        .unwrap()
        .into_iter()
        .filter(|(c, _)| c == channel)
        .map(|(_, b)| b)
        .collect()
}

fn assign(srv: &TestServer, chat: &str, member: Option<&str>) {
    srv.server
        .state
        .hub
        .emit(
            &srv.workspace("w1"),
            vec![EventPayload::ChatAssigned {
                chat_id: ChatId::from(chat),
                assignee: member.map(MemberId::from),
            }],
        )
        .unwrap();
}

#[test]
fn h2_h4_d2_pushes_go_to_the_right_members_devices_as_their_settings_say() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    let (d0, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let u0 = srv.client(d0.path(), &rt, "u0@w1.test");
    let u1 = srv.client(d1.path(), &rt, "u1@w1.test");
    rt.block_on(u0.register_device(DeviceRegistration {
        device_id: "pixel".into(),
        platform: PushPlatform::Fcm,
        token: "fcm-token-0".into(),
    }))
    .unwrap();
    rt.block_on(u1.register_device(DeviceRegistration {
        device_id: "iphone".into(),
        platform: PushPlatform::Apns,
        token: "apns-token-1".into(),
    }))
    .unwrap();
    // H4: u1 hides previews on the lock screen; settings read back.
    let private = NotificationSettings {
        push_preview: false,
        notifications_bot: true,
        ..NotificationSettings::default()
    };
    assert_eq!(
        rt.block_on(u1.set_notification_settings(private)).unwrap(),
        private
    );
    assert_eq!(rt.block_on(u1.notification_settings()).unwrap(), private);
    assert_eq!(
        rt.block_on(u0.notification_settings()).unwrap(),
        NotificationSettings::default()
    );

    // An unassigned chat: every member with conversations hears of it.
    assign(&srv, "c1", None);
    srv.subscriber_writes("c1", "p-1");
    let (p0, p1) = (pushes(&srv, "u0"), pushes(&srv, "u1"));
    assert_eq!(p0.len(), 1);
    assert_eq!(p0[0].0, "fcm");
    assert_eq!(
        (
            p0[0].1.chat_id.as_str(),
            p0[0].1.message_id.as_str(),
            p0[0].1.kind
        ),
        ("c1", "p-1", PushKind::NewMessage)
    );
    assert_eq!(p0[0].1.preview.as_deref(), Some("help"));
    assert_eq!(p1[0].0, "apns");
    assert_eq!(p1[0].1.preview, None, "u1's lock screen shows no text");
    assert_eq!(sent(&srv, "u1", "bot").len(), 1, "u1 also uses the bot");
    assert!(pushes(&srv, "u3").is_empty(), "the viewer has no access");

    // Assigned to u1: only u1.
    assign(&srv, "c2", Some("u1"));
    srv.subscriber_writes("c2", "p-2");
    assert_eq!(pushes(&srv, "u0").len(), 1);
    assert_eq!(pushes(&srv, "u1").len(), 2);

    // The agent's own reply notifies nobody; nor do bot messages.
    wait_until("u0 has c1", 20, || {
        srv.sync(&u0);
        true
    });
    u0.send(&ChatId::from("c1"), Draft::Text("On it"), None)
        .unwrap();
    wait_until("the reply", 20, || u0.unsent_commands().unwrap() == 0);
    assert_eq!(pushes(&srv, "u0").len(), 1);
    assert_eq!(pushes(&srv, "u1").len(), 2);

    // D2: the subscriber reaches "open chat" in u1's chat.
    srv.server
        .state
        .hub
        .emit(
            &srv.workspace("w1"),
            vec![EventPayload::ChatStateChanged {
                chat_id: ChatId::from("c2"),
                state: ChatState::Open,
            }],
        )
        .unwrap();
    let last = pushes(&srv, "u1").pop().unwrap().1;
    assert_eq!(
        (last.kind, last.chat_id.as_str()),
        (PushKind::ChatOpened, "c2")
    );
    assert_eq!(pushes(&srv, "u0").len(), 1, "D2 is for the assignee only");

    // H4: push off, and after unregistering nothing reaches the device.
    rt.block_on(u0.set_notification_settings(NotificationSettings {
        push: false,
        ..NotificationSettings::default()
    }))
    .unwrap();
    srv.subscriber_writes("c1", "p-3");
    assert_eq!(pushes(&srv, "u0").len(), 1);
    rt.block_on(u1.unregister_device("iphone")).unwrap();
    srv.subscriber_writes("c1", "p-4");
    assert_eq!(pushes(&srv, "u1").len(), 4, "p-3 reached u1, p-4 did not");
}

#[test]
fn h1_an_email_about_the_latest_open_chat_at_most_once_an_hour() {
    let rt = rapport_tests::runtime();
    let clock = Arc::new(ManualClock::new(rapport_server::hub::now()));
    let srv = rt.block_on(TestServer::start_with_clock(10, 40, Some(clock.clone())));
    let emails = |m: &str| sent(&srv, m, "email");
    // The seeded history already emailed: start a new hour, with nothing
    // waiting.
    clock.advance_ms(3_600_000);
    notify::flush_emails(&srv.server.state.hub, "w1").unwrap();
    clock.advance_ms(3_600_000);
    let before = emails("u0").len();
    assign(&srv, "c1", Some("u0"));
    assign(&srv, "c2", Some("u0"));
    srv.subscriber_writes("c1", "e-1");
    let first = emails("u0");
    assert_eq!(first.len(), before + 1, "the first goes at once");
    clock.advance_ms(10 * 60_000);
    srv.subscriber_writes("c1", "e-2");
    clock.advance_ms(10 * 60_000);
    srv.subscriber_writes("c2", "e-3");
    assert_eq!(emails("u0").len(), before + 1, "not twice within the hour");
    // The hour is up: one email, about the latest open chat.
    clock.advance_ms(40 * 60_000 - 1);
    notify::flush_emails(&srv.server.state.hub, "w1").unwrap();
    assert_eq!(emails("u0").len(), before + 1, "a millisecond early");
    clock.advance_ms(1);
    assert_eq!(
        notify::flush_emails(&srv.server.state.hub, "w1").unwrap(),
        1
    );
    let latest: serde_json::Value = serde_json::from_str(emails("u0").last().unwrap()).unwrap();
    assert_eq!(latest["chat_id"], "c2");
    assert_eq!(latest["last_message"], "help");
    // H4: email off, nothing more.
    let dir = tempfile::tempdir().unwrap();
    let u0 = srv.client(dir.path(), &rt, "u0@w1.test");
    rt.block_on(u0.set_notification_settings(NotificationSettings {
        email: false,
        ..NotificationSettings::default()
    }))
    .unwrap();
    clock.advance_ms(2 * 3_600_000);
    srv.subscriber_writes("c1", "e-4");
    notify::flush_emails(&srv.server.state.hub, "w1").unwrap();
    assert_eq!(emails("u0").len(), before + 2);
}

/// A push for `chat` as FCM's data map, as the server would send it.
fn push_for(srv: &TestServer, chat: &str) -> String {
    let c = srv
        .workspace("w1")
        .store
        .chat(&ChatId::from(chat))
        .unwrap()
        .unwrap();
    let p = PushPayload {
        v: push::VERSION,
        kind: PushKind::NewMessage,
        workspace_id: "w1".into(),
        chat_id: c.chat.id.clone(),
        message_id: MessageId::from("p"),
        seq: srv.head("w1"),
        sent_at: rapport_server::hub::now(),
        title: c.chat.title,
        preview: None,
    };
    push::envelope(PushPlatform::Fcm, "t", &p)["message"]["data"].to_string()
}

fn child(dir: &Path, url: &str, payload: &str, text: &str, key: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_push_reply_child"));
    cmd.args([dir.to_str().unwrap(), url, payload, text, key])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Runs the notification process to its end: whether it succeeded, and
/// what it printed.
fn reply_in_child(
    srv: &TestServer,
    dir: &Path,
    chat: &str,
    text: &str,
    key: &str,
) -> (bool, serde_json::Value) {
    let out = child(dir, &srv.url(), &push_for(srv, chat), text, key)
        .output()
        .unwrap();
    let said = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.success(), said)
}

fn server_texts(srv: &TestServer, chat: &str, text: &str) -> usize {
    rapport_tests::texts_with_prefix(&srv.workspace("w1").store, chat, text)
        .iter()
        .filter(|t| *t == text)
        .count()
}

#[test]
fn h3_a_reply_from_another_process_while_the_app_runs_arrives_once_and_reads_the_chat() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "r-1");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    assert!(
        app.chat(&ChatId::from("c1"))
            .unwrap()
            .unwrap()
            .chat
            .unread_count
            > 0
    );
    // The app keeps syncing and sending while the notification process
    // writes to the same file.
    let (ok, said) = reply_in_child(
        &srv,
        dir.path(),
        "c1",
        "Replied from the lock screen",
        "lock-1",
    );
    assert!(ok, "{said}");
    assert_eq!(said["delivered"], true);
    assert_eq!(server_texts(&srv, "c1", "Replied from the lock screen"), 1);
    let on_server = srv
        .workspace("w1")
        .store
        .chat(&ChatId::from("c1"))
        .unwrap()
        .unwrap();
    assert_eq!(on_server.chat.unread_count, 0, "marked read");
    // The app sees the reply and the read through its feed.
    wait_until("the app sees it", 20, || {
        let c = app.chat(&ChatId::from("c1")).unwrap().unwrap();
        c.chat.unread_count == 0
            && app
                .timeline_item(
                    &ChatId::from("c1"),
                    &TimelineItemId::Message(MessageId::from("m-lock-1")),
                )
                .unwrap()
                .is_some()
    });
    assert_eq!(app.unsent_commands().unwrap(), 0);
    // The same tap delivered twice is one reply.
    let (again, _) = reply_in_child(
        &srv,
        dir.path(),
        "c1",
        "Replied from the lock screen",
        "lock-1",
    );
    assert!(again);
    assert_eq!(server_texts(&srv, "c1", "Replied from the lock screen"), 1);
}

#[test]
fn h3_a_reply_killed_at_any_moment_arrives_exactly_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "k-0");
    let dir = tempfile::tempdir().unwrap();
    drop(srv.client(dir.path(), &rt, "u0@w1.test"));
    // Slow answers widen every window a kill can land in.
    srv.server.state.faults.set_latency_ms(25);
    let mut rng = fastrand::Rng::with_seed(11);
    let payload = push_for(&srv, "c1");
    // The kills are spread over one whole run of the process as long as it
    // takes on this machine now (a loaded machine starts processes slowly:
    // fixed delays would then all land before the reply is stored).
    let started = std::time::Instant::now();
    let out = child(dir.path(), &srv.url(), &payload, "whole run", "kill-whole")
        .output()
        .unwrap();
    assert!(out.status.success());
    let whole = started.elapsed().as_millis() as u64;
    let mut queued = 0;
    for i in 0..12 {
        let text = format!("killed reply {i}");
        let mut proc = child(
            dir.path(),
            &srv.url(),
            &payload,
            &text,
            &format!("kill-{i}"),
        )
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(0..=whole)));
        let _ = proc.kill();
        let _ = proc.wait();
        // Whatever reached the store is the app's to finish.
        let store = rapport_core::Store::open(dir.path().join("rapport.db")).unwrap();
        let stored = store.outbox_entry(&format!("kill-{i}")).unwrap().is_some()
            || server_texts(&srv, "c1", &text) == 1;
        queued += usize::from(stored);
        drop(store);
        let app = srv.client(dir.path(), &rt, "u0@w1.test");
        app.start_sync().unwrap();
        wait_until("the app's outbox", 30, || {
            app.unsent_commands().unwrap() == 0
        });
        drop(app);
        assert_eq!(
            server_texts(&srv, "c1", &text),
            usize::from(stored),
            "reply {i}: once if it was stored, never if not"
        );
    }
    assert!(
        queued >= 3,
        "only {queued} of 12 kills came after the reply was stored"
    );
}

#[test]
fn h3_offline_the_reply_waits_for_the_app_and_bad_pushes_are_typed_errors() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "o-1");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    // The app keeps syncing: once the server answers again, its outbox
    // picks up what the notification process queued, with no restart.
    srv.server.state.faults.fail_next(1_000);
    let (ok, said) = reply_in_child(&srv, dir.path(), "c1", "Sent offline", "off-1");
    assert!(ok, "{said}");
    assert_eq!(said["delivered"], false);
    assert_eq!(app.unsent_commands().unwrap(), 2, "the reply and the read");
    srv.server.state.faults.clear();
    app.app_resumed();
    wait_until("the app sends them", 30, || {
        app.unsent_commands().unwrap() == 0
    });
    assert_eq!(server_texts(&srv, "c1", "Sent offline"), 1);

    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    let nc = NotificationClient::open(&dir.path().join("rapport.db"), &srv.url(), secrets).unwrap();
    for bad in [
        "",
        "not json",
        "{}",
        r#"{"rapport": "{\"v\": 1}"}"#,
        r#"{"rapport": {"v": 99}}"#,
    ] {
        assert!(
            matches!(nc.reply(bad, "x", "bad-1"), Err(NotificationError::Push(_))),
            "{bad}"
        );
    }
    let mut other: serde_json::Value = serde_json::from_str(&push_for(&srv, "c1")).unwrap();
    let inner = other["rapport"]
        .as_str()
        .unwrap()
        .replace("\"w1\"", "\"w2\"");
    other["rapport"] = inner.into();
    assert!(matches!(
        nc.reply(&other.to_string(), "x", "bad-2"),
        Err(NotificationError::OtherWorkspace)
    ));
    assert!(matches!(
        nc.reply(&push_for(&srv, "c1"), &"a".repeat(600), "bad-3"),
        Err(NotificationError::Refused(_))
    ));
    assert!(matches!(
        nc.reply(&push_for(&srv, "c1"), "x", "no spaces"),
        Err(NotificationError::InvalidKey)
    ));
    assert_eq!(app.unsent_commands().unwrap(), 0, "nothing queued");
    // H2 through the same object: shown once, then already shown.
    let p = push_for(&srv, "c1");
    assert!(matches!(
        nc.show(&p, None).unwrap(),
        push::Decision::Show { .. }
    ));
    assert!(matches!(
        nc.show(&p, None).unwrap(),
        push::Decision::Suppress { .. }
    ));
}

/// H2: a chat the agent muted in the app shows nothing in the notification
/// process (the badge still counts it), other chats still show, and an
/// unmuted chat shows again.
#[test]
fn h2_a_chat_muted_in_the_app_shows_nothing_until_unmuted() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "mute-1");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    let c1 = ChatId::from("c1");
    assert!(!app.is_muted(&c1).unwrap());
    app.set_muted(&c1, true).unwrap();
    app.set_muted(&c1, true).unwrap();
    assert!(app.is_muted(&c1).unwrap());
    assert!(matches!(
        app.set_muted(&ChatId::from("no-such-chat"), true),
        Err(ClientError::UnknownChat)
    ));

    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    let nc = NotificationClient::open(&dir.path().join("rapport.db"), &srv.url(), secrets).unwrap();
    let unread = app.status_counts(&Default::default()).unwrap().unread;
    assert_eq!(
        nc.show(&push_for(&srv, "c1"), None).unwrap(),
        push::Decision::Suppress {
            reason: Suppressed::Muted,
            badge: unread
        }
    );
    assert!(matches!(
        nc.show(&push_for(&srv, "c2"), None).unwrap(),
        push::Decision::Show { .. }
    ));

    app.set_muted(&c1, false).unwrap();
    assert!(!app.is_muted(&c1).unwrap());
    srv.subscriber_writes("c1", "mute-2");
    match nc.show(&push_for(&srv, "c1"), None).unwrap() {
        push::Decision::Show { chat_id, alert, .. } => assert_eq!((chat_id, alert), (c1, true)),
        other => panic!("{other:?}"),
    }
}

/// D2 is the subscriber's "open chat": a member's own A8 reopen, a
/// command, carries its actor through the commit and pushes nobody, while
/// the same change with no actor (the subscriber's) pushes the assignee.
#[test]
fn d2_a_members_own_reopen_pushes_nobody() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    let hub = &srv.server.state.hub;
    let (t0, t1) = (
        hub.issue("w1", "u0").unwrap().session.token,
        hub.issue("w1", "u1").unwrap().session.token,
    );
    rapport_core::sync::install_crypto();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: &str, body: serde_json::Value| {
        let req = http
            .request(method, format!("{}{path}", srv.url()))
            .bearer_auth(token)
            .header("idempotency-key", format!("key-{path}-{token}"))
            .json(&body);
        rt.block_on(async { req.send().await.unwrap().status().as_u16() })
    };
    assert_eq!(
        call(
            reqwest::Method::PUT,
            "/v1/devices",
            &t1,
            serde_json::json!({"device_id": "iphone", "platform": "apns", "token": "apns-1"}),
        ),
        200
    );
    assign(&srv, "c2", Some("u1"));
    let set = |state: ChatState| {
        hub.emit(
            &srv.workspace("w1"),
            vec![EventPayload::ChatStateChanged {
                chat_id: ChatId::from("c2"),
                state,
            }],
        )
        .unwrap();
    };
    let opened = |member: &str| {
        pushes(&srv, member)
            .into_iter()
            .filter(|(_, p)| p.kind == PushKind::ChatOpened)
            .count()
    };
    set(ChatState::Closed);
    // u0 reopens u1's chat: an agent's doing, no D2 for anyone.
    assert_eq!(
        call(
            reqwest::Method::POST,
            "/v1/chats/c2/open",
            &t0,
            serde_json::json!({})
        ),
        200
    );
    assert_eq!(
        srv.workspace("w1")
            .store
            .chat(&ChatId::from("c2"))
            .unwrap()
            .unwrap()
            .chat
            .state,
        ChatState::Open
    );
    assert_eq!((opened("u0"), opened("u1")), (0, 0));
    // The subscriber's reopen (no actor) reaches the assignee.
    set(ChatState::Closed);
    set(ChatState::Open);
    assert_eq!((opened("u0"), opened("u1")), (0, 1));
}

/// A `NotificationClient` on the app's store and session whose server is
/// unreachable (the notification process offline while the app is not).
fn offline_notification_client(srv: &TestServer, dir: &Path) -> NotificationClient {
    let dead = "http://127.0.0.1:9";
    let saved = std::fs::read_to_string(dir.join("secrets.json")).unwrap();
    let copy = dir.join("secrets-offline.json");
    std::fs::write(&copy, saved.replace(&srv.url(), dead)).unwrap();
    let secrets: Arc<dyn SecretStore> = Arc::new(FileSecretStore::new(copy));
    NotificationClient::open(&dir.join("rapport.db"), dead, secrets).unwrap()
}

#[test]
fn h3_a_reply_queued_by_another_process_goes_out_from_the_running_app_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "q-1");
    srv.subscriber_writes("c2", "q-2");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    // Another store handle on the same file: another process, to SQLite.
    let nc = offline_notification_client(&srv, dir.path());
    for (chat, key) in [("c1", "pick-1"), ("c2", "pick-2")] {
        let text = format!("picked up {key}");
        let out = nc.reply(&push_for(&srv, chat), &text, key).unwrap();
        assert!(!out.delivered, "the notification process is offline");
        // No restart, no call on the app: its outbox notices the rows.
        wait_until("the running app sends it", 30, || {
            server_texts(&srv, chat, &text) == 1 && app.unsent_commands().unwrap() == 0
        });
        let on_server = srv
            .workspace("w1")
            .store
            .chat(&ChatId::from(chat))
            .unwrap()
            .unwrap();
        assert_eq!(on_server.chat.unread_count, 0, "and its read");
    }
    // The same tap again is the same reply; nothing goes twice.
    let again = nc
        .reply(&push_for(&srv, "c1"), "picked up pick-1", "pick-1")
        .unwrap();
    assert!(!again.delivered);
    wait_until("the app sends the read again", 30, || {
        app.unsent_commands().unwrap() == 0
    });
    assert_eq!(server_texts(&srv, "c1", "picked up pick-1"), 1);
    assert_eq!(server_texts(&srv, "c2", "picked up pick-2"), 1);
}

#[test]
fn h3_an_async_reply_cancelled_mid_flight_still_arrives_exactly_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "a-1");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    app.stop_sync();
    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    let nc = NotificationClient::open(&dir.path().join("rapport.db"), &srv.url(), secrets).unwrap();
    let p = push_for(&srv, "c1");
    // Not cancelled: delivered, from any executor.
    let out = rt
        .block_on(nc.reply_async(&p, "async reply", "async-1"))
        .unwrap();
    assert!(out.delivered);
    assert_eq!(server_texts(&srv, "c1", "async reply"), 1);

    // A slow server: the caller gives up (the future is dropped) while the
    // reply is on the wire; it stays queued, and the app sends it once.
    srv.server.state.faults.set_latency_ms(400);
    let dropped = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(100),
            nc.reply_async(&p, "dropped reply", "async-2"),
        )
        .await
    });
    assert!(dropped.is_err(), "cut off before the server answered");
    assert!(nc_entry(&dir, "async-2"), "queued before the network call");
    // Swift's explicit cancel: the reply is queued, not delivered.
    let canceller = std::thread::scope(|s| {
        let h = s.spawn(|| rt.block_on(nc.reply_async(&p, "cancelled reply", "async-3")));
        wait_until("queued", 20, || nc_entry(&dir, "async-3"));
        nc.cancel();
        h.join().unwrap()
    });
    assert!(!canceller.unwrap().delivered);
    srv.server.state.faults.clear();
    app.start_sync().unwrap();
    wait_until("the app sends them", 30, || {
        app.unsent_commands().unwrap() == 0
    });
    // The first send may have reached the server before it was cut off:
    // the key makes it one message either way.
    for text in ["dropped reply", "cancelled reply"] {
        wait_until(text, 20, || server_texts(&srv, "c1", text) >= 1);
        assert_eq!(server_texts(&srv, "c1", text), 1, "{text}");
    }
}

#[test]
fn h3_mark_read_from_the_notification_reads_the_chat_on_the_server_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    app.stop_sync();
    let unread = |srv: &TestServer| {
        srv.workspace("w1")
            .store
            .chat(&ChatId::from("c1"))
            .unwrap()
            .unwrap()
            .chat
            .unread_count
    };
    srv.subscriber_writes("c1", "mr-1");
    assert!(unread(&srv) > 0);
    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    let nc = NotificationClient::open(&dir.path().join("rapport.db"), &srv.url(), secrets).unwrap();
    let p = push_for(&srv, "c1");
    assert!(nc.mark_read(&p, "read-1").unwrap(), "delivered");
    assert_eq!(unread(&srv), 0);
    // The same tap again is the same command: nothing new in the feed.
    let head = srv.head("w1");
    assert!(nc.mark_read(&p, "read-1").unwrap());
    assert_eq!(srv.head("w1"), head);

    // Unusable pushes and keys are typed errors; nothing is queued.
    assert!(matches!(
        nc.mark_read("{\"not\": \"ours\"}", "read-x"),
        Err(NotificationError::Push(_))
    ));
    assert!(matches!(
        nc.mark_read(&p, "not a key!"),
        Err(NotificationError::InvalidKey)
    ));
    assert!(!nc_entry(&dir, "read-x"));

    // Offline: queued, and the app sends it when it runs.
    srv.subscriber_writes("c1", "mr-2");
    assert!(unread(&srv) > 0);
    let off = offline_notification_client(&srv, dir.path());
    assert!(!off.mark_read(&push_for(&srv, "c1"), "read-2").unwrap());
    assert!(nc_entry(&dir, "read-2"));
    app.start_sync().unwrap();
    wait_until("the app sends the read", 30, || {
        app.unsent_commands().unwrap() == 0 && unread(&srv) == 0
    });

    // Without blocking a thread.
    srv.subscriber_writes("c1", "mr-3");
    assert!(rt.block_on(nc.mark_read_async(&p, "read-3")).unwrap());
    assert_eq!(unread(&srv), 0);
}

/// Whether the store holds a command with this key, or the server has it.
fn nc_entry(dir: &tempfile::TempDir, key: &str) -> bool {
    let store = rapport_core::Store::open(dir.path().join("rapport.db")).unwrap();
    store.outbox_entry(key).unwrap().is_some()
}

#[test]
fn h2_h3_in_the_apps_process_a_push_goes_through_the_running_client() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "w-1");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    let p = push_for(&srv, "c1");
    // H2 with the same rules as the notification process: once, then not
    // again; nothing for the chat on screen.
    assert!(matches!(
        app.show_push(&p, None).unwrap(),
        push::Decision::Show { .. }
    ));
    assert!(matches!(
        app.show_push(&p, None).unwrap(),
        push::Decision::Suppress {
            reason: Suppressed::AlreadyShown,
            ..
        }
    ));
    srv.subscriber_writes("c2", "w-2");
    assert!(matches!(
        app.show_push(&push_for(&srv, "c2"), Some(&ChatId::from("c2")))
            .unwrap(),
        push::Decision::Suppress {
            reason: Suppressed::Viewing,
            ..
        }
    ));
    // H3 while syncing: queued, and the running outbox sends it.
    let out = rt
        .block_on(app.reply_push(&p, "warm reply", "warm-1"))
        .unwrap();
    assert!(!out.delivered, "queued; the outbox sends it");
    assert_eq!(out.message_id, MessageId::from("m-warm-1"));
    wait_until("sent", 30, || {
        server_texts(&srv, "c1", "warm reply") == 1 && app.unsent_commands().unwrap() == 0
    });
    // Not syncing (the app in the background): sent at once.
    app.stop_sync();
    let out = rt
        .block_on(app.reply_push(&p, "background reply", "warm-2"))
        .unwrap();
    assert!(out.delivered);
    assert_eq!(app.unsent_commands().unwrap(), 0);
    assert_eq!(server_texts(&srv, "c1", "background reply"), 1);
    // The same typed errors as the notification process.
    assert!(matches!(
        rt.block_on(app.reply_push("not json", "x", "warm-3")),
        Err(NotificationError::Push(_))
    ));
    assert!(matches!(
        rt.block_on(app.reply_push(&p, "x", "no spaces")),
        Err(NotificationError::InvalidKey)
    ));
    let on_server = srv
        .workspace("w1")
        .store
        .chat(&ChatId::from("c1"))
        .unwrap()
        .unwrap();
    assert_eq!(on_server.chat.unread_count, 0, "marked read");
}

/// Issue 16, hole 1: behind a captive portal every answer is a 200 HTML
/// page. The notification's reply is not counted as delivered: it and the
/// read stay queued, and the app sends each once when the portal lets go.
#[test]
fn h3_a_reply_answered_by_a_portals_html_stays_queued_and_arrives_once() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.subscriber_writes("c1", "p-1");
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&app);
    app.stop_sync();
    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    let nc = NotificationClient::open(&dir.path().join("rapport.db"), &srv.url(), secrets).unwrap();
    srv.server.state.faults.portal_next(1_000);
    let outcome = nc
        .reply(&push_for(&srv, "c1"), "Behind the portal", "portal-1")
        .unwrap();
    assert!(!outcome.delivered, "an HTML 200 is not a delivery");
    assert_eq!(app.unsent_commands().unwrap(), 2, "the reply and the read");
    assert_eq!(server_texts(&srv, "c1", "Behind the portal"), 0);
    srv.server.state.faults.clear();
    app.start_sync().unwrap();
    wait_until("the app sends them", 30, || {
        app.unsent_commands().unwrap() == 0
    });
    assert_eq!(server_texts(&srv, "c1", "Behind the portal"), 1);
}
