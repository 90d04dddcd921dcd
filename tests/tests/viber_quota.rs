//! E6: Viber's bot-initiated messages are tracked per bot per UTC calendar
//! month in the store, from the messages themselves, and feed the decision.

use rapport_core::model::*;
use rapport_core::policy::{Cost, DAY_MS, HOUR_MS, Outgoing, SendContext, decide};
use rapport_tests::{Events, TempStore, message};

#[test]
fn e6_bot_initiated_viber_messages_are_counted_per_month() {
    let t = TempStore::new();
    let mut e = Events::default();
    // 2026-01-30T00:00:00Z: the month ends two days later.
    let t0 = Timestamp(1_769_731_200_000);
    let old_bot = Bot {
        id: BotId::from("b1"),
        app: App::Viber,
        name: "Viber bot".into(),
        created_at: Timestamp(1_700_000_000_000), // before 5 February 2024
    };
    t.apply(&[
        e.ev(EventPayload::BotUpserted(old_bot)),
        e.chat("v1", App::Viber, "Ana"),
    ]);
    let send = |id: &str, sender: Sender, at: i64| {
        EventPayload::MessageUpserted(message("v1", id, sender, "hi", t0.plus_millis(at)))
    };
    let evs: Vec<Event> = [
        send("in", Sender::Subscriber, 0),
        send("reply", Sender::Member(MemberId::from("u0")), HOUR_MS), // in the window: free
        send("nudge", Sender::Bot, DAY_MS + 1),                       // bot-initiated
        send(
            "again",
            Sender::Member(MemberId::from("u0")),
            DAY_MS + 2 * HOUR_MS,
        ),
    ]
    .into_iter()
    .map(|p| e.ev(p))
    .collect();
    t.apply(&evs);
    let q = t
        .store
        .viber_quota(&BotId::from("b1"), t0.plus_millis(DAY_MS + 3 * HOUR_MS))
        .unwrap()
        .unwrap();
    assert!(q.free_quota);
    assert_eq!(q.used_this_month, 2);
    let ctx = SendContext {
        app: App::Viber,
        last_inbound_at: Some(t0),
        now: t0.plus_millis(DAY_MS + 3 * HOUR_MS),
        viber: Some(q),
    };
    match decide(&ctx, &Outgoing::Text("hello again")) {
        rapport_core::policy::Decision::Allowed { cost, .. } => {
            assert_eq!(
                cost,
                Cost::FreeQuota {
                    remaining_after: 9_997
                }
            )
        }
        other => panic!("{other:?}"),
    }
    // In February the count starts again.
    let feb = t0.plus_millis(3 * DAY_MS);
    let q = t
        .store
        .viber_quota(&BotId::from("b1"), feb)
        .unwrap()
        .unwrap();
    assert_eq!(q.used_this_month, 0);
    // A snapshot carries the use to another device.
    let snap = t.store.snapshot(20).unwrap();
    let other = TempStore::new();
    other.store.apply_snapshot(&snap).unwrap();
    let q = other
        .store
        .viber_quota(&BotId::from("b1"), t0.plus_millis(DAY_MS + 3 * HOUR_MS))
        .unwrap()
        .unwrap();
    assert_eq!(q.used_this_month, 2);
}
