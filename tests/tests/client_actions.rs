//! Every agent action as an app performs it: a `Client` method, checked
//! by the core before anything is queued, stored in the outbox, sent with
//! its idempotency key to the reference server, and back through the feed
//! into the client's store. One test per SPEC row.

use rapport_core::model::*;
use rapport_core::outbox::Draft;
use rapport_core::outbox::OutboxState;
use rapport_core::policy::Refusal;
use rapport_core::policy::window::MessageTag;
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::sync::{Action, PauseAction};
use rapport_core::wire::SubscriberEdit;
use rapport_core::{Client, ClientError};
use rapport_tests::{TestServer, wait_until};

struct Fixture {
    srv: TestServer,
    client: Client,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    srv.action_chats();
    let dir = tempfile::tempdir().unwrap();
    let client = srv.client(dir.path(), &rt, "u0@w1.test");
    client.start_sync().unwrap();
    let f = Fixture {
        srv,
        client,
        _dir: dir,
        _rt: rt,
    };
    f.settle();
    f
}

impl Fixture {
    /// Waits until the outbox is empty (nothing failed) and the client has
    /// every event the server logged.
    fn settle(&self) {
        let client = &self.client;
        wait_until("the outbox to empty", 20, || {
            let queue = client.outbox().unwrap();
            assert!(
                queue.iter().all(|e| matches!(e.state, OutboxState::Queued)),
                "refused: {queue:?}"
            );
            queue.is_empty()
        });
        wait_until("the feed", 20, || {
            client.last_seq().unwrap() >= self.srv.head("w1")
        });
    }

    fn run(&self, action: Action) {
        self.client.run_action(action).unwrap();
        self.settle();
    }

