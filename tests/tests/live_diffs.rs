//! S3: a window plus the diffs it receives always equals a fresh query.
//!
//! Random sequences of server events (new chats and messages, reads, state
//! changes, assignments, renames, edits, deletions, notes), applied in
//! random batches; after every batch the listener's copy of each window is
//! compared with the same query made fresh.

use proptest::prelude::*;
use rapport_core::generate::me;
use rapport_core::model::*;
use rapport_core::observe::{ListDiff, Observer};
use rapport_core::store::{AssigneeFilter, ChatFilter, StatusCounts, StatusFilter, TimelineItem};
use rapport_tests::{Events, TempStore};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
enum Op {
    NewChat { app: u8, name: u8 },
    Message { chat: u8, inbound: bool, back: u8 },
    Read { chat: u8 },
    State { chat: u8, open: bool },
    Assign { chat: u8, who: u8 },
    Rename { chat: u8, name: u8 },
    Delete { chat: u8, nth: u8 },
    Edit { chat: u8, nth: u8 },
    Note { chat: u8 },
    DeleteNote { chat: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..6, 0u8..6).prop_map(|(app, name)| Op::NewChat { app, name }),
        6 => (0u8..12, any::<bool>(), 0u8..4).prop_map(|(chat, inbound, back)| Op::Message { chat, inbound, back }),
        2 => (0u8..12).prop_map(|chat| Op::Read { chat }),
        2 => (0u8..12, any::<bool>()).prop_map(|(chat, open)| Op::State { chat, open }),
        2 => (0u8..12, 0u8..3).prop_map(|(chat, who)| Op::Assign { chat, who }),
        1 => (0u8..12, 0u8..6).prop_map(|(chat, name)| Op::Rename { chat, name }),
        1 => (0u8..12, 0u8..8).prop_map(|(chat, nth)| Op::Delete { chat, nth }),
        1 => (0u8..12, 0u8..8).prop_map(|(chat, nth)| Op::Edit { chat, nth }),
        1 => (0u8..12).prop_map(|chat| Op::Note { chat }),
        1 => (0u8..12).prop_map(|chat| Op::DeleteNote { chat }),
    ]
}

const NAMES: [&str; 6] = [
    "José Álvarez",
    "Ана Ёлкина",
    "Γιώργος",
    "Joana 🌵",
    "Zoë",
    "محمد",
];

/// Turns ops into events, tracking what exists so most ops hit something.
struct Model {
    e: Events,
    chats: Vec<(String, String)>, // (chat id, subscriber id)
    messages: Vec<Vec<String>>,
    notes: Vec<Vec<String>>,
    next: u64,
}

