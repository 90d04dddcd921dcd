//! The change report of a write: what a transaction touched, so that
//! `observe` recomputes only the windows that show it.

use crate::model::{BotId, ChatId, DealId, MemberId, MessageId, NoteId, Seq, SubscriberId};
use std::collections::{BTreeMap, BTreeSet};

/// One item of a chat's timeline (B1, C1): a message or a note.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimelineItemId {
    Message(MessageId),
    Note(NoteId),
}

/// What one write transaction changed. Empty when nothing did (for example
/// a batch of events already applied).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// The seq of the last event applied, if this write advanced it.
    pub last_seq: Option<Seq>,
    /// Chats whose list row changed in any way (new, state, assignee,
    /// activity, unread count, title, preview, pause).
    pub chats: BTreeSet<ChatId>,
    /// Per chat, the timeline items added, changed or removed.
    pub timelines: BTreeMap<ChatId, BTreeSet<TimelineItemId>>,
    pub subscribers: BTreeSet<SubscriberId>,
    pub members: BTreeSet<MemberId>,
    pub bots: BTreeSet<BotId>,
    pub deals: BTreeSet<DealId>,
    /// Whether any chat moved between buckets, so that status counts (A5)
    /// under some filter changed.
    pub counts: bool,
    /// Any chat may have changed (who "me" is changed, say): windows are
    /// recomputed from scratch rather than patched.
    pub all_chats: bool,
    /// I1 statistics moved.
    pub stats: bool,
    /// The store was rebuilt from a fresh snapshot (issue 16 hole 7): every
    /// window, timelines included, is read again whole.
    pub resync: bool,
    /// Who "me" became, if this write changed it.
    pub me: Option<MemberId>,
    /// Events applied.
    pub applied: u32,
    /// Events skipped because their seq was already applied.
    pub duplicates: u32,
    /// Events kept for later: unknown types, or about a chat not yet known.
    pub kept: u32,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.chats.is_empty()
            && self.timelines.is_empty()
            && self.subscribers.is_empty()
            && self.members.is_empty()
            && self.bots.is_empty()
            && self.deals.is_empty()
            && !self.counts
            && !self.all_chats
            && !self.stats
            && !self.resync
    }

    pub(crate) fn timeline(&mut self, chat: &ChatId, item: TimelineItemId) {
        // The chat's entry usually exists (a batch brings it several
        // items): its id is cloned only for a new one.
        match self.timelines.get_mut(chat) {
            Some(items) => {
                items.insert(item);
            }
            None => {
                self.timelines.insert(chat.clone(), BTreeSet::from([item]));
            }
        }
    }
}
