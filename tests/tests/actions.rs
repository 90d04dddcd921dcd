//! Every agent action through `Backend::run` against the reference server,
//! then synced back into the client's store.

use rapport_core::model::*;
use rapport_core::policy::window::MessageTag;
use rapport_core::store::TimelineItem;
use rapport_core::sync::{Action, Backend, PauseAction, RapportBackend, SyncEngine};
use rapport_core::timers::ServerClock;
use rapport_core::wire::SubscriberEdit;
use rapport_tests::{PASSWORD, TempStore, TestServer};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_every_action_a8_b7_b8_b10_c1_d1_e3_f5_f6_f8_g1_g3_runs_once_per_key_and_syncs_back() {
    let srv = TestServer::start(20, 100).await;
    let now = rapport_server::hub::now();
    srv.action_chats();
    let t = TempStore::new();
    let backend =
        Arc::new(RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap());
    backend.login("u0@w1.test", PASSWORD).await.unwrap();
    let engine = SyncEngine::new(t.store.clone(), backend.clone());
    let (tg, wa, fb) = (ChatId::from("tg"), ChatId::from("wa"), ChatId::from("fb"));

    // Idempotency: the same key twice is one message.
    let send = Action::SendText {
        chat_id: tg.clone(),
        text: "On it 👍".into(),
        message_id: None,
    };
    let head = srv.head("w1");
    let a = backend.run(&send, "key-send").await.unwrap();
    let b = backend.run(&send, "key-send").await.unwrap();
    assert_eq!(a, b);
    assert_eq!(srv.head("w1").0, head.0 + 2, "one message and its pause");

    let mut n = 0;
    let mut run = |action: Action| {
        n += 1;
        let key = format!("key-{n}");
        let backend = backend.clone();
        async move { backend.run(&action, &key).await.unwrap() }
    };
    run(Action::SendTemplate {
        chat_id: wa.clone(),
        name: "order_update".into(),
        message_id: None,
    })
    .await;
    run(Action::SendTagged {
        chat_id: fb.clone(),
        tag: MessageTag::HumanAgent,
        text: "Sorry for the wait".into(),
        message_id: None,
    })
    .await;
    run(Action::MarkRead {
        chat_id: tg.clone(),
    })
    .await;
    run(Action::Close {
        chat_id: wa.clone(),
    })
    .await;
    run(Action::Open {
        chat_id: wa.clone(),
    })
    .await;
    run(Action::Close {
        chat_id: fb.clone(),
    })
    .await;
    run(Action::Assign {
        chat_id: tg.clone(),
        member_id: Some(MemberId::from("u1")),
    })
    .await;
    run(Action::Pause {
        chat_id: tg.clone(),
        action: PauseAction::Start,
    })
    .await;
    run(Action::Pause {
        chat_id: tg.clone(),
        action: PauseAction::Extend,
    })
    .await;
    run(Action::Pause {
        chat_id: wa.clone(),
        action: PauseAction::Continue,
    })
    .await;
    run(Action::EditMessage {
        chat_id: tg.clone(),
        message_id: MessageId::from("bot-1"),
        text: "hello again".into(),
    })
    .await;
    run(Action::React {
        chat_id: tg.clone(),
        message_id: MessageId::from("sub-1"),
        emoji: Some("❤️".into()),
    })
    .await;
    let note = run(Action::AddNote {
        chat_id: tg.clone(),
        text: "Wants a refund 📞".into(),
    })
    .await;
    let note_id = NoteId(note["note"]["id"].as_str().unwrap().to_owned());
    run(Action::EditNote {
        chat_id: tg.clone(),
        note_id: note_id.clone(),
        text: "Refund done ✅".into(),
    })
    .await;
    let gone = run(Action::AddNote {
        chat_id: tg.clone(),
        text: "typo".into(),
    })
    .await;
    run(Action::DeleteNote {
        chat_id: tg.clone(),
        note_id: NoteId(gone["note"]["id"].as_str().unwrap().to_owned()),
    })
    .await;
    run(Action::DeleteMessage {
        chat_id: tg.clone(),
        message_id: MessageId::from("bot-1"),
    })
    .await;
    run(Action::EditSubscriber {
        subscriber_id: SubscriberId::from("s1"),
        edit: SubscriberEdit {
            variables: [("city".to_owned(), "Lisboa".to_owned())].into(),
            add_tags: vec!["vip".into()],
            flow_id: Some("flow-1".into()),
            crm_contact: Some(CrmContact {
                first_name: "Ana".into(),
                last_name: "Núñez".into(),
                phone: None,
            }),
            ..Default::default()
        },
    })
    .await;
    let deal = run(Action::AddDeal {
        subscriber_id: SubscriberId::from("s1"),
        pipeline: Named {
            id: "p1".into(),
            name: "Sales".into(),
        },
        stage: Named {
            id: "st1".into(),
            name: "New".into(),
        },
        name: "Autumn order".into(),
        amount_minor: 12_500,
        currency: "EUR".into(),
    })
    .await;
    let deal_id = DealId(deal["deal"]["id"].as_str().unwrap().to_owned());
    run(Action::EditDeal {
        deal_id: deal_id.clone(),
        stage: Some(Named {
            id: "st2".into(),
            name: "Won".into(),
        }),
        name: None,
        amount_minor: Some(13_000),
    })
    .await;
    run(Action::EditSubscriber {
        subscriber_id: SubscriberId::from("s1"),
        edit: SubscriberEdit {
            disable: true,
            ..Default::default()
        },
    })
    .await;

    // Everything comes back through the feed.
    engine.catch_up().await.unwrap();
    let s = &t.store;
    let tg_row = s.chat(&tg).unwrap().unwrap().chat;
    assert_eq!(tg_row.assignee, Some(MemberId::from("u1")));
    assert_eq!(tg_row.unread_count, 0);
    assert!(
        tg_row.paused_until.unwrap().0 > now.0 + 119 * 60_000,
        "started, then +60"
    );
    assert_eq!(
        s.chat(&wa).unwrap().unwrap().chat.paused_until,
        None,
        "continue autoflows"
    );
    assert_eq!(s.chat(&fb).unwrap().unwrap().status, ChatStatus::Closed);
    let items = s.timeline_page(&tg, None, 50).unwrap().items;
    let notes: Vec<&Note> = items
        .iter()
        .filter_map(|i| {
            if let TimelineItem::Note(n) = i {
                Some(n)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].text, "Refund done ✅");
    let msg = |id: &str| {
        items
            .iter()
            .find_map(|i| match i {
                TimelineItem::Message(m) if m.id.as_str() == id => Some(m.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert!(msg("bot-1").deleted_at.is_some() && msg("bot-1").edited_at.is_some());
    assert_eq!(msg("sub-1").reactions[0].emoji, "❤️");
    let card = s.subscriber(&SubscriberId::from("s1")).unwrap().unwrap();
    assert_eq!(card.variables["city"], "Lisboa");
    assert!(card.tags.contains(&"vip".to_owned()));
    assert_eq!(card.active_flow.unwrap().name, "Order status");
    assert_eq!(card.crm_contact.unwrap().last_name, "Núñez");
    assert_eq!(card.status, SubscriptionStatus::Disabled);
    let deals = s.deals(&SubscriberId::from("s1")).unwrap();
    assert_eq!(
        (deals[0].stage.name.as_str(), deals[0].amount_minor),
        ("Won", 13_000)
    );
}
