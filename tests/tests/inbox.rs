//! The inbox and timeline queries (A1–A7, B1, B10) and apply's guarantees,
//! on a real SQLite file, checked against brute force over the whole store.

use rapport_core::generate::{GenConfig, me};
use rapport_core::model::*;
use rapport_core::store::{AssigneeFilter, ChatFilter, StatusFilter, StoreError, TimelineItem};
use rapport_tests::{Events, TempStore};

/// Every chat, brute force: walk the unfiltered list in one page.
fn everything(t: &TempStore) -> Vec<ChatSummary> {
    t.store
        .chat_page(&ChatFilter::default(), None, u32::MAX)
        .unwrap()
        .rows
}

fn brute(all: &[ChatSummary], f: &ChatFilter) -> Vec<String> {
    let me = me();
    all.iter()
        .filter(|s| f.app.is_none_or(|a| s.chat.app == a))
        .filter(|s| f.kind.is_none_or(|k| s.chat.kind == k))
        .filter(|s| match f.assignee {
            AssigneeFilter::All => true,
            AssigneeFilter::Mine => s.chat.assignee.as_ref() == Some(&me),
            AssigneeFilter::Unassigned => s.chat.assignee.is_none(),
        })
        .filter(|s| f.status.matches(s.status))
        .map(|s| s.chat.id.0.clone())
        .collect()
}

#[test]
fn a1_list_is_newest_first_and_pages_cover_every_chat_once() {
    let t = TempStore::generated(GenConfig::new(700, 6_000));
    let all = everything(&t);
    assert_eq!(all.len(), 700);
    for w in all.windows(2) {
        assert!(w[0].chat.last_activity >= w[1].chat.last_activity);
    }
    let paged = t.all_ids(&ChatFilter::default(), 7);
    let ids: Vec<String> = all.iter().map(|s| s.chat.id.0.clone()).collect();
    assert_eq!(paged, ids);
}

#[test]
fn a2_a3_a4_a5_every_filter_combination_matches_brute_force_with_counts() {
    let t = TempStore::generated(GenConfig::new(900, 8_000));
    let all = everything(&t);
    for f in ChatFilter::combinations() {
        assert_eq!(t.all_ids(&f, 13), brute(&all, &f), "{f:?}");
        let counts = t.store.status_counts(&f).unwrap();
        let with = |status| {
            brute(
                &all,
                &ChatFilter {
                    status,
                    ..f.clone()
                },
            )
            .len() as u64
        };
        assert_eq!(counts.open, with(StatusFilter::Open), "{f:?}");
        assert_eq!(counts.unread, with(StatusFilter::Unread), "{f:?}");
        assert_eq!(counts.closed, with(StatusFilter::Closed), "{f:?}");
        assert_eq!(counts.all, with(StatusFilter::All), "{f:?}");
    }
}

#[test]
fn a2_every_row_tells_its_app() {
    let t = TempStore::generated(GenConfig::new(200, 1_000));
    for app in App::ALL {
        let f = ChatFilter {
            app: Some(app),
            ..Default::default()
        };
        let page = t.store.chat_page(&f, None, 500).unwrap();
        assert!(!page.rows.is_empty());
        assert!(page.rows.iter().all(|r| r.chat.app == app));
    }
}

fn search(t: &TempStore, q: &str) -> Vec<String> {
    let f = ChatFilter {
        search: Some(q.into()),
        ..Default::default()
    };
    t.all_ids(&f, 50)
}

