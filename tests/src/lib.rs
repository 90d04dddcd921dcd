//! Helpers shared by the end-to-end tests.

/// The fake SendPulse lives in rapport-sendpulse (feature `fake`) so that
/// `rapport demo --sendpulse` can run on it too.
pub use rapport_sendpulse::fake as fake_sendpulse;
pub mod noisy;

use rapport_core::generate::{GenConfig, Generator, me};
use rapport_core::model::Event;
use rapport_core::store::{ChatFilter, Store};
use std::sync::Arc;

/// A store in a temporary directory (deleted on drop).
pub struct TempStore {
    pub store: Arc<Store>,
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path().join("rapport.db")).expect("open store"));
        store.set_me(me()).expect("set me");
        TempStore { store, dir }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("rapport.db")
    }

    /// A store filled with a generated workspace.
    pub fn generated(cfg: GenConfig) -> TempStore {
        let t = TempStore::new();
        let mut g = Generator::new(cfg);
        loop {
            let batch = g.batch(5_000);
            if batch.is_empty() {
                break;
            }
            t.store.apply(&batch).expect("apply");
        }
        t
    }

    pub fn apply(&self, events: &[Event]) {
        self.store.apply(events).expect("apply");
    }

    /// Every chat id of a filter's list, walking all pages.
    pub fn all_ids(&self, filter: &ChatFilter, page: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let p = self.store.chat_page(filter, after, page).expect("page");
            out.extend(p.rows.iter().map(|r| r.chat.id.0.clone()));
            match p.next {
                Some(n) => after = Some(n),
                None => return out,
            }
        }
    }
}

impl Default for TempStore {
    fn default() -> Self {
        Self::new()
    }
}

use rapport_core::model::*;

/// Builds events with increasing seqs and times.
pub struct Events {
    pub seq: u64,
    pub now: i64,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            seq: 0,
            now: 1_760_000_000_000,
        }
    }
}

impl Events {
    pub fn ev(&mut self, payload: EventPayload) -> Event {
        self.seq += 1;
        self.now += 1_000;
        Event {
            seq: Seq(self.seq),
            at: Timestamp(self.now),
            payload,
        }
    }

    pub fn chat(&mut self, id: &str, app: App, title: &str) -> Event {
        let now = self.now;
        self.ev(EventPayload::ChatUpserted(Chat {
            id: ChatId::from(id),
            bot_id: BotId::from("b1"),
            app,
            kind: ChatKind::Personal,
            subscriber_id: SubscriberId(format!("s-{id}")),
            title: title.into(),
            avatar_url: None,
            state: ChatState::Open,
            assignee: None,
            last_activity: Timestamp(now),
            unread_count: 0,
            last_inbound_at: None,
            paused_until: None,
        }))
    }

    pub fn message(&mut self, chat: &str, id: &str, sender: Sender, text: &str) -> Event {
        let at = Timestamp(self.now + 1_000);
        self.ev(EventPayload::MessageUpserted(message(
            chat, id, sender, text, at,
        )))
    }

    pub fn inbound(&mut self, chat: &str, id: &str, text: &str) -> Event {
        self.message(chat, id, Sender::Subscriber, text)
    }
}

/// A text message (see [`rapport_core::generate::text_message`]).
pub use rapport_core::generate::text_message as message;

/// A reference server on a loopback port with a seeded workspace "w1" and
/// agents, and a second workspace "w2" for isolation tests.
pub struct TestServer {
    pub server: rapport_server::RunningServer,
    pub dir: tempfile::TempDir,
    /// The generator that seeded w1, to simulate more activity.
    pub generator: Option<rapport_core::generate::Generator>,
}

pub const PASSWORD: &str = "correct horse";

impl TestServer {
    /// Must run inside a tokio runtime.
    pub async fn start(chats: usize, messages: usize) -> TestServer {
        Self::start_with_clock(chats, messages, None).await
    }

