//! rapport-ffi from Rust, no server: the same calls the apps make, on a
//! generated store. (The Kotlin tests in bindings/kotlin cover the rest
//! through the real library and the real server.)

use rapport_core::generate::{GenConfig, Generator, me};
use rapport_core::model::ChatSummary;
use rapport_core::store::Store;
use rapport_ffi::listen::{ChatListDiff, ChatListListener, Heard, SyncStateListener};
use rapport_ffi::types::{ChatFilter, Outgoing, SyncState};
use rapport_ffi::{RapportClient, RapportError, SecretStore, SecretStoreError};
use std::sync::{Arc, Mutex};

struct NoSecrets;

impl SecretStore for NoSecrets {
    fn load(&self, _: String) -> Result<Option<String>, SecretStoreError> {
        Ok(None)
    }
    fn save(&self, _: String, _: String) -> Result<(), SecretStoreError> {
        Ok(())
    }
    fn delete(&self, _: String) -> Result<(), SecretStoreError> {
        Ok(())
    }
}

fn client(chats: usize) -> (tempfile::TempDir, Arc<RapportClient>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = Store::open(&path).unwrap();
        store.set_me(me()).unwrap();
        let mut g = Generator::new(GenConfig::new(chats, chats * 5));
        loop {
            let batch = g.batch(5_000);
            if batch.is_empty() {
                break;
            }
            store.apply(&batch).unwrap();
        }
    }
    let c = RapportClient::new(
        path.display().to_string(),
        "http://127.0.0.1:9".into(),
        Arc::new(NoSecrets),
    )
    .unwrap();
    (dir, c)
}

#[derive(Default)]
struct Rows(Mutex<Vec<ChatSummary>>);

impl ChatListListener for Rows {
    fn on_diffs(&self, diffs: Vec<ChatListDiff>) -> Heard {
        let mut rows = self.0.lock().unwrap();
        for d in diffs {
            match d {
                ChatListDiff::Reset { values } => *rows = values,
                ChatListDiff::Insert { index, value } => rows.insert(index as usize, value),
                ChatListDiff::Set { index, value } => rows[index as usize] = value,
                ChatListDiff::Remove { index } => {
                    rows.remove(index as usize);
                }
            }
        }
        Ok(())
    }
}

struct States(Mutex<Vec<SyncState>>);

impl SyncStateListener for States {
    fn on_state(&self, state: SyncState) -> Heard {
        self.0.lock().unwrap().push(state);
        Ok(())
    }
}

#[test]
fn s3_a1_a_subscription_starts_with_the_first_page_and_ends_with_its_handle() {
    let (_dir, c) = client(100);
    let page = c.chat_page(ChatFilter::default(), None, 20).unwrap();
    let rows = Arc::new(Rows::default());
    let h = c
        .subscribe_chat_list(ChatFilter::default(), 20, rows.clone())
        .unwrap();
    assert_eq!(*rows.0.lock().unwrap(), page.rows);
    let states = Arc::new(States(Mutex::new(Vec::new())));
    let s = c.subscribe_sync_state(states.clone()).unwrap();
    assert_eq!(*states.0.lock().unwrap(), [SyncState::Idle]);
    assert_eq!(c.live_subscriptions(), 2);
    h.cancel();
    assert!(!h.is_active());
    h.cancel(); // idempotent
    assert_eq!(c.live_subscriptions(), 1);
    drop(s); // dropping the handle ends it too
    assert_eq!(c.live_subscriptions(), 0);
}

#[test]
fn e1_refusals_and_errors_carry_stable_codes() {
    let (_dir, c) = client(20);
    let chat = c.chat_page(ChatFilter::default(), None, 1).unwrap().rows[0]
        .chat
        .id
        .clone();
    let long = "a".repeat(513);
    let d = c
        .decide(chat.clone(), Outgoing::Text { text: long.clone() })
        .unwrap();
    assert!(!d.is_allowed());
    let e = c.send_text(chat.clone(), long).unwrap_err();
    assert!(matches!(e, RapportError::Refused { .. }), "{e}");
    assert_eq!(e.code(), "text_too_long");
    let e = c.send_text("no-such-chat".into(), "hi".into()).unwrap_err();
    assert_eq!(e.code(), "unknown_chat");
    let e = c
        .send_text_keyed(chat, "hi".into(), "bad key!".into())
        .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    // Not logged in: sync cannot start.
    assert_eq!(c.start_sync().unwrap_err().code(), "not_logged_in");
}

/// Cancels its own subscription from inside its second call.
#[derive(Default)]
struct CancelsItself {
    handle: std::sync::OnceLock<Arc<rapport_ffi::TaskHandle>>,
    calls: Mutex<u32>,
}

impl ChatListListener for CancelsItself {
    fn on_diffs(&self, _: Vec<ChatListDiff>) -> Heard {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == 2 {
            self.handle.get().unwrap().cancel();
        }
        Ok(())
    }
}

#[test]
fn s3_set_limit_grows_the_window_and_a_listener_may_cancel_its_own_handle() {
    let (_dir, c) = client(50);
    let rows = Arc::new(Rows::default());
    let h = c
        .subscribe_chat_list(ChatFilter::default(), 5, rows.clone())
        .unwrap();
    assert_eq!(rows.0.lock().unwrap().len(), 5);
    h.set_limit(12).unwrap();
    let page = c.chat_page(ChatFilter::default(), None, 12).unwrap();
    assert_eq!(*rows.0.lock().unwrap(), page.rows);

    let l = Arc::new(CancelsItself::default());
    let h2 = c
        .subscribe_chat_list(ChatFilter::default(), 5, l.clone())
        .unwrap();
    let _ = l.handle.set(h2.clone());
    h2.set_limit(8).unwrap(); // the listener cancels inside this call
    assert!(!h2.is_active());
    assert_eq!(c.live_subscriptions(), 1, "only the first one is left");
    drop(h);
    assert_eq!(c.live_subscriptions(), 0);
}
