//! The push path as it runs on a phone, end to end against the reference
//! server's push sink: a chat read on one device removes its notification
//! on the others (B10/H2), the app and its notification process share one
//! session through the secret store (S5/H3), and logout stops the pushes
//! (H2/S5).

use rapport_core::model::*;
use rapport_core::push::{
    self, Decision, DeviceRegistration, NotificationClient, PushKind, PushPayload, PushPlatform,
};
use rapport_core::session::{FileSecretStore, SecretStore};
use rapport_core::sync::Action;
use rapport_core::timers::ManualClock;
use rapport_server::notify;
use rapport_tests::{TestServer, wait_until};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What FCM or APNs was given for a member's devices, as the device gets
/// it (FCM's data map, APNs' payload): (token, platform JSON).
fn delivered(srv: &TestServer, member: &str) -> Vec<(String, String)> {
    notify::sent(&srv.server.state.hub, "w1", member)
        .unwrap()
        .into_iter()
        .filter(|(channel, _)| channel == "fcm" || channel == "apns")
        .map(|(channel, body)| {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if channel == "fcm" {
                (
                    v["message"]["token"].as_str().unwrap().to_owned(),
                    v["message"]["data"].to_string(),
                )
            } else {
                (
                    v["token"].as_str().unwrap().to_owned(),
                    v["payload"].to_string(),
                )
            }
        })
        .collect()
}

fn kinds(srv: &TestServer, member: &str, token: &str) -> Vec<PushKind> {
    delivered(srv, member)
        .into_iter()
        .filter(|(t, _)| t == token)
        .map(|(_, json)| push::decode(&json).unwrap().kind)
        .collect()
}

fn register(
    rt: &tokio::runtime::Runtime,
    c: &rapport_core::Client,
    id: &str,
    platform: PushPlatform,
) {
    rt.block_on(c.register_device(DeviceRegistration {
        device_id: id.into(),
        platform,
        token: format!("token-{id}"),
    }))
    .unwrap();
}

fn unassign(srv: &TestServer, chat: &str) {
    srv.server
        .state
        .hub
        .emit(
            &srv.workspace("w1"),
            vec![EventPayload::ChatAssigned {
                chat_id: ChatId::from(chat),
                assignee: None,
            }],
        )
        .unwrap();
}

/// How many emails and bot lines a member was sent.
fn other_channels(srv: &TestServer, member: &str) -> usize {
    notify::sent(&srv.server.state.hub, "w1", member)
        .unwrap()
        .iter()
        .filter(|(c, _)| c == "bot" || c == "email")
        .count()
}

fn notification_client(srv: &TestServer, dir: &Path) -> NotificationClient {
    NotificationClient::open(
        &dir.join("rapport.db"),
        &srv.url(),
        Arc::new(FileSecretStore::new(dir.join("secrets.json"))),
    )
    .unwrap()
}