impl Model {
    fn events(&mut self, op: &Op) -> Vec<Event> {
        // A third of the ops hit c0, whose timeline is observed.
        let chat = |c: u8, m: &Model| {
            let i = if c < 4 {
                0
            } else {
                c as usize % m.chats.len().max(1)
            };
            m.chats.get(i).cloned()
        };
        let mut out = Vec::new();
        match *op {
            Op::NewChat { app, name } => {
                let id = format!("c{}", self.chats.len());
                out.push(
                    self.e
                        .chat(&id, App::ALL[app as usize], NAMES[name as usize]),
                );
                self.chats.push((id.clone(), format!("s-{id}")));
                self.messages.push(Vec::new());
                self.notes.push(Vec::new());
            }
            Op::Message {
                chat: c,
                inbound,
                back,
            } => {
                if let Some((id, _)) = chat(c, self) {
                    self.next += 1;
                    let mid = format!("m{}", self.next);
                    // Sometimes older than the latest: lands mid-timeline,
                    // and several chats share times (ties in the list).
                    let at = Timestamp(self.e.now - i64::from(back) * 1_500);
                    let sender = if inbound {
                        Sender::Subscriber
                    } else {
                        Sender::Member(me())
                    };
                    let m = rapport_tests::message(&id, &mid, sender, "hi", at);
                    out.push(self.e.ev(EventPayload::MessageUpserted(m)));
                    let idx = self.chats.iter().position(|(x, _)| *x == id).unwrap();
                    self.messages[idx].push(mid);
                }
            }
            Op::Read { chat: c } => {
                if let Some((id, _)) = chat(c, self) {
                    out.push(self.e.ev(EventPayload::ChatRead {
                        chat_id: ChatId(id),
                    }));
                }
            }
            Op::State { chat: c, open } => {
                if let Some((id, _)) = chat(c, self) {
                    let state = if open {
                        ChatState::Open
                    } else {
                        ChatState::Closed
                    };
                    out.push(self.e.ev(EventPayload::ChatStateChanged {
                        chat_id: ChatId(id),
                        state,
                    }));
                }
            }
            Op::Assign { chat: c, who } => {
                if let Some((id, _)) = chat(c, self) {
                    let assignee = match who {
                        0 => None,
                        1 => Some(me()),
                        _ => Some(MemberId::from("u7")),
                    };
                    out.push(self.e.ev(EventPayload::ChatAssigned {
                        chat_id: ChatId(id),
                        assignee,
                    }));
                }
            }
            Op::Rename { chat: c, name } => {
                if let Some((id, sub)) = chat(c, self) {
                    let app = App::Telegram;
                    out.push(self.e.ev(EventPayload::SubscriberUpserted(Subscriber {
                        id: SubscriberId(sub),
                        bot_id: BotId::from("b1"),
                        app,
                        name: NAMES[name as usize].into(),
                        username: None,
                        avatar_url: None,
                        email: None,
                        phone: None,
                        status: SubscriptionStatus::Active,
                        subscribed_at: Timestamp(0),
                        last_activity_at: None,
                        group: None,
                        instagram: None,
                        ad_source: None,
                        variables: Default::default(),
                        tags: Vec::new(),
                        active_flow: None,
                        crm_contact: None,
                    })));
                    let _ = id;
                }
            }
            Op::Delete { chat: c, nth } | Op::Edit { chat: c, nth } => {
                if let Some((id, _)) = chat(c, self) {
                    let idx = self.chats.iter().position(|(x, _)| *x == id).unwrap();
                    if let Some(mid) = self.messages[idx].get(nth as usize).cloned() {
                        let (chat_id, message_id) = (ChatId(id), MessageId(mid));
                        out.push(self.e.ev(match op {
                            Op::Delete { .. } => EventPayload::MessageDeleted {
                                chat_id,
                                message_id,
                            },
                            _ => EventPayload::MessageEdited {
                                chat_id,
                                message_id,
                                text: "edited".into(),
                            },
                        }));
                    }
                }
            }
            Op::Note { chat: c } => {
                if let Some((id, _)) = chat(c, self) {
                    self.next += 1;
                    let nid = format!("n{}", self.next);
                    let at = Timestamp(self.e.now);
                    out.push(self.e.ev(EventPayload::NoteUpserted(Note {
                        id: NoteId(nid.clone()),
                        chat_id: ChatId(id.clone()),
                        author: me(),
                        text: "📝".into(),
                        created_at: at,
                        edited_at: None,
                    })));
                    let idx = self.chats.iter().position(|(x, _)| *x == id).unwrap();
                    self.notes[idx].push(nid);
                }
            }
            Op::DeleteNote { chat: c } => {
                if let Some((id, _)) = chat(c, self) {
                    let idx = self.chats.iter().position(|(x, _)| *x == id).unwrap();
                    if let Some(nid) = self.notes[idx].pop() {
                        out.push(self.e.ev(EventPayload::NoteDeleted {
                            chat_id: ChatId(id),
                            note_id: NoteId(nid),
                        }));
                    }
                }
            }
        }
        out
    }
}

type Shared<T> = Arc<Mutex<Vec<T>>>;

fn collector<T: Send + 'static>() -> (Shared<T>, impl Fn(Vec<ListDiff<T>>) + Send + Sync + 'static)
{
    let list: Shared<T> = Arc::new(Mutex::new(Vec::new()));
    let l = list.clone();
    (list, move |diffs: Vec<ListDiff<T>>| {
        let mut v = l.lock().unwrap();
        for d in diffs {
            assert!(d.apply(&mut v), "a diff's index was out of range");
        }
    })
}

fn ids(v: &[ChatSummary]) -> Vec<&str> {
    v.iter().map(|s| s.chat.id.as_str()).collect()
}

