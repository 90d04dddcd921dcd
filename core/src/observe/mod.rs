//! Observable state (S3): live windows over the store.
//!
//! A screen subscribes to a chat-list window (a filter and a size), a
//! timeline window (a chat and a size) or the status counts of a filter.
//! The listener first receives the whole window as one `Reset`, then, after
//! every write that touches it, the `Insert` / `Set` / `Remove` diffs that
//! turn the old window into the new one, computed from the write's
//! [`Changes`] report (only the changed rows are read back, never the
//! whole list). Dropping the [`Subscription`] ends it.
//!
//! Listeners run on the writing thread, right after the commit and before
//! the next write can commit, so diffs always arrive in commit order. They
//! must return quickly and must not write to the store.

mod diff;
mod window;

pub use diff::ListDiff;

use crate::model::{ChatId, ChatSummary};
use crate::store::{
    Changes, ChatFilter, ChatKey, Result, StatusCounts, Store, TimelineItem, TimelineItemId,
    TimelineKey,
};
use crate::store::{chat_list as chat_rows, timeline as timeline_rows};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use window::{Order, Window};

pub type ListListener<T> = Arc<dyn Fn(Vec<ListDiff<T>>) + Send + Sync>;
pub type CountsListener = Arc<dyn Fn(StatusCounts) + Send + Sync>;

struct ChatListSub {
    filter: ChatFilter,
    window: Window<ChatKey, ChatSummary>,
    listener: ListListener<ChatSummary>,
}

struct TimelineSub {
    chat: ChatId,
    chat_rid: i64,
    window: Window<TimelineKey, TimelineItem>,
    listener: ListListener<TimelineItem>,
}

struct CountsSub {
    filter: ChatFilter,
    last: StatusCounts,
    listener: CountsListener,
}

#[derive(Default)]
struct Subs {
    lists: HashMap<u64, ChatListSub>,
    timelines: HashMap<u64, TimelineSub>,
    counts: HashMap<u64, CountsSub>,
}

struct Inner {
    store: Weak<Store>,
    subs: Mutex<Subs>,
    next_id: AtomicU64,
}

/// Live windows over one store.
#[derive(Clone)]
pub struct Observer {
    inner: Arc<Inner>,
    store: Arc<Store>,
}

/// A live subscription; dropping it (or calling [`Subscription::cancel`])
/// ends it.
pub struct Subscription {
    inner: Weak<Inner>,
    store: Weak<Store>,
    id: u64,
}

type Deliveries = Vec<Box<dyn FnOnce() + Send>>;