#[test]
fn a6_search_is_case_and_accent_insensitive_by_word_prefix() {
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("c1", App::Telegram, "José Álvarez"),
        e.chat("c2", App::Viber, "Йосиф Ёлкин"),
        e.chat("c3", App::Whatsapp, "Άλκηστις Παπαδοπούλου 🌵"),
        e.chat("c4", App::Instagram, "👩‍💻🔥"),
        e.chat("c5", App::Livechat, "Joselito Alvarado"),
        e.chat("c6", App::Messenger, "محمد العلي"),
    ]);
    assert_eq!(search(&t, "jose"), ["c5", "c1"]);
    assert_eq!(search(&t, "ÁLV"), ["c5", "c1"]);
    assert_eq!(search(&t, "alvarez"), ["c1"]);
    assert_eq!(search(&t, "jose alvarez"), ["c1"]);
    assert_eq!(search(&t, "  Álvarez,  José! "), ["c1"]);
    assert_eq!(
        search(&t, "varez"),
        Vec::<String>::new(),
        "word prefix, not infix"
    );
    assert_eq!(search(&t, "ЁЛК"), ["c2"]);
    assert_eq!(search(&t, "елкин"), ["c2"]);
    assert_eq!(search(&t, "αλκ"), ["c3"]);
    assert_eq!(search(&t, "ΠΑΠΑΔΟΠΟΥΛΟΥ"), ["c3"]);
    assert_eq!(search(&t, "مُحَمَّد"), ["c6"]);
    assert_eq!(
        search(&t, "🌵"),
        search(&t, ""),
        "emoji alone search nothing special"
    );
    assert_eq!(search(&t, "").len(), 6);
}

#[test]
fn a6_search_matches_brute_force_on_sparse_and_dense_paths() {
    // Enough chats that one letter matches more than the sparse limit.
    let t = TempStore::generated(GenConfig::new(6_000, 8_000));
    let all = everything(&t);
    for q in [
        "a", "m", "и", "γ", "jo", "ál", "kow", "gonç", "παπα", "zzzq", "a m",
    ] {
        let words = rapport_core::store::fold::words(q);
        let want: Vec<String> = all
            .iter()
            .filter(|s| {
                let name = rapport_core::store::fold::words(&s.chat.title);
                words
                    .iter()
                    .all(|w| name.iter().any(|n| n.starts_with(w.as_str())))
            })
            .map(|s| s.chat.id.0.clone())
            .collect();
        assert_eq!(search(&t, q), want, "{q}");
    }
    // Search combines with the other filters.
    let f = ChatFilter {
        search: Some("a".into()),
        app: Some(App::Viber),
        status: StatusFilter::Unread,
        ..Default::default()
    };
    let got = t.all_ids(&f, 20);
    assert!(!got.is_empty());
    for id in got {
        let s = all.iter().find(|s| s.chat.id.0 == id).unwrap();
        assert_eq!(s.chat.app, App::Viber);
        assert_eq!(s.status, ChatStatus::Unread);
    }
}

#[test]
fn a7_home_shows_latest_message_of_each_chat_with_status() {
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("c1", App::Telegram, "Ana"),
        e.chat("c2", App::Viber, "Bo"),
        e.chat("c3", App::Viber, "No messages yet"),
        e.inbound("c1", "m1", "first"),
        e.inbound("c2", "m2", "second"),
        e.inbound("c1", "m3", "third"),
    ]);
    let home = t.store.home(10).unwrap();
    let rows: Vec<(&str, &str, ChatStatus)> = home
        .iter()
        .map(|s| {
            let p = s.preview.as_ref().unwrap();
            (s.chat.id.as_str(), p.text.as_str(), s.status)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("c1", "third", ChatStatus::Unread),
            ("c2", "second", ChatStatus::Unread)
        ]
    );
}

