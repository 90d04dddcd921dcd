//! Listeners (foreign traits) and the handle that ends a subscription.
//!
//! Each `subscribe_*` calls its listener with the initial value before it
//! returns, then with every change. A batch of list diffs crosses the
//! boundary in one call. Listeners run on a core thread (the store's writer,
//! or the core's runtime): they must return quickly (post to the UI's
//! queue) and must not call back into the client from inside the call.
//! `TaskHandle::cancel()` or dropping the handle ends the subscription.

use rapport_core::model::ChatSummary;
use rapport_core::observe::{ListDiff, Subscription};
use rapport_core::store::TimelineItem;
use rapport_core::timers::TimerEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// One change to the chat list (S3); indexes refer to the list as it is
/// when the diff is applied, diffs applied in order.
#[derive(uniffi::Enum)]
pub enum ChatListDiff {
    Reset { values: Vec<ChatSummary> },
    Insert { index: u32, value: ChatSummary },
    Set { index: u32, value: ChatSummary },
    Remove { index: u32 },
}

/// One change to a timeline (S3), oldest item first.
#[derive(uniffi::Enum)]
pub enum TimelineDiff {
    Reset { values: Vec<TimelineItem> },
    Insert { index: u32, value: TimelineItem },
    Set { index: u32, value: TimelineItem },
    Remove { index: u32 },
}

macro_rules! from_list_diff {
    ($ffi:ident, $t:ty) => {
        impl From<ListDiff<$t>> for $ffi {
            fn from(d: ListDiff<$t>) -> Self {
                let i = |index: usize| u32::try_from(index).unwrap_or(u32::MAX);
                match d {
                    ListDiff::Reset { values } => $ffi::Reset { values },
                    ListDiff::Insert { index, value } => $ffi::Insert {
                        index: i(index),
                        value,
                    },
                    ListDiff::Set { index, value } => $ffi::Set {
                        index: i(index),
                        value,
                    },
                    ListDiff::Remove { index } => $ffi::Remove { index: i(index) },
                }
            }
        }
    };
}
from_list_diff!(ChatListDiff, ChatSummary);
from_list_diff!(TimelineDiff, TimelineItem);

/// What a listener may throw. Whatever a listener throws (this or any
/// other exception) is logged and dropped: it never unwinds into the core,
/// which calls listeners on its own threads with the store's write lock held.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    #[error("listener failed: {detail}")]
    Failed { detail: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { detail: e.reason }
    }
}

pub type Heard = Result<(), ListenerError>;

pub(crate) fn logged(result: Heard) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "a listener threw");
    }
}

#[uniffi::export(with_foreign)]
pub trait ChatListListener: Send + Sync {
    fn on_diffs(&self, diffs: Vec<ChatListDiff>) -> Heard;
}

#[uniffi::export(with_foreign)]
pub trait TimelineListener: Send + Sync {
    fn on_diffs(&self, diffs: Vec<TimelineDiff>) -> Heard;
}

#[uniffi::export(with_foreign)]
pub trait CountsListener: Send + Sync {
    fn on_counts(&self, counts: rapport_core::store::StatusCounts) -> Heard;
}

#[uniffi::export(with_foreign)]
pub trait SyncStateListener: Send + Sync {
    fn on_state(&self, state: crate::types::SyncState) -> Heard;
}

#[uniffi::export(with_foreign)]
pub trait TimerListener: Send + Sync {
    fn on_timer(&self, event: TimerEvent) -> Heard;
}

/// The foreign timer listeners: the core runs one set of timers per client
/// and tells this hub, which tells each listener.
#[derive(Default)]
pub(crate) struct TimerHub {
    listeners: Mutex<HashMap<u64, Arc<dyn TimerListener>>>,
    next: AtomicUsize,
}

impl TimerHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<dyn TimerListener>>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fire(&self, event: TimerEvent) {
        let listeners: Vec<_> = self.lock().values().cloned().collect();
        for l in listeners {
            logged(l.on_timer(event.clone()));
        }
    }

    pub(crate) fn add(self: &Arc<Self>, listener: Arc<dyn TimerListener>) -> Live {
        let id = self.next.fetch_add(1, Ordering::Relaxed) as u64;
        self.lock().insert(id, listener);
        Live::Timer(id, Arc::downgrade(self))
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// What a handle keeps alive; dropping it ends the subscription.
pub(crate) enum Live {
    /// Shared so `set_limit` runs without the handle's lock: the listener
    /// it calls may cancel the handle.
    View(Arc<Subscription>),
    Task(tokio::task::AbortHandle, Arc<AtomicUsize>),
    Timer(u64, Weak<TimerHub>),
}

impl Drop for Live {
    fn drop(&mut self) {
        match self {
            Live::View(_) => {}
            Live::Task(task, count) => {
                task.abort();
                count.fetch_sub(1, Ordering::Relaxed);
            }
            Live::Timer(id, hub) => {
                // Out of the lock before the listener is released.
                let removed = hub.upgrade().and_then(|h| h.lock().remove(id));
                drop(removed);
            }
        }
    }
}

/// A live subscription. `cancel()` ends it (so does dropping it: close it
/// from Kotlin with `use {}`/`close()`, from Swift by releasing it).
#[derive(uniffi::Object)]
pub struct TaskHandle {
    live: Mutex<Option<Live>>,
}

impl TaskHandle {
    pub(crate) fn new(live: Live) -> Arc<TaskHandle> {
        Arc::new(TaskHandle {
            live: Mutex::new(Some(live)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Ends the subscription; the listener hears nothing more after this
    /// returns (a list or counts listener) or after the call in flight (sync
    /// state, timers). Idempotent.
    pub fn cancel(&self) {
        let live = self.lock().take();
        drop(live);
    }

    pub fn is_active(&self) -> bool {
        self.lock().is_some()
    }

    /// Grows or shrinks a list or timeline window (the UI scrolled): the
    /// listener gets the rows added or removed at the end.
    pub fn set_limit(&self, limit: u32) -> crate::error::Result<()> {
        let view = match self.lock().as_ref() {
            Some(Live::View(s)) => Some(s.clone()),
            _ => None,
        };
        if let Some(s) = view {
            s.set_limit(limit)?;
        }
        Ok(())
    }
}