#[test]
fn b10_h2_a_chat_read_on_one_device_removes_its_notification_on_the_others() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // u0 on a phone and a tablet, u1 on an iPhone.
    let phone = srv.client(dirs[0].path(), &rt, "u0@w1.test");
    let tablet = srv.client(dirs[1].path(), &rt, "u0@w1.test");
    let iphone = srv.client(dirs[2].path(), &rt, "u1@w1.test");
    register(&rt, &phone, "phone", PushPlatform::Fcm);
    register(&rt, &tablet, "tablet", PushPlatform::Fcm);
    register(&rt, &iphone, "iphone", PushPlatform::Apns);
    srv.sync(&tablet);
    tablet.stop_sync();
    // Unassigned: every member with conversations hears of it.
    unassign(&srv, "c1");
    srv.subscriber_writes("c1", "b10-1");
    let message = delivered(&srv, "u0")
        .into_iter()
        .find(|(t, _)| t == "token-tablet")
        .unwrap()
        .1;
    let on_tablet = notification_client(&srv, dirs[1].path());
    assert!(matches!(
        on_tablet.show(&message, None).unwrap(),
        Decision::Show { ref tag, .. } if tag == "chat:c1"
    ));
    // A tap names the chat to open.
    assert_eq!(push::chat_to_open(&message).unwrap(), ChatId::from("c1"));

    // The agent reads the chat on the phone.
    let others = other_channels(&srv, "u1");
    srv.sync(&phone);
    phone
        .run_action(Action::MarkRead {
            chat_id: ChatId::from("c1"),
        })
        .unwrap();
    wait_until("the read's silent pushes", 30, || {
        kinds(&srv, "u0", "token-tablet").contains(&PushKind::ChatRead)
            && kinds(&srv, "u1", "token-iphone").contains(&PushKind::ChatRead)
    });
    // Every device that may hold the notification hears of it, the
    // reader's phone too (it removes nothing there).
    assert_eq!(
        kinds(&srv, "u0", "token-phone"),
        [PushKind::NewMessage, PushKind::ChatRead]
    );
    let read = delivered(&srv, "u0")
        .into_iter()
        .filter(|(t, _)| t == "token-tablet")
        .map(|(_, json)| json)
        .next_back()
        .unwrap();
    let p: PushPayload = push::decode(&read).unwrap();
    assert_eq!(
        (p.kind, p.chat_id.as_str(), p.title.as_str(), p.preview),
        (PushKind::ChatRead, "c1", "", None)
    );
    match on_tablet.show(&read, None).unwrap() {
        Decision::Remove { tag, chat_id, .. } => {
            assert_eq!((tag.as_str(), chat_id.as_str()), ("chat:c1", "c1"))
        }
        other => panic!("{other:?}"),
    }
    // The push twice (platforms redeliver) removes nothing new.
    assert!(matches!(
        on_tablet.show(&read, None).unwrap(),
        Decision::Suppress { .. }
    ));
    // The read sent nothing by mail or by the bot.
    assert_eq!(other_channels(&srv, "u1"), others);
    // APNs is asked for a background push, without an alert.
    let apns: Vec<serde_json::Value> = notify::sent(&srv.server.state.hub, "w1", "u1")
        .unwrap()
        .into_iter()
        .filter(|(c, _)| c == "apns")
        .map(|(_, b)| serde_json::from_str(&b).unwrap())
        .collect();
    let last = apns.last().unwrap();
    assert_eq!(last["headers"]["apns-push-type"], "background");
    assert!(last["payload"]["aps"].get("alert").is_none());
}