#[test]
fn b1_timeline_pages_backwards_through_messages_and_notes() {
    let t = TempStore::new();
    let mut e = Events::default();
    let mut evs = vec![e.chat("c1", App::Telegram, "Ana")];
    for i in 0..230 {
        evs.push(e.inbound("c1", &format!("m{i}"), "hi"));
        if i % 10 == 0 {
            let at = Timestamp(e.now);
            evs.push(e.ev(EventPayload::NoteUpserted(Note {
                id: NoteId(format!("n{i}")),
                chat_id: ChatId::from("c1"),
                author: me(),
                text: "note 📝".into(),
                created_at: at,
                edited_at: None,
            })));
        }
    }
    t.apply(&evs);
    let mut seen: Vec<String> = Vec::new();
    let mut before = None;
    loop {
        let page = t
            .store
            .timeline_page(&ChatId::from("c1"), before, 40)
            .unwrap();
        let mut ids: Vec<String> = page
            .items
            .iter()
            .map(|i| match i {
                TimelineItem::Message(m) => m.id.0.clone(),
                TimelineItem::Note(n) => n.id.0.clone(),
            })
            .collect();
        ids.extend(seen);
        seen = ids;
        match page.older {
            Some(c) => before = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 230 + 23);
    let mut want = Vec::new();
    for i in 0..230 {
        want.push(format!("m{i}"));
        if i % 10 == 0 {
            want.push(format!("n{i}"));
        }
    }
    assert_eq!(seen, want);
}

#[test]
fn b10_unread_counts_follow_subscriber_messages_and_reads() {
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("c1", App::Whatsapp, "Ana"),
        e.inbound("c1", "m1", "a"),
        e.inbound("c1", "m2", "b"),
        e.message("c1", "m3", Sender::Bot, "auto"),
        e.message("c1", "m4", Sender::Member(me()), "manual"),
    ]);
    let c1 = ChatId::from("c1");
    assert_eq!(t.store.unread_count(&c1).unwrap(), 2);
    assert_eq!(
        t.store.chat(&c1).unwrap().unwrap().status,
        ChatStatus::Unread
    );
    t.apply(&[e.ev(EventPayload::ChatRead {
        chat_id: c1.clone(),
    })]);
    assert_eq!(t.store.unread_count(&c1).unwrap(), 0);
    assert_eq!(t.store.chat(&c1).unwrap().unwrap().status, ChatStatus::Open);
    // History fetched on demand is never unread.
    let old = rapport_tests::message("c1", "m0", Sender::Subscriber, "old", Timestamp(1));
    t.store.store_history(&c1, &[old]).unwrap();
    assert_eq!(t.store.unread_count(&c1).unwrap(), 0);
    let s = t.store.chat(&c1).unwrap().unwrap();
    assert_eq!(s.preview.unwrap().message_id, MessageId::from("m4"));
    assert!(matches!(
        t.store.unread_count(&ChatId::from("nope")),
        Err(StoreError::UnknownChat)
    ));
}

#[test]
fn s2_applying_the_same_events_twice_changes_nothing() {
    let t = TempStore::new();
    let mut e = Events::default();
    let batch = vec![
        e.chat("c1", App::Telegram, "Ana"),
        e.inbound("c1", "m1", "a"),
        e.inbound("c1", "m2", "b"),
    ];
    let first = t.store.apply(&batch).unwrap();
    assert_eq!(first.applied, 3);
    assert_eq!(first.last_seq, Some(Seq(3)));
    let again = t.store.apply(&batch).unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(again.duplicates, 3);
    // Out of order and duplicated within a batch: applied once, in order.
    let more = [e.inbound("c1", "m3", "c"), e.inbound("c1", "m4", "d")];
    let shuffled = [more[1].clone(), more[0].clone(), more[1].clone()];
    let ch = t.store.apply(&shuffled).unwrap();
    assert_eq!((ch.applied, ch.duplicates), (2, 1));
    assert_eq!(t.store.unread_count(&ChatId::from("c1")).unwrap(), 4);
    assert_eq!(t.store.last_seq().unwrap(), Seq(5));
}

#[test]
fn b5_ticks_only_move_forward_and_b7_b8_update_in_place() {
    let t = TempStore::new();
    let mut e = Events::default();
    let c1 = ChatId::from("c1");
    let m = MessageId::from("m1");
    t.apply(&[
        e.chat("c1", App::Telegram, "Ana"),
        e.message("c1", "m1", Sender::Bot, "see you"),
        e.ev(EventPayload::MessageDelivery {
            chat_id: c1.clone(),
            message_id: m.clone(),
            delivery: Delivery::Read,
        }),
        e.ev(EventPayload::MessageDelivery {
            chat_id: c1.clone(),
            message_id: m.clone(),
            delivery: Delivery::Delivered,
        }),
        e.ev(EventPayload::ReactionsChanged {
            chat_id: c1.clone(),
            message_id: m.clone(),
            reactions: vec![Reaction {
                emoji: "❤️".into(),
                by: ReactionBy::Subscriber,
            }],
        }),
        e.ev(EventPayload::MessageEdited {
            chat_id: c1.clone(),
            message_id: m.clone(),
            text: "see you tomorrow".into(),
        }),
    ]);
    let page = t.store.timeline_page(&c1, None, 10).unwrap();
    let TimelineItem::Message(msg) = &page.items[0] else {
        panic!("a message")
    };
    assert_eq!(msg.delivery, Some(Delivery::Read));
    assert_eq!(msg.reactions.len(), 1);
    assert_eq!(
        msg.content,
        Content::Text {
            text: "see you tomorrow".into()
        }
    );
    assert!(msg.edited_at.is_some());
    let preview = t.store.chat(&c1).unwrap().unwrap().preview.unwrap();
    assert_eq!(preview.text, "see you tomorrow");
    // B8: deleting the latest message moves the preview to the one before.
    t.apply(&[
        e.inbound("c1", "m2", "thanks"),
        e.ev(EventPayload::MessageDeleted {
            chat_id: c1.clone(),
            message_id: MessageId::from("m2"),
        }),
    ]);
    let preview = t.store.chat(&c1).unwrap().unwrap().preview.unwrap();
    assert_eq!(preview.message_id, m);
    let page = t.store.timeline_page(&c1, None, 10).unwrap();
    let TimelineItem::Message(tomb) = &page.items[1] else {
        panic!("a message")
    };
    assert!(tomb.deleted_at.is_some(), "the history keeps a tombstone");
}