fn lock(m: &Mutex<Subs>) -> std::sync::MutexGuard<'_, Subs> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Observer {
    pub fn new(store: Arc<Store>) -> Observer {
        let inner = Arc::new(Inner {
            store: Arc::downgrade(&store),
            subs: Mutex::new(Subs::default()),
            next_id: AtomicU64::new(1),
        });
        store.add_listener(Arc::new(Hook(Arc::downgrade(&inner))));
        Observer { inner, store }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A1–A6: the first `limit` rows of the chat list under `filter`.
    pub fn subscribe_chat_list(
        &self,
        filter: ChatFilter,
        limit: u32,
        listener: impl Fn(Vec<ListDiff<ChatSummary>>) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        let listener: ListListener<ChatSummary> = Arc::new(listener);
        let id = self.next_id();
        self.store.with_writer(|conn| {
            let rows = chat_rows::window(conn, &filter, None, limit as usize)?;
            let window = Window::new(rows, limit as usize, Order::Descending);
            listener(vec![ListDiff::Reset {
                values: window.values(),
            }]);
            lock(&self.inner.subs).lists.insert(
                id,
                ChatListSub {
                    filter,
                    window,
                    listener,
                },
            );
            Ok::<(), crate::store::StoreError>(())
        })?;
        Ok(self.subscription(id))
    }

    /// B1/C1: the newest `limit` items of a chat's timeline, oldest first.
    pub fn subscribe_timeline(
        &self,
        chat: ChatId,
        limit: u32,
        listener: impl Fn(Vec<ListDiff<TimelineItem>>) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        let listener: ListListener<TimelineItem> = Arc::new(listener);
        let id = self.next_id();
        self.store.with_writer(|conn| {
            let chat_rid = timeline_rows::chat_rid(conn, &chat)?
                .ok_or(crate::store::StoreError::UnknownChat)?;
            let rows = timeline_rows::page(conn, chat_rid, &chat, None, limit)?;
            let window = Window::new(rows, limit as usize, Order::Ascending);
            listener(vec![ListDiff::Reset {
                values: window.values(),
            }]);
            lock(&self.inner.subs).timelines.insert(
                id,
                TimelineSub {
                    chat,
                    chat_rid,
                    window,
                    listener,
                },
            );
            Ok::<(), crate::store::StoreError>(())
        })?;
        Ok(self.subscription(id))
    }

    /// A5: the live counts of the status lists under `filter`.
    pub fn subscribe_counts(
        &self,
        filter: ChatFilter,
        listener: impl Fn(StatusCounts) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        let listener: CountsListener = Arc::new(listener);
        let id = self.next_id();
        self.store.with_writer(|conn| {
            let last = chat_rows::counts(conn, &filter)?;
            listener(last);
            lock(&self.inner.subs).counts.insert(
                id,
                CountsSub {
                    filter,
                    last,
                    listener,
                },
            );
            Ok::<(), crate::store::StoreError>(())
        })?;
        Ok(self.subscription(id))
    }

    /// How many subscriptions are live (for leak tests and diagnostics).
    pub fn live_subscriptions(&self) -> usize {
        let s = lock(&self.inner.subs);
        s.lists.len() + s.timelines.len() + s.counts.len()
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn subscription(&self, id: u64) -> Subscription {
        Subscription {
            inner: Arc::downgrade(&self.inner),
            store: Arc::downgrade(&self.store),
            id,
        }
    }
}

impl Subscription {
    /// Grows or shrinks the window (the UI scrolled); the listener gets the
    /// rows added at or removed from the end. A no-op on a counts
    /// subscription.
    pub fn set_limit(&self, limit: u32) -> Result<()> {
        let (Some(inner), Some(store)) = (self.inner.upgrade(), self.store.upgrade()) else {
            return Ok(());
        };
        let limit = limit as usize;
        store.with_writer(|conn| {
            let delivery: Option<Box<dyn FnOnce() + Send>> = {
                let mut subs = lock(&inner.subs);
                if let Some(s) = subs.lists.get_mut(&self.id) {
                    let diffs = s.window.set_limit(limit, |after, n| {
                        chat_rows::window(conn, &s.filter, after, n)
                    })?;
                    Some(deliver(&s.listener, diffs))
                } else if let Some(s) = subs.timelines.get_mut(&self.id) {
                    let diffs = s.window.set_limit(limit, |after, n| {
                        timeline_rows::page(conn, s.chat_rid, &s.chat, after, n as u32)
                    })?;
                    Some(deliver(&s.listener, diffs))
                } else {
                    None
                }
            };
            if let Some(d) = delivery {
                d();
            }
            Ok(())
        })
    }

    /// Ends the subscription now (dropping it does the same).
    pub fn cancel(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            // Take the entries out, drop them after the lock: a listener
            // may own another subscription whose drop locks again.
            let removed = {
                let mut s = lock(&inner.subs);
                (
                    s.lists.remove(&self.id),
                    s.timelines.remove(&self.id),
                    s.counts.remove(&self.id),
                )
            };
            drop(removed);
        }
    }
}

fn deliver<T: Send + Sync + 'static>(
    listener: &ListListener<T>,
    diffs: Vec<ListDiff<T>>,
) -> Box<dyn FnOnce() + Send> {
    let l = listener.clone();
    Box::new(move || {
        if !diffs.is_empty() {
            l(diffs)
        }
    })
}