    /// A server on a given clock (a manual one to hit rule boundaries).
    pub async fn start_with_clock(
        chats: usize,
        messages: usize,
        clock: Option<std::sync::Arc<dyn rapport_core::timers::Clock>>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = rapport_server::start(rapport_server::ServerConfig {
            db: dir.path().join("server.db"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            heartbeat_ms: 300,
            clock,
        })
        .await
        .expect("server starts");
        let state = server.state.clone();
        let generator = tokio::task::spawn_blocking(move || {
            let hub = &state.hub;
            let w1 = hub.create_workspace("w1", "One").expect("w1");
            let generator =
                rapport_server::sim::seed(hub, &w1, GenConfig::new(chats, messages)).expect("seed");
            let member = |id: &str, access: bool| Member {
                id: MemberId::from(id),
                name: format!("Agent {id}"),
                avatar_url: None,
                role: if access { "Agent" } else { "Viewer" }.into(),
                conversations_access: access,
            };
            hub.add_account(&w1, "u0@w1.test", PASSWORD, member("u0", true))
                .expect("u0");
            hub.add_account(&w1, "u1@w1.test", PASSWORD, member("u1", true))
                .expect("u1");
            hub.add_account(&w1, "viewer@w1.test", PASSWORD, member("u3", false))
                .expect("viewer");
            let w2 = hub.create_workspace("w2", "Two").expect("w2");
            rapport_server::sim::seed(hub, &w2, GenConfig::new(5, 20)).expect("seed w2");
            hub.add_account(&w2, "u0@w2.test", PASSWORD, member("x0", true))
                .expect("x0");
            generator
        })
        .await
        .expect("seeding");
        TestServer {
            server,
            dir,
            generator: Some(generator),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The server stopped and started again on the same files (on a new
    /// port), after `offline` ran on `server.db`'s path while it was down:
    /// what a crash or a power loss left behind, say. Stop the clients of
    /// the old one first: its open connections keep it alive.
    pub async fn restarted(self, offline: impl FnOnce(&std::path::Path)) -> TestServer {
        let TestServer {
            server,
            dir,
            generator,
        } = self;
        drop(server);
        let db = dir.path().join("server.db");
        offline(&db);
        let server = rapport_server::start(rapport_server::ServerConfig {
            db,
            listen: "127.0.0.1:0".parse().expect("addr"),
            heartbeat_ms: 300,
            clock: None,
        })
        .await
        .expect("server restarts");
        TestServer {
            server,
            dir,
            generator,
        }
    }

    /// A backend of this server with no session yet (each is one device).
    pub fn backend(&self) -> rapport_core::sync::RapportBackend {
        rapport_core::sync::RapportBackend::new(
            &self.url(),
            Arc::new(rapport_core::timers::ServerClock::default()),
        )
        .expect("backend")
    }

    pub fn workspace(&self, id: &str) -> std::sync::Arc<rapport_server::hub::Workspace> {
        self.server.state.hub.workspace(id).expect("workspace")
    }

    pub fn head(&self, id: &str) -> Seq {
        self.server
            .state
            .hub
            .head(&self.workspace(id))
            .expect("head")
    }
}

/// Polls `ok` every 20 ms until it holds; panics after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The texts of a chat's messages that start with `prefix`, oldest first.
pub fn texts_with_prefix(store: &Store, chat: &str, prefix: &str) -> Vec<String> {
    store
        .messages_before(&ChatId::from(chat), None, u32::MAX)
        .expect("messages")
        .0
        .into_iter()
        .filter_map(|m| match m.content {
            Content::Text { text } if text.starts_with(prefix) => Some(text),
            _ => None,
        })
        .collect()
}

/// A 2-worker runtime for tests that drive async pieces from plain threads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

impl TestServer {
    /// A subscriber of `chat` writes now (server time): its window opens.
    pub fn subscriber_writes(&self, chat: &str, message_id: &str) {
        let m = message(
            chat,
            message_id,
            Sender::Subscriber,
            "help",
            self.server.state.hub.now(),
        );
        self.server
            .state
            .hub
            .emit(
                &self.workspace("w1"),
                vec![EventPayload::MessageUpserted(m)],
            )
            .expect("emit");
    }
}

impl TestServer {
    /// Three fresh chats of subscriber s1 in w1 for the action tests:
    /// `tg` (Telegram: a bot message `bot-1` and the subscriber's `sub-1`
    /// just now, and a bot message `bot-old` of three days ago), `wa`
    /// (WhatsApp: the subscriber wrote two days ago, the window is closed)
    /// and `fb` (Messenger, the same: a tag may still go out).
    pub fn action_chats(&self) {
        let now = self.server.state.hub.now();
        let ago = |days: i64| now.plus_millis(-days * 86_400_000);
        let chat = |id: &str, app: App, last_inbound: Timestamp| {
            EventPayload::ChatUpserted(Chat {
                id: ChatId::from(id),
                bot_id: BotId::from("b-telegram-0"),
                app,
                kind: ChatKind::Personal,
                subscriber_id: SubscriberId::from("s1"),
                title: "Ana".into(),
                avatar_url: None,
                state: ChatState::Open,
                assignee: None,
                last_activity: now,
                unread_count: 0,
                last_inbound_at: Some(last_inbound),
                paused_until: None,
            })
        };
        let msg = |chat: &str, id: &str, sender: Sender, at: Timestamp| {
            EventPayload::MessageUpserted(message(chat, id, sender, "hello", at))
        };
        self.server
            .state
            .hub
            .emit(
                &self.workspace("w1"),
                vec![
                    chat("tg", App::Telegram, now),
                    chat("wa", App::Whatsapp, ago(2)),
                    chat("fb", App::Messenger, ago(2)),
                    msg("tg", "bot-old", Sender::Bot, ago(3)),
                    msg("tg", "bot-1", Sender::Bot, now),
                    msg("tg", "sub-1", Sender::Subscriber, now),
                    msg("wa", "wa-1", Sender::Subscriber, ago(2)),
                    msg("fb", "fb-1", Sender::Subscriber, ago(2)),
                ],
            )
            .expect("emit");
    }
}

impl TestServer {
    /// A client of this server on the store and secrets in `dir`, logged in
    /// as `email` (or with the session it saved there before). Not syncing.
    pub fn client(
        &self,
        dir: &std::path::Path,
        rt: &tokio::runtime::Runtime,
        email: &str,
    ) -> rapport_core::Client {
        let secrets = Arc::new(rapport_core::session::FileSecretStore::new(
            dir.join("secrets.json"),
        ));
        let c = rapport_core::Client::open(
            rapport_core::ClientConfig {
                store_path: dir.join("rapport.db"),
                server_url: self.url(),
            },
            secrets,
        )
        .expect("client opens");
        if c.login_info().is_none() {
            rt.block_on(c.login(email, PASSWORD)).expect("login");
        }
        c
    }

    /// Starts `c` syncing and waits until it has every event logged now.
    pub fn sync(&self, c: &rapport_core::Client) {
        c.start_sync().expect("sync starts");
        let head = self.head("w1");
        wait_until("the client to catch up", 30, || {
            c.last_seq().expect("seq") >= head
        });
    }
}

impl TestServer {
    /// Chats c1..c3 of w1 on WhatsApp with a subscriber message just now
    /// (an open window), so replies queued for them are allowed when they
    /// go out (the outbox and migration tests).
    pub fn open_chats(&self) {
        let w1 = self.workspace("w1");
        let now = self.server.state.hub.now();
        let mut events = Vec::new();
        for i in 1..=3 {
            let id = format!("c{i}");
            let mut chat = w1
                .store
                .chat(&ChatId(id.clone()))
                .expect("chat")
                .expect("c1..c3 are seeded")
                .chat;
            chat.app = App::Whatsapp;
            events.push(EventPayload::ChatUpserted(chat));
            events.push(EventPayload::MessageUpserted(message(
                &id,
                &format!("open-{i}"),
                Sender::Subscriber,
                "help",
                now,
            )));
        }
        self.server.state.hub.emit(&w1, events).expect("emit");
    }
}