#[test]
fn s2_unknown_events_are_kept_and_orphans_replayed_when_their_chat_arrives() {
    let t = TempStore::new();
    let mut e = Events::default();
    let unknown = e.ev(EventPayload::Unknown {
        type_name: "poll_created".into(),
        data: serde_json::json!({"q": "?"}),
    });
    let early = e.inbound("c9", "m1", "hello before the chat");
    let ch = t.store.apply(&[unknown, early]).unwrap();
    assert_eq!(ch.kept, 2);
    assert_eq!(t.store.kept_events().unwrap(), 2);
    t.apply(&[e.chat("c9", App::Viber, "Late chat")]);
    assert_eq!(t.store.kept_events().unwrap(), 1, "the unknown type stays");
    let c9 = ChatId::from("c9");
    assert_eq!(t.store.timeline_page(&c9, None, 10).unwrap().items.len(), 1);
    // The chat record is newer than the kept message and says what is
    // unread (here nothing): the replay does not count the message again.
    assert_eq!(t.store.unread_count(&c9).unwrap(), 0);
}

#[test]
fn f1_subscriber_rename_updates_the_chat_row_and_search() {
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[e.chat("c1", App::Telegram, "Ana")]);
    let sub = Subscriber {
        id: SubscriberId::from("s-c1"),
        bot_id: BotId::from("b1"),
        app: App::Telegram,
        name: "Beatriz Núñez".into(),
        username: Some("bea".into()),
        avatar_url: None,
        email: Some("bea@example.com".into()),
        phone: None,
        status: SubscriptionStatus::Active,
        subscribed_at: Timestamp(1),
        last_activity_at: None,
        group: None,
        instagram: None,
        ad_source: None,
        variables: Default::default(),
        tags: vec!["vip".into()],
        active_flow: None,
        crm_contact: None,
    };
    t.apply(&[e.ev(EventPayload::SubscriberUpserted(sub.clone()))]);
    assert_eq!(t.store.subscriber(&sub.id).unwrap(), Some(sub));
    assert_eq!(search(&t, "nun"), ["c1"]);
    assert!(search(&t, "ana").is_empty());
}

#[test]
fn s1_a_row_the_code_cannot_decode_is_a_typed_error_and_rebuild_recovers() {
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("c1", App::Telegram, "Ana"),
        e.inbound("c1", "m1", "hi"),
    ]);
    let path = t.path();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("UPDATE chats SET app = 42", []).unwrap();
        c.execute(
            "UPDATE messages SET content = '{\"kind\":\"hologram\"}'",
            [],
        )
        .unwrap();
    }
    let err = t
        .store
        .chat_page(&ChatFilter::default(), None, 10)
        .unwrap_err();
    match &err {
        StoreError::Decode { table, column, .. } => {
            assert_eq!((*table, *column), ("chats", "app"));
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(err.needs_rebuild());
    let err = t
        .store
        .timeline_page(&ChatId::from("c1"), None, 10)
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Decode {
            table: "messages",
            column: "content",
            ..
        }
    ));
    // Nothing was dropped: the rows are still there for a later version.
    let c = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM chats", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    drop(c);
    drop(t.store);
    let fresh = rapport_core::Store::rebuild(&path).unwrap();
    assert_eq!(fresh.last_seq().unwrap(), Seq(0));
    assert!(
        fresh
            .chat_page(&ChatFilter::default(), None, 10)
            .unwrap()
            .rows
            .is_empty()
    );
}

