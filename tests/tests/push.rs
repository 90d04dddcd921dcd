//! H2 with the store: one live notification per chat, bursts batched, the
//! badge from unread chats, a read chat counting afresh, mutes, and only
//! the pushed chat's rows touched.

use rapport_core::model::*;
use rapport_core::push::{self, Decision, PushKind, PushPayload, Suppressed};
use rapport_tests::{Events, TempStore};

fn payload(chat: &str, seq: u64) -> PushPayload {
    PushPayload {
        v: 1,
        kind: PushKind::NewMessage,
        workspace_id: "w1".into(),
        chat_id: ChatId::from(chat),
        message_id: MessageId(format!("m{seq}")),
        seq: Seq(seq),
        sent_at: Timestamp(1),
        title: "Ana".into(),
        preview: Some("hola".into()),
    }
}

#[test]
fn h2_notifications_from_the_store() {
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("c1", App::Telegram, "Ana"),
        e.chat("c2", App::Viber, "Bo"),
        e.inbound("c1", "m1", "hola"),
        e.inbound("c2", "m2", "hi"),
    ]);
    let now = Timestamp(50_000_000);
    let show = |d: Decision| match d {
        Decision::Show {
            count,
            alert,
            badge,
            ..
        } => (count, alert, badge),
        other => panic!("{other:?}"),
    };
    let d = push::handle(&t.store, &payload("c1", 10), "w1", None, now).unwrap();
    assert_eq!(show(d), (1, true, 2), "badge: two unread chats");
    let d = push::handle(
        &t.store,
        &payload("c1", 11),
        "w1",
        None,
        now.plus_millis(1_000),
    )
    .unwrap();
    assert_eq!(show(d), (2, false, 2), "a burst updates silently");
    // The same push again (FCM retries): nothing.
    let d = push::handle(
        &t.store,
        &payload("c1", 11),
        "w1",
        None,
        now.plus_millis(2_000),
    )
    .unwrap();
    assert!(matches!(
        d,
        Decision::Suppress {
            reason: Suppressed::AlreadyShown,
            ..
        }
    ));
    // Read on another device: the next message alerts afresh, counted from one.
    t.apply(&[e.ev(EventPayload::ChatRead {
        chat_id: ChatId::from("c1"),
    })]);
    let d = push::handle(
        &t.store,
        &payload("c1", 12),
        "w1",
        None,
        now.plus_millis(3_000),
    )
    .unwrap();
    assert_eq!(show(d), (1, true, 1));
    // Muted, or on screen: nothing.
    t.store.set_muted(&ChatId::from("c2"), true).unwrap();
    let d = push::handle(&t.store, &payload("c2", 13), "w1", None, now).unwrap();
    assert!(matches!(
        d,
        Decision::Suppress {
            reason: Suppressed::Muted,
            ..
        }
    ));
    t.store.set_muted(&ChatId::from("c2"), false).unwrap();
    let d = push::handle(
        &t.store,
        &payload("c2", 14),
        "w1",
        Some(&ChatId::from("c2")),
        now,
    )
    .unwrap();
    assert!(matches!(
        d,
        Decision::Suppress {
            reason: Suppressed::Viewing,
            ..
        }
    ));
    let d = push::handle(&t.store, &payload("c2", 15), "w1", None, now).unwrap();
    assert_eq!(show(d), (1, true, 1));
}
