//! Timers (S4): the support window closing, the bot pause ending and a
//! Telegram message turning 48 hours old fire events at their deadlines,
//! on server time, without polling.
//!
//! [`Timers::start`] restores the deadlines from the store (so they survive
//! a restart), then listens to the store's commits and re-arms the
//! deadlines a change moved. Deadlines come from the policy rules
//! ([`crate::policy`]); the countdowns a screen shows come from
//! [`countdowns`].

pub mod clock;
mod scheduler;

pub use clock::{Clock, ManualClock, ServerClock};
pub use scheduler::{DeadlineKey, Scheduler, TimerEvent, TimerListener};

use crate::model::{App, Chat, ChatId, Timestamp};
use crate::policy::{edit, pause, window};
use crate::store::{Changes, CommitListener, Result, Store, TimelineItem, TimelineItemId};
use rusqlite::Connection;
use std::sync::Arc;

/// What a chat screen counts down (E4, E3/F7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Countdowns {
    pub window: window::WindowState,
    pub pause_left_ms: Option<i64>,
}

pub fn countdowns(chat: &Chat, now: Timestamp) -> Countdowns {
    Countdowns {
        window: window::state(chat.app, chat.last_inbound_at, now),
        pause_left_ms: pause::time_left_ms(chat.paused_until, now),
    }
}

/// A chat's own deadlines (window, pause), as they are now.
pub fn chat_deadlines(chat: &Chat) -> [(DeadlineKey, Option<Timestamp>); 2] {
    [
        (
            DeadlineKey::WindowCloses(chat.id.clone()),
            window::closes_at(chat.app, chat.last_inbound_at),
        ),
        (DeadlineKey::PauseEnds(chat.id.clone()), chat.paused_until),
    ]
}

/// The running timers of one store.
pub struct Timers {
    scheduler: Arc<Scheduler>,
}

impl Timers {
    /// Restores every future deadline from `store` and keeps them armed as
    /// the store changes. Events go to `listener` on the runtime.
    pub fn start(
        store: &Arc<Store>,
        clock: Arc<dyn Clock>,
        runtime: &tokio::runtime::Handle,
        listener: impl Fn(TimerEvent) + Send + Sync + 'static,
    ) -> Result<Timers> {
        let scheduler = Arc::new(Scheduler::start(runtime, clock.clone(), Arc::new(listener)));
        // Register first, then restore under the write lock: no commit can
        // slip between the two.
        store.add_listener(Arc::new(Rearm {
            scheduler: Arc::downgrade(&scheduler),
        }));
        let now = clock.now();
        let deadlines = store.with_writer(|conn| restore(conn, now))?;
        scheduler.set(deadlines);
        Ok(Timers { scheduler })
    }

    /// How many deadlines are armed.
    pub async fn armed(&self) -> usize {
        self.scheduler.armed().await
    }
}

/// Every deadline still ahead, read from the store. Only recent chats can
/// have one: a window is at most 7 days long and a Telegram message is
/// editable for 48 hours, so the activity index bounds the work (no scan of
/// the whole store at start-up); pauses have their own small index.
fn restore(conn: &Connection, now: Timestamp) -> Result<Vec<(DeadlineKey, Option<Timestamp>)>> {
    let longest_window = App::ALL
        .into_iter()
        .filter_map(window::length_ms)
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    let since = now.plus_millis(-longest_window.max(edit::EDIT_DELETE_MS));
    for chat in crate::store::chat_list::active_since(conn, since.0)? {
        out.extend(chat_deadlines(&chat));
        if chat.app == App::Telegram {
            out.extend(message_deadlines(
                conn,
                &chat,
                now.plus_millis(-edit::EDIT_DELETE_MS),
            )?);
        }
    }
    for chat in crate::store::chat_list::paused_after(conn, now.0)? {
        out.extend(chat_deadlines(&chat));
    }
    Ok(out)
}

/// B8 deadlines of a Telegram chat's messages sent since `since`.
fn message_deadlines(
    conn: &Connection,
    chat: &Chat,
    since: Timestamp,
) -> Result<Vec<(DeadlineKey, Option<Timestamp>)>> {
    let items = crate::store::timeline::since(conn, &chat.id, since.0)?;
    Ok(items
        .iter()
        .filter_map(|i| item_deadline(chat, i))
        .collect())
}

fn item_deadline(chat: &Chat, item: &TimelineItem) -> Option<(DeadlineKey, Option<Timestamp>)> {
    match item {
        TimelineItem::Message(m) => {
            let at =
                edit::deadline(chat.app, &m.sender, m.sent_at).filter(|_| m.deleted_at.is_none());
            Some((
                DeadlineKey::EditDeleteEnds(chat.id.clone(), m.id.clone()),
                at,
            ))
        }
        TimelineItem::Note(_) => None,
    }
}

/// Re-arms the deadlines a commit moved.
struct Rearm {
    scheduler: std::sync::Weak<Scheduler>,
}

impl CommitListener for Rearm {
    fn committed(&self, conn: &Connection, changes: &Changes) {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return;
        };
        match rearm(conn, changes) {
            Ok(list) => scheduler.set(list),
            Err(e) => tracing::error!(error = %e, "timers not re-armed"),
        }
    }
}

fn rearm(conn: &Connection, changes: &Changes) -> Result<Vec<(DeadlineKey, Option<Timestamp>)>> {
    let ids: Vec<ChatId> = changes
        .chats
        .iter()
        .chain(changes.timelines.keys())
        .cloned()
        .collect();
    let mut out = Vec::new();
    for row in crate::store::chat_list::rows_by_ids(conn, &ids)? {
        let chat = row.chat;
        if changes.chats.contains(&chat.id) {
            out.extend(chat_deadlines(&chat));
        }
        if chat.app == App::Telegram
            && let Some(items) = changes.timelines.get(&chat.id)
        {
            let items: Vec<TimelineItemId> = items.iter().cloned().collect();
            for (_, item) in crate::store::timeline::items_by_ids(conn, &chat.id, &items)? {
                out.extend(item_deadline(&chat, &item));
            }
        }
    }
    Ok(out)
}