#[test]
fn s2_replayed_orphans_do_not_undo_the_newer_chat_record() {
    let t = TempStore::new();
    let mut e = Events::default();
    // Events about c9 arrive before c9 itself...
    let early = [
        e.inbound("c9", "m1", "first"),
        e.ev(EventPayload::ChatAssigned {
            chat_id: ChatId::from("c9"),
            assignee: Some(MemberId::from("u5")),
        }),
    ];
    t.apply(&early);
    // ...then the record, which already counts m1 and has no assignee.
    let mut rec = match e.chat("c9", App::Viber, "Late") {
        Event {
            payload: EventPayload::ChatUpserted(c),
            ..
        } => c,
        _ => unreachable!(),
    };
    rec.unread_count = 1;
    rec.assignee = None;
    t.apply(&[e.ev(EventPayload::ChatUpserted(rec))]);
    let c9 = t.store.chat(&ChatId::from("c9")).unwrap().unwrap();
    assert_eq!(c9.chat.unread_count, 1, "m1 is counted once");
    assert_eq!(c9.chat.assignee, None, "the older assignment does not win");
    assert_eq!(c9.preview.unwrap().message_id, MessageId::from("m1"));
    assert_eq!(t.store.kept_events().unwrap(), 0);
}

#[test]
fn s2_a_snapshot_message_of_an_unknown_chat_is_kept_not_fatal() {
    let t = TempStore::new();
    let snap = Snapshot {
        seq: Seq(10),
        messages: vec![
            rapport_tests::message("ghost", "g1", Sender::Subscriber, "boo", Timestamp(5)),
            rapport_tests::message("ghost", "g2", Sender::Subscriber, "boo", Timestamp(6)),
        ],
        ..Default::default()
    };
    t.store.apply_snapshot(&snap).unwrap();
    assert_eq!(t.store.last_seq().unwrap(), Seq(10));
    assert_eq!(
        t.store.kept_events().unwrap(),
        2,
        "both kept, neither overwrites the other"
    );
}

#[test]
fn b8_editing_an_attachment_changes_its_caption_and_deletion_moves_the_preview() {
    let t = TempStore::new();
    let mut e = Events::default();
    let c1 = ChatId::from("c1");
    let mut m = rapport_tests::message("c1", "f1", Sender::Bot, "", Timestamp(e.now + 5_000));
    m.content = Content::Attachment(Attachment {
        name: "menu.pdf".into(),
        size_bytes: 1_000,
        mime: "application/pdf".into(),
        media: MediaKind::File,
        url: Some("https://t.example/f1".into()),
        caption: None,
    });
    t.apply(&[
        e.chat("c1", App::Telegram, "Ana"),
        e.inbound("c1", "m0", "menu?"),
        e.ev(EventPayload::MessageUpserted(m.clone())),
    ]);
    t.apply(&[e.ev(EventPayload::MessageEdited {
        chat_id: c1.clone(),
        message_id: m.id.clone(),
        text: "Today's menu".into(),
    })]);
    let page = t.store.timeline_page(&c1, None, 10).unwrap();
    let TimelineItem::Message(edited) = page.items.last().unwrap() else {
        panic!()
    };
    match &edited.content {
        Content::Attachment(a) => {
            assert_eq!(a.name, "menu.pdf");
            assert_eq!(a.caption.as_deref(), Some("Today's menu"));
        }
        other => panic!("the attachment was lost: {other:?}"),
    }
    // The message comes again, deleted: the preview moves off it.
    let mut gone = edited.clone();
    gone.deleted_at = Some(Timestamp(e.now));
    t.apply(&[e.ev(EventPayload::MessageUpserted(gone))]);
    let preview = t.store.chat(&c1).unwrap().unwrap().preview.unwrap();
    assert_eq!(preview.message_id, MessageId::from("m0"));
}
