//! The direct connector (issue 17 section 2): rapport-core's
//! `SendPulseBackend` under the unchanged sync engine and outbox, against
//! the fake SendPulse over loopback and a real SQLite store file. First
//! sync, polling, local filters/counts/search, sends with their local id
//! and ticks, a lost answer, expired tokens and 429s, convergence after a
//! run mixing those, and the contract (every request the connector made
//! validates against docs/sendpulse/openapi.yml).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rapport_core::model::*;
use rapport_core::outbox::{Composer, Draft};
use rapport_core::store::{AssigneeFilter, ChatFilter, StatusFilter, Store, TimelineItem};
use rapport_core::sync::{
    Action, Backend, PauseAction, SendPulseBackend, SendPulseConfig, SubscriberEdit, SyncEngine,
};
use rapport_sendpulse::App as SpApp;
use rapport_tests::fake_sendpulse::{FakeSendPulse, Fault};

#[path = "support/sendpulse_contract.rs"]
mod contract;

const ID: &str = "conn-client-id";
const SECRET: &str = "conn-client-secret-0123456789";

struct Rig {
    fake: FakeSendPulse,
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    backend: Arc<SendPulseBackend>,
    engine: Arc<SyncEngine<SendPulseBackend>>,
}

fn config(url: &str, page: u32) -> SendPulseConfig {
    let mut cfg = SendPulseConfig::new(url, ID, SECRET);
    cfg.me = MemberId::from("agent-1");
    cfg.me_name = "Agent".into();
    cfg.operators = vec![(MemberId::from("agent-1"), "Agent".into(), 501)];
    cfg.poll_interval = Duration::from_millis(100);
    cfg.lookup_wait = Duration::from_millis(20);
    cfg.api.backoff_base = Duration::from_millis(1);
    cfg.api.backoff_max = Duration::from_millis(200);
    cfg.api.page_size = page;
    cfg
}