#[test]
fn s5_h3_the_app_adopts_the_pair_the_notification_process_refreshed() {
    let rt = rapport_tests::runtime();
    let clock = Arc::new(ManualClock::new(rapport_server::hub::now()));
    let srv = rt.block_on(TestServer::start_with_clock(10, 40, Some(clock.clone())));
    // Access tokens of two minutes: the notification process, woken after
    // they expired, refreshes.
    srv.server
        .state
        .hub
        .token_ttl_ms
        .store(120_000, Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let app = srv.client(dir.path(), &rt, "u0@w1.test");
    let first = app.login_info().unwrap();
    let secrets = FileSecretStore::new(dir.path().join("secrets.json"));
    let stored = || secrets.load("rapport.session").unwrap().unwrap();
    let before = stored();

    clock.advance_ms(121_000);
    unassign(&srv, "c1");
    srv.subscriber_writes("c1", "s5-1");
    let extension = notification_client(&srv, dir.path());
    let push = {
        let c = srv
            .workspace("w1")
            .store
            .chat(&ChatId::from("c1"))
            .unwrap()
            .unwrap();
        let p = PushPayload {
            v: push::VERSION,
            kind: PushKind::NewMessage,
            workspace_id: "w1".into(),
            chat_id: c.chat.id.clone(),
            message_id: MessageId::from("s5-1"),
            seq: srv.head("w1"),
            sent_at: srv.server.state.hub.now(),
            title: c.chat.title,
            preview: None,
        };
        push::envelope(PushPlatform::Fcm, "t", &p)["message"]["data"].to_string()
    };
    let out = extension
        .reply(&push, "From the lock screen", "s5-reply")
        .unwrap();
    assert!(out.delivered, "the notification process refreshed and sent");
    assert_ne!(stored(), before, "it saved the new pair");
    drop(extension);

    // Past the server's grace for the replaced refresh token: the app's
    // old pair is dead, the stored one lives.
    clock.advance_ms(rapport_server::hub::REFRESH_GRACE_MS + 1_000);
    let settings = rt.block_on(app.notification_settings());
    assert!(settings.is_ok(), "{settings:?}");
    let now = app.login_info().unwrap();
    assert!(
        now.expires_at > first.expires_at,
        "the app took the new pair"
    );
    let saved: serde_json::Value = serde_json::from_str(&stored()).unwrap();
    assert_eq!(
        saved["session"]["expires_at"].as_i64(),
        Some(now.expires_at.0),
        "and it is the stored one"
    );
    // The app keeps working on it (sync included).
    srv.sync(&app);
}

#[test]
fn h2_s5_logout_unregisters_the_device_and_its_pushes_stop() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    let (d0, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let u0 = srv.client(d0.path(), &rt, "u0@w1.test");
    let u1 = srv.client(d1.path(), &rt, "u1@w1.test");
    register(&rt, &u0, "pixel", PushPlatform::Fcm);
    register(&rt, &u1, "iphone", PushPlatform::Apns);
    unassign(&srv, "c1");
    srv.subscriber_writes("c1", "lo-1");
    assert_eq!(kinds(&srv, "u0", "token-pixel"), [PushKind::NewMessage]);
    let secrets = FileSecretStore::new(d0.path().join("secrets.json"));
    assert_eq!(
        secrets.load("rapport.device").unwrap().as_deref(),
        Some("pixel")
    );

    rt.block_on(u0.logout()).unwrap();
    assert_eq!(secrets.load("rapport.device").unwrap(), None);
    srv.subscriber_writes("c1", "lo-2");
    // u1 still hears of it; the logged-out device does not.
    assert_eq!(
        kinds(&srv, "u1", "token-iphone"),
        [PushKind::NewMessage, PushKind::NewMessage]
    );
    assert_eq!(kinds(&srv, "u0", "token-pixel"), [PushKind::NewMessage]);
}

/// H2 / S5: a session that ends without the app's logout (revoked, taken
/// as stolen, expired) sends nothing more to the device it registered,
/// while the member's other phone, on a live session, still hears; the
/// pruner then forgets the dead device.
#[test]
fn h2_s5_a_session_ended_on_the_server_stops_its_devices_pushes() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    let (d0, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let phone = srv.client(d0.path(), &rt, "u0@w1.test");
    let tablet = srv.client(d1.path(), &rt, "u0@w1.test");
    register(&rt, &phone, "phone", PushPlatform::Fcm);
    register(&rt, &tablet, "tablet", PushPlatform::Apns);
    unassign(&srv, "c1");
    srv.subscriber_writes("c1", "se-1");
    assert_eq!(kinds(&srv, "u0", "token-phone"), [PushKind::NewMessage]);
    assert_eq!(kinds(&srv, "u0", "token-tablet"), [PushKind::NewMessage]);

    // The phone's session family ends on the server: its refresh token
    // expired (revocation and theft delete the rows, the same for this).
    let hub = &srv.server.state.hub;
    let db = rusqlite::Connection::open(srv.dir.path().join("server.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute(
        "UPDATE sessions SET expires_at = 0, refresh_expires_at = 0 WHERE family =
                 (SELECT family FROM devices WHERE device_id = 'phone')",
        [],
    )
    .unwrap();
    srv.subscriber_writes("c1", "se-2");
    assert_eq!(kinds(&srv, "u0", "token-phone"), [PushKind::NewMessage]);
    assert_eq!(
        kinds(&srv, "u0", "token-tablet"),
        [PushKind::NewMessage, PushKind::NewMessage]
    );
    let pruned = rapport_server::prune::prune(hub).unwrap();
    assert_eq!(pruned.devices, 1);
    let left: Vec<String> = db
        .prepare("SELECT device_id FROM devices WHERE member_id = 'u0'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, ["tablet"]);
    drop((phone, tablet));
}