    fn refused(&self, action: Action) -> Refusal {
        let before = self.client.unsent_commands().unwrap();
        let r = match self.client.run_action(action) {
            Err(ClientError::Refused(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            self.client.unsent_commands().unwrap(),
            before,
            "a refusal queues nothing"
        );
        r
    }

    /// The chat in the client's store and on the server (they agree).
    fn chat(&self, id: &str) -> ChatSummary {
        let mine = self.client.chat(&ChatId::from(id)).unwrap().unwrap();
        let theirs = self
            .srv
            .workspace("w1")
            .store
            .chat(&ChatId::from(id))
            .unwrap()
            .unwrap();
        assert_eq!(mine.chat, theirs.chat);
        mine
    }

    fn message(&self, chat: &str, id: &str) -> Message {
        let item = self
            .client
            .timeline_item(
                &ChatId::from(chat),
                &TimelineItemId::Message(MessageId::from(id)),
            )
            .unwrap();
        match item {
            Some(TimelineItem::Message(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn notes(&self, chat: &str) -> Vec<Note> {
        let page = self
            .client
            .timeline_page(&ChatId::from(chat), None, 100)
            .unwrap();
        page.items
            .into_iter()
            .filter_map(|i| match i {
                TimelineItem::Note(n) => Some(n),
                TimelineItem::Message(_) => None,
            })
            .collect()
    }
}

fn tg() -> ChatId {
    ChatId::from("tg")
}

#[test]
fn a8_an_agent_closes_and_reopens_a_chat() {
    let f = fixture();
    f.run(Action::Close { chat_id: tg() });
    assert_eq!(f.chat("tg").status, ChatStatus::Closed);
    f.run(Action::Open { chat_id: tg() });
    assert_ne!(f.chat("tg").status, ChatStatus::Closed);
}

#[test]
fn b10_marking_a_chat_read_clears_its_unread_count_everywhere() {
    let f = fixture();
    f.srv.subscriber_writes("tg", "sub-2");
    f.settle();
    assert!(f.chat("tg").chat.unread_count > 0);
    f.run(Action::MarkRead { chat_id: tg() });
    assert_eq!(f.chat("tg").chat.unread_count, 0);
}

#[test]
fn b7_the_agent_reacts_to_a_subscriber_message_on_telegram_only() {
    let f = fixture();
    f.run(Action::React {
        chat_id: tg(),
        message_id: MessageId::from("sub-1"),
        emoji: Some("❤️".into()),
    });
    let reactions = f.message("tg", "sub-1").reactions;
    assert_eq!(
        reactions,
        vec![Reaction {
            emoji: "❤️".into(),
            by: ReactionBy::Member(MemberId::from("u0"))
        }]
    );
    assert_eq!(
        f.refused(Action::React {
            chat_id: tg(),
            message_id: MessageId::from("bot-1"),
            emoji: Some("👍".into()),
        }),
        Refusal::WrongMessage
    );
    assert!(matches!(
        f.refused(Action::React {
            chat_id: ChatId::from("wa"),
            message_id: MessageId::from("wa-1"),
            emoji: Some("👍".into()),
        }),
        Refusal::NotSupported { .. }
    ));
}

#[test]
fn b8_a_bot_message_is_edited_then_deleted_within_48_hours() {
    let f = fixture();
    f.run(Action::EditMessage {
        chat_id: tg(),
        message_id: MessageId::from("bot-1"),
        text: "hello again".into(),
    });
    let m = f.message("tg", "bot-1");
    assert!(m.edited_at.is_some());
    assert_eq!(m.content.summary(), "hello again");
    f.run(Action::DeleteMessage {
        chat_id: tg(),
        message_id: MessageId::from("bot-1"),
    });
    assert!(f.message("tg", "bot-1").deleted_at.is_some());
    assert!(matches!(
        f.refused(Action::DeleteMessage {
            chat_id: tg(),
            message_id: MessageId::from("bot-old"),
        }),
        Refusal::TooOld { .. }
    ));
    assert_eq!(
        f.refused(Action::EditMessage {
            chat_id: tg(),
            message_id: MessageId::from("sub-1"),
            text: "no".into(),
        }),
        Refusal::WrongMessage
    );
    assert!(matches!(
        f.client.run_action(Action::DeleteMessage {
            chat_id: tg(),
            message_id: MessageId::from("nope"),
        }),
        Err(ClientError::UnknownMessage)
    ));
}

#[test]
fn c1_notes_are_added_edited_and_deleted_up_to_2000_characters() {
    let f = fixture();
    f.run(Action::AddNote {
        chat_id: tg(),
        text: "Wants a refund 📞".into(),
    });
    let note = f.notes("tg").pop().expect("the note");
    assert_eq!(note.author, MemberId::from("u0"));
    f.run(Action::EditNote {
        chat_id: tg(),
        note_id: note.id.clone(),
        text: "Refund done ✅".into(),
    });
    assert_eq!(f.notes("tg")[0].text, "Refund done ✅");
    // 2000 characters (emoji count as one each) fit; 2001 do not.
    f.run(Action::AddNote {
        chat_id: tg(),
        text: "👍".repeat(2000),
    });
    assert_eq!(
        f.refused(Action::AddNote {
            chat_id: tg(),
            text: "a".repeat(2001),
        }),
        Refusal::TextTooLong {
            limit: 2000,
            actual: 2001,
            unit: rapport_core::policy::text::LengthUnit::Characters
        }
    );
    assert_eq!(
        f.refused(Action::EditNote {
            chat_id: tg(),
            note_id: note.id.clone(),
            text: "  ".into(),
        }),
        Refusal::TextEmpty
    );
    f.run(Action::DeleteNote {
        chat_id: tg(),
        note_id: note.id,
    });
    assert_eq!(f.notes("tg").len(), 1);
}

#[test]
fn d1_a_chat_is_assigned_only_to_members_with_conversations_access() {
    let f = fixture();
    f.run(Action::Assign {
        chat_id: tg(),
        member_id: Some(MemberId::from("u1")),
    });
    assert_eq!(f.chat("tg").chat.assignee, Some(MemberId::from("u1")));
    assert_eq!(
        f.refused(Action::Assign {
            chat_id: tg(),
            member_id: Some(MemberId::from("u3")),
        }),
        Refusal::NotAssignable
    );
    f.run(Action::Assign {
        chat_id: tg(),
        member_id: None,
    });
    assert_eq!(f.chat("tg").chat.assignee, None);
}

#[test]
fn e3_f7_a_reply_pauses_the_bot_at_once_and_the_pause_extends_and_ends() {
    let f = fixture();
    let now = f.client.server_now();
    f.client.send(&tg(), Draft::Text("On it"), None).unwrap();
    // In the core before the network: the banner shows at once.
    let paused = f.client.chat(&tg()).unwrap().unwrap().chat;
    let until = paused.paused_until.expect("paused by the reply");
    assert!(until.0 >= now.0 + 60 * 60_000 && until.0 < now.0 + 61 * 60_000);
    f.settle();
    assert!(f.chat("tg").chat.paused_until.is_some());
    f.run(Action::Pause {
        chat_id: tg(),
        action: PauseAction::Extend,
    });
    let extended = f.chat("tg").chat.paused_until.unwrap();
    assert!(extended.0 >= until.0 + 59 * 60_000, "+60 min");
    // A later reply never shortens an extended pause.
    f.client
        .send(&tg(), Draft::Text("Still here"), None)
        .unwrap();
    assert_eq!(
        f.client.chat(&tg()).unwrap().unwrap().chat.paused_until,
        Some(extended)
    );
    f.settle();
    f.run(Action::Pause {
        chat_id: tg(),
        action: PauseAction::Continue,
    });
    assert_eq!(f.chat("tg").chat.paused_until, None);
}

#[test]
fn e1_e4_e5_replies_templates_and_tags_follow_the_window() {
    let f = fixture();
    let wa = ChatId::from("wa");
    assert!(matches!(
        f.client.send(&wa, Draft::Text("hi"), None),
        Err(ClientError::Refused(Refusal::WindowClosed { .. }))
    ));
    let id = f
        .client
        .send(
            &wa,
            Draft::Template {
                name: "order_update",
            },
            None,
        )
        .unwrap();
    f.settle();
    assert!(matches!(
        f.message("wa", id.as_str()).content,
        Content::Template { .. }
    ));
    let fb = ChatId::from("fb");
    let id = f
        .client
        .send(
            &fb,
            Draft::Tagged {
                tag: MessageTag::HumanAgent,
                text: "Sorry for the wait",
            },
            None,
        )
        .unwrap();
    f.settle();
    assert_eq!(
        f.message("fb", id.as_str()).content.summary(),
        "Sorry for the wait"
    );
    assert!(matches!(
        f.client.send(&tg(), Draft::Template { name: " " }, None),
        Err(ClientError::Refused(Refusal::TextEmpty))
    ));
}

#[test]
fn f5_f6_f8_g2_the_subscriber_card_is_edited() {
    let f = fixture();
    let s1 = SubscriberId::from("s1");
    let edit = |edit: SubscriberEdit| Action::EditSubscriber {
        subscriber_id: s1.clone(),
        edit,
    };
    let card = || f.client.subscriber(&s1).unwrap().unwrap();
    f.run(edit(SubscriberEdit {
        variables: [("city".to_owned(), "Lisboa".to_owned())].into(),
        add_tags: vec!["vip".into()],
        crm_contact: Some(CrmContact {
            first_name: "Ana".into(),
            last_name: "Núñez".into(),
            phone: None,
        }),
        ..Default::default()
    }));
    let c = card();
    assert_eq!(c.variables["city"], "Lisboa");
    assert!(c.tags.contains(&"vip".to_owned()));
    assert_eq!(c.crm_contact.unwrap().last_name, "Núñez");
    // F5: an empty value removes a variable; a tag goes.
    f.run(edit(SubscriberEdit {
        variables: [("city".to_owned(), String::new())].into(),
        remove_tags: vec!["vip".into()],
        ..Default::default()
    }));
    let c = card();
    assert!(!c.variables.contains_key("city"));
    assert!(!c.tags.contains(&"vip".to_owned()));
    // F6: start a flow, then stop it.
    f.run(edit(SubscriberEdit {
        flow_id: Some("flow-1".into()),
        ..Default::default()
    }));
    assert_eq!(card().active_flow.unwrap().name, "Order status");
    f.run(edit(SubscriberEdit {
        flow_id: Some(String::new()),
        ..Default::default()
    }));
    assert!(card().active_flow.is_none());
    // F8.
    f.run(edit(SubscriberEdit {
        disable: true,
        ..Default::default()
    }));
    assert_eq!(card().status, SubscriptionStatus::Disabled);
}

#[test]
fn g1_g3_a_deal_is_added_then_moved_to_another_stage() {
    let f = fixture();
    let s1 = SubscriberId::from("s1");
    let named = |id: &str, name: &str| Named {
        id: id.into(),
        name: name.into(),
    };
    f.run(Action::AddDeal {
        subscriber_id: s1.clone(),
        pipeline: named("p1", "Sales"),
        stage: named("st1", "New"),
        name: "Autumn order".into(),
        amount_minor: 12_500,
        currency: "EUR".into(),
    });
    let deal = f
        .client
        .deals(&s1)
        .unwrap()
        .into_iter()
        .find(|d| d.name == "Autumn order")
        .expect("the deal");
    f.run(Action::EditDeal {
        deal_id: deal.id.clone(),
        stage: Some(named("st2", "Won")),
        name: None,
        amount_minor: Some(13_000),
    });
    let deal = f.client.deal(&deal.id).unwrap().unwrap();
    assert_eq!(
        (deal.stage.name.as_str(), deal.amount_minor),
        ("Won", 13_000)
    );
}

#[test]
fn e7_a_refusal_only_the_server_can_make_is_kept_failed_until_discarded() {
    let f = fixture();
    // The core cannot know the deal does not exist; the server says so.
    f.client
        .run_action(Action::EditDeal {
            deal_id: DealId::from("no-such-deal"),
            stage: None,
            name: Some("x".into()),
            amount_minor: None,
        })
        .unwrap();
    let client = &f.client;
    wait_until("the refusal", 20, || {
        client
            .outbox()
            .unwrap()
            .iter()
            .any(|e| matches!(e.state, OutboxState::Failed { .. }))
    });
    let failed = client.outbox().unwrap().remove(0);
    assert!(matches!(&failed.state, OutboxState::Failed { code, .. } if code == "not_found"));
    client.discard(failed.id).unwrap();
    assert_eq!(client.unsent_commands().unwrap(), 0);
}
