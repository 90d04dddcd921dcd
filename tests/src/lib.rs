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