impl Rig {
    async fn start(page: u32) -> Rig {
        let fake = FakeSendPulse::start(ID, SECRET).await;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("phone.db")).unwrap());
        store.set_me(MemberId::from("agent-1")).unwrap();
        let backend =
            Arc::new(SendPulseBackend::with_store(config(&fake.url, page), store.clone()).unwrap());
        let engine = Arc::new(SyncEngine::new(store.clone(), backend.clone()));
        Rig {
            fake,
            _dir: dir,
            store,
            backend,
            engine,
        }
    }

    /// A new phone process on the same store file (memory lost).
    fn restart(&mut self) {
        self.backend = Arc::new(
            SendPulseBackend::with_store(config(&self.fake.url, 100), self.store.clone()).unwrap(),
        );
        self.engine = Arc::new(SyncEngine::new(self.store.clone(), self.backend.clone()));
    }

    fn chat(&self, contact: &str) -> Chat {
        self.store
            .chat(&ChatId(format!("sp-{contact}")))
            .unwrap()
            .unwrap_or_else(|| panic!("chat of {contact}"))
            .chat
    }

    fn messages(&self, contact: &str) -> Vec<Message> {
        let page = self
            .store
            .timeline_page(&ChatId(format!("sp-{contact}")), None, 10_000)
            .unwrap();
        page.items
            .into_iter()
            .filter_map(|i| match i {
                TimelineItem::Message(m) => Some(m),
                TimelineItem::Note(_) => None,
            })
            .collect()
    }

    fn texts(&self, contact: &str) -> Vec<(bool, String)> {
        self.messages(contact)
            .into_iter()
            .map(|m| {
                let text = match m.content {
                    Content::Text { text } => text,
                    _ => String::new(),
                };
                (m.sender == Sender::Subscriber, text)
            })
            .collect()
    }

    fn send(&self, contact: &str, text: &str, key: &str) -> MessageId {
        Composer {
            store: &self.store,
            me: MemberId::from("agent-1"),
            now: Timestamp(now_ms()),
            capabilities: self.backend.capabilities(),
        }
        .send(
            &ChatId(format!("sp-{contact}")),
            Draft::Text(text),
            key,
            false,
        )
        .unwrap()
    }

    fn queue(&self, action: Action, key: &str) {
        Composer {
            store: &self.store,
            me: MemberId::from("agent-1"),
            now: Timestamp(now_ms()),
            capabilities: self.backend.capabilities(),
        }
        .queue(&action, key)
        .unwrap();
    }

    /// Runs the outbox until it is empty (or a command failed).
    async fn drain(&self) {
        let wake = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(rapport_core::outbox::run(
            self.store.clone(),
            self.backend.clone(),
            wake.clone(),
            tokio::sync::broadcast::channel(8).0,
        ));
        wake.notify_one();
        wait_for("the outbox to drain", || {
            self.store
                .outbox()
                .unwrap()
                .iter()
                .all(|e| matches!(e.state, rapport_core::outbox::OutboxState::Failed { .. }))
        })
        .await;
        task.abort();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn chat_id(contact: &str) -> ChatId {
    ChatId(format!("sp-{contact}"))
}

// ---- S2: first sync and polling ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_first_sync_from_empty_is_a_snapshot_of_dialogs_bots_and_chats_without_histories() {
    let rig = Rig::start(2).await;
    let tg = rig.fake.add_bot(SpApp::Telegram, "Shop TG");
    let wa = rig.fake.add_bot(SpApp::Whatsapp, "Shop WA");
    let ann = rig.fake.add_contact(&tg, "Ann Lee");
    let bob = rig.fake.add_contact(&wa, "Bob");
    let quiet = rig.fake.add_contact(&wa, "Quiet One");
    rig.fake.add_incoming(&ann, "hello");
    rig.fake.add_incoming(&ann, "anyone?");
    rig.fake.add_outgoing(&bob, "menu");
    rig.fake.add_incoming(&bob, "1");
    rig.fake
        .with(|s| s.contacts.get_mut(&bob).unwrap().opened = true);

    rig.engine.catch_up().await.unwrap();

    let a = rig.chat(&ann);
    assert_eq!((a.app, a.title.as_str()), (App::Telegram, "Ann Lee"));
    assert_eq!((a.state, a.unread_count), (ChatState::Closed, 2));
    let b = rig.chat(&bob);
    assert_eq!(
        (b.app, b.state, b.unread_count),
        (App::Whatsapp, ChatState::Open, 1)
    );
    assert_eq!(rig.chat(&quiet).title, "Quiet One");
    // The list has each chat's last subscriber message; no history was read.
    assert_eq!(rig.texts(&ann), vec![(true, "anyone?".to_owned())]);
    assert_eq!(rig.fake.count("/chats/messages"), 0);
    // Dialogs were paged with search_after (page size 2, three dialogs).
    assert!(rig.fake.count("/chatbots/dialogs") >= 2);
    let bots: Vec<String> = rig
        .store
        .bots()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(bots.contains(&"Shop TG".to_owned()) && bots.contains(&"Shop WA".to_owned()));
    assert!(!rig.backend.capabilities().live_stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_polling_picks_up_new_messages_reads_and_open_state_and_stops_at_an_unchanged_page() {
    let rig = Rig::start(2).await;
    let tg = rig.fake.add_bot(SpApp::Telegram, "Shop");
    let contacts: Vec<String> = (0..5)
        .map(|i| rig.fake.add_contact(&tg, &format!("C{i}")))
        .collect();
    for c in &contacts {
        rig.fake.add_incoming(c, "hi");
    }
    rig.engine.catch_up().await.unwrap();
    let newest = &contacts[4];
    let oldest = &contacts[0];
    assert_eq!(rig.chat(newest).unread_count, 1);

    // Two messages to the oldest chat (it moves to the top), the newest
    // read and opened elsewhere.
    rig.fake.add_incoming(oldest, "are you there");
    rig.fake.add_incoming(oldest, "hello?");
    rig.fake.with(|s| {
        let c = s.contacts.get_mut(newest).unwrap();
        c.unread = 0;
        c.opened = true;
    });
    let dialogs_before = rig.fake.count("/chatbots/dialogs");
    rig.engine.catch_up().await.unwrap();
    let texts = rig.texts(oldest);
    assert!(
        texts.ends_with(&[(true, "are you there".into()), (true, "hello?".into())]),
        "{texts:?}"
    );
    assert_eq!(rig.chat(oldest).unread_count, 3);
    let n = rig.chat(newest);
    assert_eq!((n.unread_count, n.state), (0, ChatState::Open));

    // Nothing new: one page of dialogs is enough (a poll of its own: the
    // engine's catch-up may also start a pull it then drops).
    let before = rig.fake.count("/chatbots/dialogs");
    let histories = rig.fake.count("/chats/messages");
    assert!(before > dialogs_before);
    rig.backend.poll_now(false).await.unwrap();
    assert_eq!(rig.fake.count("/chatbots/dialogs"), before + 1);
    assert_eq!(
        rig.fake.count("/chats/messages"),
        histories,
        "no history read"
    );
    // A new contact appears with its history and card.
    let new = rig.fake.add_contact(&tg, "Newcomer");
    rig.fake.add_incoming(&new, "first");
    rig.fake.add_incoming(&new, "second");
    rig.engine.catch_up().await.unwrap();
    assert_eq!(
        rig.texts(&new),
        vec![(true, "first".into()), (true, "second".into())]
    );
    assert_eq!(rig.chat(&new).unread_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_the_live_stream_polls_and_a_restart_takes_up_from_the_store_keeping_the_outbox() {
    let mut rig = Rig::start(100).await;
    let tg = rig.fake.add_bot(SpApp::Telegram, "Shop");
    let ann = rig.fake.add_contact(&tg, "Ann");
    rig.fake.add_incoming(&ann, "hi");
    let engine = rig.engine.clone();
    let task = tokio::spawn(async move { engine.run().await });
    wait_for("the first sync", || {
        rig.store.chat(&chat_id(&ann)).unwrap().is_some()
    })
    .await;
    rig.fake.add_incoming(&ann, "live one");
    wait_for("the poll to bring the message", || {
        rig.texts(&ann).iter().any(|(_, t)| t == "live one")
    })
    .await;
    task.abort();

    // The agent replies, and B1 brings the whole history in.
    rig.send(&ann, "my reply", "k-before-restart");
    rig.drain().await;
    rig.engine.catch_up().await.unwrap();
    rig.engine
        .load_older(&chat_id(&ann), None, 50)
        .await
        .unwrap();
    let before = rig.texts(&ann);
    assert_eq!(before.len(), 3, "{before:?}");

    // A queued command survives a restart; the new process rebuilds its
    // memory from the store (no snapshot: the history loaded stays, the
    // agent's reply is not taken for a new message).
    rig.queue(
        Action::MarkRead {
            chat_id: chat_id(&ann),
        },
        "read-after-restart",
    );
    let seq = rig.store.last_seq().unwrap();
    rig.restart();
    rig.fake.add_incoming(&ann, "while away");
    // The outbox may run before the engine's first pull: the command still
    // finds its chat.
    rig.queue(
        Action::Open {
            chat_id: chat_id(&ann),
        },
        "open-after-restart",
    );
    rig.drain().await;
    assert!(rig.fake.contact(&ann).opened);
    let snapshots = rig.fake.count("/chats");
    rig.engine.catch_up().await.unwrap();
    assert!(rig.store.last_seq().unwrap() > seq);
    assert_eq!(
        rig.fake.count("/chats"),
        snapshots,
        "no snapshot after a restart"
    );
    let mut after = before.clone();
    after.push((true, "while away".into()));
    assert_eq!(rig.texts(&ann), after);
    assert!(rig.store.outbox().unwrap().is_empty());
    rig.engine.catch_up().await.unwrap();
    assert_eq!(rig.chat(&ann).unread_count, 0);
    assert_eq!(rig.fake.contact(&ann).unread, 0);
}

// ---- A2-A6 locally -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_a6_filters_counts_and_search_work_in_the_local_store() {
    let rig = Rig::start(100).await;
    let tg = rig.fake.add_bot(SpApp::Telegram, "TG");
    let wa = rig.fake.add_bot(SpApp::Whatsapp, "WA");
    let zoe = rig.fake.add_contact(&tg, "Zoë Martin");
    let max = rig.fake.add_contact(&wa, "Max Power");
    let eve = rig.fake.add_contact(&wa, "Eve");
    rig.fake.add_incoming(&zoe, "hi");
    rig.fake.add_incoming(&max, "hi");
    rig.fake.with(|s| {
        s.contacts.get_mut(&zoe).unwrap().opened = true;
        s.contacts.get_mut(&max).unwrap().opened = true;
    });
    rig.engine.catch_up().await.unwrap();
    // D1 through SendPulse's operator: the chat becomes mine (A4).
    rig.queue(
        Action::Assign {
            chat_id: chat_id(&max),
            member_id: Some(MemberId::from("agent-1")),
        },
        "assign-max",
    );
    rig.drain().await;
    rig.engine.catch_up().await.unwrap();
    assert_eq!(rig.fake.contact(&max).operator, Some(501));

    let ids = |f: ChatFilter| -> Vec<ChatId> {
        let mut v: Vec<ChatId> = rig
            .store
            .chat_page(&f, None, 100)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.chat.id)
            .collect();
        v.sort();
        v
    };
    // A2: by app.
    let wa_only = ids(ChatFilter {
        app: Some(App::Whatsapp),
        ..ChatFilter::default()
    });
    let mut expected = vec![chat_id(&max), chat_id(&eve)];
    expected.sort();
    assert_eq!(wa_only, expected);
    // A4: mine.
    assert_eq!(
        ids(ChatFilter {
            assignee: AssigneeFilter::Mine,
            ..ChatFilter::default()
        }),
        vec![chat_id(&max)]
    );
    // A5: counts (Eve closed; Zoë and Max open with unread).
    let counts = rig.store.status_counts(&ChatFilter::default()).unwrap();
    assert_eq!((counts.unread, counts.closed, counts.all), (2, 1, 3));
    assert_eq!(
        ids(ChatFilter {
            status: StatusFilter::Closed,
            ..ChatFilter::default()
        }),
        vec![chat_id(&eve)]
    );
    // A6: accent- and case-insensitive word prefixes.
    assert_eq!(
        ids(ChatFilter {
            search: Some("zoe".into()),
            ..ChatFilter::default()
        }),
        vec![chat_id(&zoe)]
    );
    assert_eq!(
        ids(ChatFilter {
            search: Some("POW".into()),
            ..ChatFilter::default()
        }),
        vec![chat_id(&max)]
    );
}

// ---- E1/E5/E7 ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e1_e7_a_send_appears_once_with_its_local_id_then_its_ticks_move() {
    let rig = Rig::start(100).await;
    let wa = rig.fake.add_bot(SpApp::Whatsapp, "WA");
    let bob = rig.fake.add_contact(&wa, "Bob");
    rig.fake.add_incoming(&bob, "help");
    rig.engine.catch_up().await.unwrap();

    let id = rig.send(&bob, "on it", "k-send-1");
    rig.drain().await;
    assert_eq!(rig.fake.outgoing_texts(&bob), vec!["on it".to_owned()]);
    rig.engine.catch_up().await.unwrap();
    // Several polls later, the message is there once, under the echo's id.
    rig.engine.catch_up().await.unwrap();
    let mine: Vec<Message> = rig
        .messages(&bob)
        .into_iter()
        .filter(|m| m.sender != Sender::Subscriber)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].id, id);
    assert_eq!(mine[0].sender, Sender::Member(MemberId::from("agent-1")));
    assert_eq!(mine[0].delivery, Some(Delivery::Sent));
    // E3: the bot is paused at SendPulse after the reply.
    assert_eq!(rig.fake.contact(&bob).paused_minutes, Some(60));

    // B5: SendPulse marks it delivered, then read: the ticks follow.
    rig.fake.with(|s| {
        s.messages
            .iter_mut()
            .filter(|m| m.direction == 2)
            .for_each(|m| m.status = 3)
    });
    rig.engine.catch_up().await.unwrap();
    assert_eq!(
        rig.messages(&bob).last().unwrap().delivery,
        Some(Delivery::Delivered)
    );
    rig.fake.with(|s| {
        s.messages
            .iter_mut()
            .filter(|m| m.direction == 2)
            .for_each(|m| m.status = 4)
    });
    rig.engine.catch_up().await.unwrap();
    let last = rig.messages(&bob).pop().unwrap();
    assert_eq!((last.id, last.delivery), (id, Some(Delivery::Read)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_a_lost_answer_is_looked_up_in_the_history_and_never_sent_twice() {
    let rig = Rig::start(100).await;
    let tg = rig.fake.add_bot(SpApp::Telegram, "TG");
    let ann = rig.fake.add_contact(&tg, "Ann");
    rig.fake.add_incoming(&ann, "q");
    rig.engine.catch_up().await.unwrap();

    rig.fake
        .fail_next("contacts/sendText", Fault::DropAfterAccept);
    let id = rig.send(&ann, "the answer", "k-lost");
    rig.drain().await;
    assert_eq!(rig.fake.outgoing_texts(&ann), vec!["the answer".to_owned()]);
    rig.engine.catch_up().await.unwrap();
    let mine: Vec<MessageId> = rig
        .messages(&ann)
        .into_iter()
        .filter(|m| m.sender != Sender::Subscriber)
        .map(|m| m.id)
        .collect();
    assert_eq!(mine, vec![id]);

    // The same text again is a new message (its own key): sent.
    rig.send(&ann, "the answer", "k-again");
    rig.drain().await;
    assert_eq!(rig.fake.outgoing_texts(&ann).len(), 2);
    rig.engine.catch_up().await.unwrap();
    assert_eq!(
        rig.messages(&ann)
            .iter()
            .filter(|m| m.sender != Sender::Subscriber)
            .count(),
        2
    );
}

/// E7 across a restart: a send is carried out but its answer is lost, and
/// the app dies while it looks for the message in the history. The record
/// of that send is in the store, so the next process (a new `Client` on the
/// same SQLite file) looks before sending again: SendPulse gets it once, and
/// the echo becomes that message under its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_a_lost_answer_survives_a_restart_and_the_message_reaches_sendpulse_once() {
    use rapport_core::session::{FileSecretStore, SecretStore};
    use rapport_core::{Client, ClientConfig};
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let tg = fake.add_bot(SpApp::Telegram, "TG");
    let ann = fake.add_contact(&tg, "Ann");
    fake.add_incoming(&ann, "q");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("phone.db");
    let secrets: Arc<dyn SecretStore> = Arc::new(FileSecretStore::new(dir.path().join("s.json")));
    let config = || ClientConfig {
        store_path: db.clone(),
        server_url: fake.url.clone(),
    };
    let live = |client: &Client| {
        let mut state = client.sync_state();
        async move {
            tokio::time::timeout(
                Duration::from_secs(20),
                state.wait_for(|s| matches!(s, rapport_core::sync::SyncState::Live { .. })),
            )
            .await
            .expect("live in time")
            .expect("a sync state");
        }
    };
    let kept = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM sendpulse_sends", [], |r| r.get(0))
            .unwrap()
    };

    let client = Client::open(config(), secrets.clone()).unwrap();
    client.login_sendpulse(ID, SECRET, None).await.unwrap();
    client.start_sync().unwrap();
    live(&client).await;
    // SendPulse carries the send out and the answer is lost; the history
    // read that follows hangs, and the app is killed during it.
    fake.fail_next("contacts/sendText", Fault::DropAfterAccept);
    fake.fail_next("chats/messages", Fault::Delay(25_000));
    let id = client
        .send(
            &chat_id(&ann),
            Draft::Text("the answer"),
            Some("k-lost-restart"),
        )
        .unwrap();
    wait_for("the send carried out and its record kept", || {
        fake.outgoing_texts(&ann).len() == 1 && kept() == 1
    })
    .await;
    drop(client);

    let client = Client::open(config(), secrets).unwrap();
    assert!(client.is_sendpulse(), "the login was restored");
    client.start_sync().unwrap();
    live(&client).await;
    wait_for("the outbox to drain after the restart", || {
        client.outbox().unwrap().is_empty()
    })
    .await;
    let sent = client
        .timeline_page(&chat_id(&ann), None, 50)
        .unwrap()
        .items
        .into_iter()
        .filter_map(|i| match i {
            TimelineItem::Message(m) if m.sender != Sender::Subscriber => Some(m),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].id, id, "the echo became the message");
    assert_ne!(sent[0].delivery, Some(Delivery::Pending));
    // A poll after the retry changes nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.outgoing_texts(&ann),
        vec!["the answer".to_owned()],
        "sent once"
    );
    assert_eq!(kept(), 0, "the record left with its command");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_expired_tokens_and_429s_are_absorbed() {
    let rig = Rig::start(100).await;
    let tg = rig.fake.add_bot(SpApp::Telegram, "TG");
    let ann = rig.fake.add_contact(&tg, "Ann");
    rig.fake.add_incoming(&ann, "q");
    rig.fake
        .fail_next("/chatbots/dialogs", Fault::Status(429, Some(0)));
    rig.engine.catch_up().await.unwrap();
    rig.fake.expire_tokens();
    rig.fake.add_incoming(&ann, "after expiry");
    rig.fake
        .fail_next("/chats/messages", Fault::Status(429, None));
    rig.engine.catch_up().await.unwrap();
    assert!(rig.texts(&ann).iter().any(|(_, t)| t == "after expiry"));
    rig.fake.expire_tokens();
    rig.fake
        .fail_next("contacts/sendText", Fault::Status(429, Some(0)));
    rig.send(&ann, "reply", "k-429");
    rig.drain().await;
    assert_eq!(rig.fake.outgoing_texts(&ann), vec!["reply".to_owned()]);
    assert!(rig.backend.api_stats().token_fetches >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_b8_e2_what_sendpulse_cannot_do_is_a_typed_refusal_and_capabilities_say_so() {
    let rig = Rig::start(100).await;
    let caps = rig.backend.capabilities();
    assert!(!caps.live_stream && !caps.edit_delete && !caps.quotes && !caps.idempotency);
    // C1: SendPulse's notes go through the gateway only; the apps hide them.
    assert!(!caps.notes);
    let tg = rig.fake.add_bot(SpApp::Telegram, "TG");
    let ann = rig.fake.add_contact(&tg, "Ann");
    rig.fake.add_incoming(&ann, "q");
    rig.engine.catch_up().await.unwrap();
    let err = rig
        .backend
        .run(
            &Action::AddNote {
                chat_id: chat_id(&ann),
                text: "n".into(),
            },
            "k-note",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_supported");
    assert!(!err.is_retryable());
    let err = rig
        .backend
        .run(
            &Action::Assign {
                chat_id: chat_id(&ann),
                member_id: Some(MemberId::from("nobody")),
            },
            "k-assign",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_assignable");
}

// ---- convergence ---------------------------------------------------------------

/// The fake's chats and messages against the phone's store: state, unread
/// count, and each chat's messages (direction, text) in order.
fn assert_converged(rig: &Rig) {
    let (contacts, histories) = rig.fake.with(|s| {
        let contacts: Vec<(String, bool, i64, String)> = s
            .contacts
            .values()
            .map(|c| (c.id.clone(), c.opened, c.unread, c.name.clone()))
            .collect();
        let mut h: BTreeMap<String, Vec<(bool, String)>> = BTreeMap::new();
        for m in &s.messages {
            h.entry(m.contact_id.clone())
                .or_default()
                .push((m.direction == 1, m.text.clone()));
        }
        (contacts, h)
    });
    for (id, opened, unread, name) in contacts {
        let chat = rig.chat(&id);
        assert_eq!(chat.title, name);
        assert_eq!(
            (chat.state == ChatState::Open, i64::from(chat.unread_count)),
            (opened, unread),
            "chat {id}"
        );
        assert_eq!(
            rig.texts(&id),
            histories.get(&id).cloned().unwrap_or_default(),
            "messages of {id}"
        );
    }
    assert!(rig.store.outbox().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_e7_convergence_after_a_run_with_lost_answers_expiring_tokens_and_429s() {
    let rig = Rig::start(3).await;
    fastrand::seed(17);
    let tg = rig.fake.add_bot(SpApp::Telegram, "TG");
    let wa = rig.fake.add_bot(SpApp::Whatsapp, "WA");
    let mut contacts = Vec::new();
    for i in 0..6 {
        let bot = if i % 2 == 0 { &tg } else { &wa };
        let c = rig.fake.add_contact(bot, &format!("Person {i}"));
        rig.fake.add_incoming(&c, &format!("hello {i}"));
        contacts.push(c);
    }
    let engine = rig.engine.clone();
    let sync = tokio::spawn(async move { engine.run().await });
    let wake = Arc::new(tokio::sync::Notify::new());
    let outbox = tokio::spawn(rapport_core::outbox::run(
        rig.store.clone(),
        rig.backend.clone(),
        wake.clone(),
        tokio::sync::broadcast::channel(8).0,
    ));
    wait_for("the first sync", || {
        contacts
            .iter()
            .all(|c| rig.store.chat(&chat_id(c)).unwrap().is_some())
    })
    .await;
    for round in 0..40 {
        let c = &contacts[fastrand::usize(..contacts.len())];
        match fastrand::u8(..8) {
            0 | 1 => {
                rig.fake.add_incoming(c, &format!("msg {round}"));
            }
            2 | 3 => {
                if fastrand::bool() {
                    let path = if rig.chat(c).app == App::Telegram {
                        "contacts/sendText"
                    } else {
                        "contacts/send"
                    };
                    rig.fake.fail_next(path, Fault::DropAfterAccept);
                }
                rig.send(c, &format!("reply {round}"), &format!("k-{round}"));
                wake.notify_one();
            }
            4 => rig.fake.expire_tokens(),
            5 => rig.fake.fail_next(
                if fastrand::bool() {
                    "dialogs"
                } else {
                    "messages"
                },
                Fault::Status(429, Some(0)),
            ),
            6 => {
                // Opened or closed elsewhere.
                rig.fake.with(|s| {
                    let x = s.contacts.get_mut(c).unwrap();
                    x.opened = !x.opened;
                });
            }
            _ => {
                rig.queue(
                    Action::MarkRead {
                        chat_id: chat_id(c),
                    },
                    &format!("r-{round}"),
                );
                wake.notify_one();
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    wait_for("the outbox to drain", || {
        rig.store.outbox().unwrap().is_empty()
    })
    .await;
    sync.abort();
    outbox.abort();
    // A full poll (the sweep) and the histories the phone fetches on
    // demand (B1) for what came before the first snapshot.
    rig.backend.poll_now(true).await.unwrap();
    rig.engine.catch_up().await.unwrap();
    for c in &contacts {
        let mut before: Option<MessageId> = rig.messages(c).first().map(|m| m.id.clone());
        while rig
            .engine
            .load_older(&chat_id(c), before.as_ref(), 2)
            .await
            .unwrap()
        {
            before = rig.messages(c).first().map(|m| m.id.clone());
        }
    }
    assert_converged(&rig);
    // Every agent reply went out exactly once.
    for c in &contacts {
        let out = rig.fake.outgoing_texts(c);
        let mut dedup = out.clone();
        dedup.dedup();
        assert_eq!(out, dedup, "a reply sent twice to {c}");
    }
}

// ---- contract --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_every_request_of_the_connector_validates_against_the_subset() {
    let contract = contract::Contract::load();
    let rig = Rig::start(2).await;
    let mut contacts = Vec::new();
    for (i, app) in [
        SpApp::Telegram,
        SpApp::Whatsapp,
        SpApp::Messenger,
        SpApp::Viber,
        SpApp::Instagram,
    ]
    .into_iter()
    .enumerate()
    {
        let bot = rig.fake.add_bot(app, &format!("bot {i}"));
        let c = rig.fake.add_contact(&bot, &format!("Contact {i}"));
        rig.fake.add_incoming(&c, "hi");
        contacts.push(c);
    }
    rig.engine.catch_up().await.unwrap();
    for (i, c) in contacts.iter().enumerate() {
        let chat = chat_id(c);
        rig.send(c, "hello", &format!("s-{i}"));
        for (n, a) in [
            Action::MarkRead {
                chat_id: chat.clone(),
            },
            Action::Open {
                chat_id: chat.clone(),
            },
            Action::Close {
                chat_id: chat.clone(),
            },
            Action::Assign {
                chat_id: chat.clone(),
                member_id: Some(MemberId::from("agent-1")),
            },
            Action::Assign {
                chat_id: chat.clone(),
                member_id: None,
            },
            Action::Pause {
                chat_id: chat.clone(),
                action: PauseAction::Start,
            },
            Action::Pause {
                chat_id: chat.clone(),
                action: PauseAction::Extend,
            },
            Action::Pause {
                chat_id: chat.clone(),
                action: PauseAction::Continue,
            },
            Action::EditSubscriber {
                subscriber_id: SubscriberId(format!("sp-{c}")),
                edit: SubscriberEdit {
                    variables: [("city".to_owned(), "Oslo".to_owned())].into(),
                    add_tags: vec!["vip".into()],
                    remove_tags: vec!["old".into()],
                    disable: true,
                    ..SubscriberEdit::default()
                },
            },
        ]
        .into_iter()
        .enumerate()
        {
            rig.queue(a, &format!("a-{i}-{n}"));
        }
    }
    rig.fake.fail_next("contacts/send", Fault::DropAfterAccept);
    rig.drain().await;
    // A contact first seen by a poll: its card is read.
    let bot = rig.fake.with(|s| s.bots[0].id.clone());
    let late = rig.fake.add_contact(&bot, "Late");
    rig.fake.add_incoming(&late, "hi");
    assert!(rig.store.outbox().unwrap().is_empty());
    rig.engine.catch_up().await.unwrap();
    rig.backend.poll_now(true).await.unwrap();
    rig.engine
        .load_older(&chat_id(&contacts[0]), None, 5)
        .await
        .unwrap();
    let requests = rig.fake.requests();
    assert!(requests.len() > 60, "{}", requests.len());
    let mut seen = std::collections::BTreeSet::new();
    for r in &requests {
        match contract.validate(r) {
            Ok(op) => {
                seen.insert(op);
            }
            Err(e) => panic!("{e}\n{r:?}"),
        }
    }
    for op in [
        "token",
        "dialogs",
        "bots",
        "chats",
        "messages",
        "contact",
        "markRead",
        "openChat",
        "closeChat",
        "assign",
        "unassign",
        "getPause",
        "setPause",
        "deletePause",
        "setVariable",
        "setTag",
        "deleteTag",
        "disableContact",
        "telegramSendText",
        "whatsappSend",
        "messengerSend",
        "instagramSend",
        "viberSend",
    ] {
        assert!(seen.iter().any(|s| s == op), "{op} never called: {seen:?}");
    }
}

// ---- the Client ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_s2_e1_the_client_logs_in_to_sendpulse_syncs_sends_and_forgets_it_at_logout() {
    use rapport_core::session::{FileSecretStore, SecretStore};
    use rapport_core::{Client, ClientConfig};
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let wa = fake.add_bot(SpApp::Whatsapp, "WA");
    let bob = fake.add_contact(&wa, "Bob");
    fake.add_incoming(&bob, "help");
    let dir = tempfile::tempdir().unwrap();
    let secrets: Arc<dyn SecretStore> = Arc::new(FileSecretStore::new(dir.path().join("s.json")));
    let config = || ClientConfig {
        store_path: dir.path().join("phone.db"),
        server_url: fake.url.clone(),
    };
    let client = Client::open(config(), secrets.clone()).unwrap();
    assert!(client.login_info().is_none());
    let bad = client.login_sendpulse(ID, "wrong", None).await;
    assert!(bad.is_err());
    assert!(client.login_info().is_none());
    let info = client.login_sendpulse(ID, SECRET, Some(9)).await.unwrap();
    assert_eq!(info.workspace_id, format!("sendpulse:{ID}"));
    let caps = client.capabilities();
    assert!(!caps.live_stream && !caps.edit_delete && !caps.quotes);
    // C1: no notes here: refused on the phone with the feature named.
    assert!(!caps.notes);
    let note = Action::AddNote {
        chat_id: ChatId::from("sp-any"),
        text: "n".into(),
    };
    let refused = client.check_action(&note).unwrap_err().to_string();
    assert_eq!(
        refused,
        rapport_core::ClientError::Refused(rapport_core::policy::Refusal::NotOffered {
            feature: "notes".into(),
        })
        .to_string()
    );
    // Push registration needs a server: a typed refusal.
    let err = client.notification_settings().await.unwrap_err();
    assert!(err.to_string().contains("not_supported"), "{err}");
    drop(client);

    // Reopened (a new process): the saved login picks the connector.
    let client = Client::open(config(), secrets.clone()).unwrap();
    assert!(client.is_sendpulse());
    client.start_sync().unwrap();
    let mut state = client.sync_state();
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| matches!(s, rapport_core::sync::SyncState::Live { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    let id = client
        .send(&chat_id(&bob), Draft::Text("hello Bob"), Some("k-client"))
        .unwrap();
    // The echo becomes the sent message under its id (the connector's
    // message_upserted, through the poll loop).
    wait_for("the send to show as sent", || {
        client
            .timeline_page(&chat_id(&bob), None, 50)
            .unwrap()
            .items
            .iter()
            .any(|i| {
                matches!(i, TimelineItem::Message(m)
                    if m.id == id && m.delivery == Some(Delivery::Sent))
            })
    })
    .await;
    assert_eq!(fake.outgoing_texts(&bob), vec!["hello Bob".to_owned()]);
    client.logout().await.unwrap();
    assert!(
        !std::fs::read_to_string(dir.path().join("s.json"))
            .unwrap_or_default()
            .contains(SECRET)
    );
    assert!(
        Client::open(config(), secrets)
            .unwrap()
            .login_info()
            .is_none()
    );
}

// ---- figures (run with --ignored --nocapture) ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, not a check: cargo test -p rapport-tests --test connector -- --ignored --nocapture"]
async fn s2_figure_requests_and_time_per_poll() {
    let rig = Rig::start(100).await;
    let bots = [
        rig.fake.add_bot(SpApp::Telegram, "TG"),
        rig.fake.add_bot(SpApp::Whatsapp, "WA"),
    ];
    let mut contacts = Vec::new();
    for i in 0..2_000 {
        let c = rig.fake.add_contact(&bots[i % 2], &format!("Person {i}"));
        rig.fake.add_incoming(&c, "hello");
        rig.fake.add_outgoing(&c, "menu");
        rig.fake.add_incoming(&c, "1");
        contacts.push(c);
    }
    let t = std::time::Instant::now();
    rig.engine.catch_up().await.unwrap();
    let first = (t.elapsed(), rig.fake.requests().len());
    let n = rig.fake.requests().len();
    let t = std::time::Instant::now();
    rig.engine.catch_up().await.unwrap();
    let steady = (t.elapsed(), rig.fake.requests().len() - n);
    rig.fake.add_incoming(&contacts[7], "new");
    let n = rig.fake.requests().len();
    let t = std::time::Instant::now();
    rig.engine.catch_up().await.unwrap();
    let one = (t.elapsed(), rig.fake.requests().len() - n);
    let n = rig.fake.requests().len();
    let t = std::time::Instant::now();
    rig.backend.poll_now(true).await.unwrap();
    let sweep = (t.elapsed(), rig.fake.requests().len() - n);
    println!(
        "connector, 2000 chats: first sync {:?} / {} requests; steady poll {:?} / {}; \
         poll with one new message {:?} / {}; full sweep {:?} / {}",
        first.0, first.1, steady.0, steady.1, one.0, one.1, sweep.0, sweep.1
    );
    // A steady poll is one dialogs page (the engine's catch-up also starts
    // the next page's pull before it knows it is done: one more).
    assert!(steady.1 <= 2, "{}", steady.1);
}