fn run(ops: Vec<Op>, batch_sizes: Vec<usize>, limit: u32, filter_pick: u8) {
    let t = TempStore::new();
    let obs = Observer::new(t.store.clone());
    let mut model = Model {
        e: Events::default(),
        chats: Vec::new(),
        messages: Vec::new(),
        notes: Vec::new(),
        next: 0,
    };
    // Seed two chats so the first ops have something to act on.
    let seed: Vec<Event> = [
        Op::NewChat { app: 0, name: 0 },
        Op::NewChat { app: 1, name: 1 },
    ]
    .iter()
    .flat_map(|o| model.events(o))
    .collect();
    t.apply(&seed);

    let filters = [
        ChatFilter::default(),
        ChatFilter {
            status: StatusFilter::Unread,
            ..Default::default()
        },
        ChatFilter {
            assignee: AssigneeFilter::Mine,
            status: StatusFilter::Open,
            ..Default::default()
        },
        ChatFilter {
            search: Some("jo".into()),
            ..Default::default()
        },
        ChatFilter {
            app: Some(App::Telegram),
            ..Default::default()
        },
    ];
    let filter = filters[filter_pick as usize % filters.len()].clone();
    let (list, on_list) = collector::<ChatSummary>();
    let _list_sub = obs
        .subscribe_chat_list(filter.clone(), limit, on_list)
        .unwrap();
    let (timeline, on_tl) = collector::<TimelineItem>();
    let c0 = ChatId::from("c0");
    let _tl_sub = obs.subscribe_timeline(c0.clone(), limit, on_tl).unwrap();
    let counts: Arc<Mutex<StatusCounts>> = Arc::default();
    let c2 = counts.clone();
    let _counts_sub = obs
        .subscribe_counts(filter.clone(), move |c| *c2.lock().unwrap() = c)
        .unwrap();

    let events: Vec<Event> = ops.iter().flat_map(|o| model.events(o)).collect();
    let mut rest = &events[..];
    let mut sizes = batch_sizes.into_iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        t.apply(batch);

        let fresh = t.store.chat_page(&filter, None, limit).unwrap().rows;
        assert_eq!(
            ids(&list.lock().unwrap()),
            ids(&fresh),
            "list ids after {batch:?}"
        );
        assert_eq!(*list.lock().unwrap(), fresh, "list rows");
        let fresh_tl = t.store.timeline_page(&c0, None, limit).unwrap().items;
        assert_eq!(*timeline.lock().unwrap(), fresh_tl, "timeline");
        assert_eq!(
            *counts.lock().unwrap(),
            t.store.status_counts(&filter).unwrap()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn s3_window_plus_diffs_equals_fresh_query(
        ops in proptest::collection::vec(op(), 1..120),
        batch_sizes in proptest::collection::vec(1usize..6, 1..8),
        limit in 1u32..7,
        filter_pick in 0u8..5,
    ) {
        run(ops, batch_sizes, limit, filter_pick);
    }
}

#[test]
fn s3_growing_the_window_appends_and_dropping_ends_the_subscription() {
    let t = TempStore::new();
    let obs = Observer::new(t.store.clone());
    let mut e = Events::default();
    let evs: Vec<Event> = (0..10)
        .map(|i| e.chat(&format!("c{i}"), App::Viber, "Ana"))
        .collect();
    t.apply(&evs);
    let (list, on_list) = collector::<ChatSummary>();
    let sub = obs
        .subscribe_chat_list(ChatFilter::default(), 3, on_list)
        .unwrap();
    assert_eq!(ids(&list.lock().unwrap()), ["c9", "c8", "c7"]);
    sub.set_limit(5).unwrap();
    assert_eq!(ids(&list.lock().unwrap()), ["c9", "c8", "c7", "c6", "c5"]);
    sub.set_limit(2).unwrap();
    assert_eq!(ids(&list.lock().unwrap()), ["c9", "c8"]);
    assert_eq!(obs.live_subscriptions(), 1);
    drop(sub);
    assert_eq!(obs.live_subscriptions(), 0);
    t.apply(&[e.inbound("c0", "m1", "hi")]);
    assert_eq!(
        ids(&list.lock().unwrap()),
        ["c9", "c8"],
        "no diffs after drop"
    );
}

#[test]
fn s3_a_new_message_moves_its_chat_to_the_top_with_small_diffs() {
    let t = TempStore::new();
    let obs = Observer::new(t.store.clone());
    let mut e = Events::default();
    let evs: Vec<Event> = (0..50)
        .map(|i| e.chat(&format!("c{i}"), App::Viber, "Ana"))
        .collect();
    t.apply(&evs);
    let got: Arc<Mutex<Vec<Vec<ListDiff<ChatSummary>>>>> = Arc::default();
    let g = got.clone();
    let _sub = obs
        .subscribe_chat_list(ChatFilter::default(), 20, move |d| {
            g.lock().unwrap().push(d)
        })
        .unwrap();
    // The window shows c49..c30. c40 is at index 9: it moves to the top.
    t.apply(&[e.inbound("c40", "m1", "hi")]);
    // c10 is outside: it enters at the top and the last row leaves.
    t.apply(&[e.inbound("c10", "m2", "hi")]);
    // c49, now third, is read: it changes in place.
    t.apply(&[e.ev(EventPayload::ChatRead {
        chat_id: ChatId::from("c49"),
    })]);
    let calls = got.lock().unwrap();
    assert!(matches!(calls[0][..], [ListDiff::Reset { .. }]));
    match &calls[1][..] {
        [
            ListDiff::Remove { index: 9 },
            ListDiff::Insert { index: 0, value },
        ] if value.chat.id.as_str() == "c40" => {}
        other => panic!("expected a move to the top, got {other:?}"),
    }
    match &calls[2][..] {
        [
            ListDiff::Insert { index: 0, value },
            ListDiff::Remove { index: 20 },
        ] if value.chat.id.as_str() == "c10" => {}
        other => panic!("expected an entry at the top, got {other:?}"),
    }
    assert_eq!(
        calls.len(),
        3,
        "a read of an unread-free chat changes nothing"
    );
}

#[test]
fn s3_a_listener_calling_back_gets_an_error_not_a_deadlock() {
    let t = TempStore::new();
    let obs = Observer::new(t.store.clone());
    let mut e = Events::default();
    t.apply(&[e.chat("c0", App::Viber, "Ana")]);
    let store = t.store.clone();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let _sub = obs
        .subscribe_chat_list(ChatFilter::default(), 5, move |_| {
            // Writing from inside the callback: refused, typed.
            let r = store.set_me(MemberId::from("u9"));
            g.lock().unwrap().push(format!("{:?}", r.err()));
        })
        .unwrap();
    t.apply(&[e.inbound("c0", "m1", "hi")]);
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2, "the Reset and one diff");
    assert!(got.iter().all(|r| r.contains("Reentrant")), "{got:?}");
}
