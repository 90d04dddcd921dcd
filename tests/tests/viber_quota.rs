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

/// E6 through the client an app holds: the month's use of a Viber chat's
/// bot says "N free left" or "paid", agrees with what the next message
/// costs, and counts down with each bot-initiated message the server
/// confirms.
#[test]
fn e6_the_viber_month_through_the_client_counts_down_with_each_bot_initiated_message() {
    use rapport_core::ClientError;
    use rapport_core::outbox::Draft;
    use rapport_core::policy::viber::ViberMonth;
    use rapport_tests::TestServer;

    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    let now = srv.server.state.hub.now();
    let two_days_ago = now.plus_millis(-2 * DAY_MS);
    // Two Viber chats whose subscribers wrote two days ago (the 24-hour
    // session is over): one of a bot with the free quota, one of a newer bot.
    let chat = |id: &str, bot: &str| {
        EventPayload::ChatUpserted(Chat {
            id: ChatId::from(id),
            bot_id: BotId::from(bot),
            app: App::Viber,
            kind: ChatKind::Personal,
            subscriber_id: SubscriberId::from("s1"),
            title: "Ana".into(),
            avatar_url: None,
            state: ChatState::Open,
            assignee: None,
            last_activity: two_days_ago,
            unread_count: 0,
            last_inbound_at: Some(two_days_ago),
            paused_until: None,
        })
    };
    srv.server
        .state
        .hub
        .emit(
            &srv.workspace("w1"),
            vec![chat("v-free", "b-viber-0"), chat("v-paid", "b-viber-1")],
        )
        .expect("emit");
    let dir = tempfile::tempdir().unwrap();
    let c = srv.client(dir.path(), &rt, "u0@w1.test");
    srv.sync(&c);

    let free = ChatId::from("v-free");
    let Some(ViberMonth::Free { left, used }) = c.viber_month(&free).unwrap() else {
        panic!(
            "b-viber-0 predates 5 February 2024: {:?}",
            c.viber_month(&free)
        );
    };
    assert_eq!(left + used, 10_000);
    assert_eq!(
        c.viber_bot_month(&BotId::from("b-viber-0")).unwrap(),
        Some(ViberMonth::Free { left, used })
    );
    match c.decide(&free, &Outgoing::Text("hello")).unwrap() {
        rapport_core::policy::Decision::Allowed { cost, .. } => assert_eq!(
            cost,
            Cost::FreeQuota {
                remaining_after: left - 1
            }
        ),
        other => panic!("{other:?}"),
    }
    c.send(&free, Draft::Text("hello"), None).unwrap();
    let want = ViberMonth::Free {
        left: left - 1,
        used: used + 1,
    };
    rapport_tests::wait_until("the month to count the reply", 30, || {
        c.viber_month(&free).unwrap() == Some(want) && c.outbox().unwrap().is_empty()
    });
    assert_eq!(c.viber_month(&free).unwrap(), Some(want), "counted once");

    // A bot created after the cutoff pays for each one.
    let paid = c.viber_month(&ChatId::from("v-paid")).unwrap();
    assert!(
        matches!(
            paid,
            Some(ViberMonth::Paid {
                free_quota: false,
                ..
            })
        ),
        "{paid:?}"
    );
    assert_eq!(c.viber_bot_month(&BotId::from("b-viber-1")).unwrap(), paid);
    // Outside Viber there is no month to tell; an unknown chat is an error.
    let telegram = c
        .chat_page(
            &rapport_core::store::ChatFilter {
                app: Some(App::Telegram),
                ..Default::default()
            },
            None,
            1,
        )
        .unwrap()
        .rows;
    assert_eq!(c.viber_month(&telegram[0].chat.id).unwrap(), None);
    assert_eq!(
        c.viber_bot_month(&BotId::from("b-telegram-0")).unwrap(),
        None
    );
    assert!(matches!(
        c.viber_month(&ChatId::from("no-such-chat")),
        Err(ClientError::UnknownChat)
    ));
}
