//! Helpers shared by the end-to-end tests.

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

pub fn message(chat: &str, id: &str, sender: Sender, text: &str, at: Timestamp) -> Message {
    Message {
        id: MessageId::from(id),
        chat_id: ChatId::from(chat),
        sender,
        content: Content::Text { text: text.into() },
        sent_at: at,
        delivery: None,
        quote: None,
        reactions: Vec::new(),
        edited_at: None,
        deleted_at: None,
        in_reply_to_ad: None,
    }
}