/// The commit listener registered with the store.
struct Hook(Weak<Inner>);

impl crate::store::CommitListener for Hook {
    fn committed(&self, conn: &Connection, changes: &Changes) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let Some(store) = inner.store.upgrade() else {
            return;
        };
        // Compute every diff under the subs lock, deliver after releasing
        // it, so a listener may drop its own subscription.
        let deliveries = {
            let mut subs = lock(&inner.subs);
            compute(&mut subs, conn, changes, &store)
        };
        for d in deliveries {
            d();
        }
    }
}

fn compute(subs: &mut Subs, conn: &Connection, changes: &Changes, store: &Store) -> Deliveries {
    let me = store.me();
    let mut out: Deliveries = Vec::new();
    if changes.all_chats || !changes.chats.is_empty() {
        let changed: Vec<ChatId> = changes.chats.iter().cloned().collect();
        for s in subs.lists.values_mut() {
            let result = if changes.all_chats || changed.len() > s.window.limit() {
                chat_rows::window(conn, &s.filter, None, s.window.limit())
                    .map(|rows| vec![s.window.reset(rows)])
            } else {
                chat_rows::changed(conn, &s.filter, me.as_ref(), &changed).and_then(|fresh| {
                    s.window.update(
                        &changed,
                        fresh,
                        |c| c.chat.id.clone(),
                        |after, n| chat_rows::window(conn, &s.filter, after, n),
                    )
                })
            };
            // A window that could not be patched is read again whole.
            let result = result.or_else(|e| {
                tracing::warn!(error = %e, "chat list window re-read after an error");
                chat_rows::window(conn, &s.filter, None, s.window.limit())
                    .map(|rows| vec![s.window.reset(rows)])
            });
            match result {
                Ok(diffs) => out.push(deliver(&s.listener, diffs)),
                Err(e) => tracing::error!(error = %e, "chat list window not updated"),
            }
        }
    }
    for s in subs.timelines.values_mut() {
        if changes.resync {
            // Rebuilt from a snapshot: the chat's local key changed (or the
            // chat is gone): the window is read again whole.
            let result = timeline_rows::chat_rid(conn, &s.chat).and_then(|rid| {
                s.chat_rid = rid.unwrap_or(-1);
                timeline_rows::page(conn, s.chat_rid, &s.chat, None, s.window.limit() as u32)
            });
            match result {
                Ok(rows) => out.push(deliver(&s.listener, vec![s.window.reset(rows)])),
                Err(e) => tracing::error!(error = %e, "timeline window not updated"),
            }
            continue;
        }
        let Some(items) = changes.timelines.get(&s.chat) else {
            continue;
        };
        let changed: Vec<TimelineItemId> = items.iter().cloned().collect();
        let result = timeline_rows::items_by_ids(conn, &s.chat, &changed).and_then(|fresh| {
            s.window
                .update(&changed, fresh, TimelineItem::id, |after, n| {
                    timeline_rows::page(conn, s.chat_rid, &s.chat, after, n as u32)
                })
        });
        let result = result.or_else(|e| {
            tracing::warn!(error = %e, "timeline window re-read after an error");
            timeline_rows::page(conn, s.chat_rid, &s.chat, None, s.window.limit() as u32)
                .map(|rows| vec![s.window.reset(rows)])
        });
        match result {
            Ok(diffs) => out.push(deliver(&s.listener, diffs)),
            Err(e) => tracing::error!(error = %e, "timeline window not updated"),
        }
    }
    if changes.counts || changes.all_chats {
        for s in subs.counts.values_mut() {
            match chat_rows::counts(conn, &s.filter) {
                Ok(now) if now != s.last => {
                    s.last = now;
                    let l = s.listener.clone();
                    out.push(Box::new(move || l(now)));
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "status counts not updated"),
            }
        }
    }
    out
}
