//! What an app (or the console) reads through its [`Client`], grouped by
//! the screen that needs it. Each method is a thin delegation to the store
//! or its live windows, so neither is part of the client's surface: the
//! store stays an implementation detail of the core.
//!
//! Everything here is offline (no network): it answers from the store as
//! the last sync left it. So the store's reads return its own error
//! ([`StoreError`](crate::store::StoreError), which a [`ClientResult`]
//! takes with `?`), and each caller keeps mapping it as it did before.
//! The reads that go through the server (older history, notification
//! settings) are `async` methods on [`Client`] itself, next to the
//! session.

use super::{Client, ClientError, ClientResult};
use crate::model::{
    App, Bot, BotId, BotStats, ChatId, ChatSummary, Deal, DealId, Member, MemberId, Seq,
    Subscriber, SubscriberId,
};
use crate::observe::{ListDiff, Subscription};
use crate::outbox::OutboxEntry;
use crate::policy::viber::{self, ViberMonth};
use crate::store::{
    ChatCursor, ChatFilter, ChatPage, Result as StoreResult, StatusCounts, TimelineCursor,
    TimelineItem, TimelineItemId, TimelinePage,
};
use crate::sync::{Backend, Capabilities};
use crate::timers::Countdowns;

/// The inbox: chat list pages, counts, search and filters, home.
impl Client {
    /// A1–A6: a page of the chat list under `filter` (app, type, assignee,
    /// status, search), newest first, after `after` (the first page when
    /// `None`).
    pub fn chat_page(
        &self,
        filter: &ChatFilter,
        after: Option<ChatCursor>,
        limit: u32,
    ) -> StoreResult<ChatPage> {
        self.store.chat_page(filter, after, limit)
    }

    /// A5: the counts of the status lists under the filter's app, type and
    /// assignee.
    pub fn status_counts(&self, filter: &ChatFilter) -> StoreResult<StatusCounts> {
        self.store.status_counts(filter)
    }

    /// A7: home, the latest message of each chat with its status, newest
    /// first.
    pub fn home(&self, limit: u32) -> StoreResult<Vec<ChatSummary>> {
        self.store.home(limit)
    }
}

/// A chat: its row, its timeline, its countdowns.
impl Client {
    /// One chat's list row (`None` if the store has no such chat).
    pub fn chat(&self, id: &ChatId) -> StoreResult<Option<ChatSummary>> {
        self.store.chat(id)
    }

    /// B1/C1: up to `limit` timeline items (messages and notes) older than
    /// `before` (the newest when `None`), oldest first.
    pub fn timeline_page(
        &self,
        chat: &ChatId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<TimelinePage> {
        self.store.timeline_page(chat, before, limit)
    }

    /// One timeline item of a chat by id (a message's delivery state, a
    /// note being edited).
    pub fn timeline_item(
        &self,
        chat: &ChatId,
        id: &TimelineItemId,
    ) -> StoreResult<Option<TimelineItem>> {
        self.store.timeline_item(chat, id)
    }

    /// E4, E3/F7: the window and pause countdowns of a chat now, on server
    /// time. `UnknownChat` if the store has no such chat.
    pub fn countdowns(&self, chat: &ChatId) -> ClientResult<Countdowns> {
        let row = self.store.chat(chat)?.ok_or(ClientError::UnknownChat)?;
        Ok(crate::timers::countdowns(&row.chat, self.server_now()))
    }

    /// H2: whether the agent muted the chat's notifications on this device
    /// ([`Client::set_muted`]); `false` for a chat never muted.
    pub fn is_muted(&self, chat: &ChatId) -> StoreResult<bool> {
        Ok(self.store.push_state(chat)?.1)
    }
}

/// The subscriber card and the CRM.
impl Client {
    /// F1–F8: a subscriber's card.
    pub fn subscriber(&self, id: &SubscriberId) -> StoreResult<Option<Subscriber>> {
        self.store.subscriber(id)
    }

    /// G1–G3: a subscriber's deals, most recently updated first.
    pub fn deals(&self, subscriber: &SubscriberId) -> StoreResult<Vec<Deal>> {
        self.store.deals(subscriber)
    }

    /// G3: one deal.
    pub fn deal(&self, id: &DealId) -> StoreResult<Option<Deal>> {
        self.store.deal(id)
    }
}

/// E6: the Viber month's use, for the composer of a Viber chat.
impl Client {
    /// E6: the month's use of the chat's bot now, on server time ("N free
    /// bot-initiated messages left this month" or "paid"). `None` for a
    /// chat outside Viber; `UnknownChat` if the store has no such chat.
    pub fn viber_month(&self, chat: &ChatId) -> ClientResult<Option<ViberMonth>> {
        let row = self.store.chat(chat)?.ok_or(ClientError::UnknownChat)?;
        if row.chat.app != App::Viber {
            return Ok(None);
        }
        let quota = self
            .store
            .viber_quota(&row.chat.bot_id, self.server_now())?;
        Ok(Some(viber::month(quota)))
    }

    /// E6: the same for a bot; `None` if the store does not know it as a
    /// Viber bot.
    pub fn viber_bot_month(&self, bot: &BotId) -> StoreResult<Option<ViberMonth>> {
        if !self
            .store
            .bots()?
            .iter()
            .any(|b| &b.id == bot && b.app == App::Viber)
        {
            return Ok(None);
        }
        let quota = self.store.viber_quota(bot, self.server_now())?;
        Ok(Some(viber::month(quota)))
    }
}

/// The team, the bots and their statistics.
impl Client {
    /// A4: the member "mine" means (the logged-in one, as the store has
    /// it); `None` before the first login.
    pub fn me(&self) -> Option<MemberId> {
        self.store.me()
    }

    /// D1: the team; `assignable_only` keeps the members whose role grants
    /// "conversations and audience".
    pub fn members(&self, assignable_only: bool) -> StoreResult<Vec<Member>> {
        self.store.members(assignable_only)
    }

    /// The workspace's bots (the statistics name them).
    pub fn bots(&self) -> StoreResult<Vec<Bot>> {
        self.store.bots()
    }

    /// I1: the total first, then each bot.
    pub fn stats(&self) -> StoreResult<Vec<BotStats>> {
        self.store.stats()
    }
}

/// The outbox, the sync's progress and what the backend can do.
impl Client {
    /// E7: every command not yet confirmed, oldest first; failed ones with
    /// their code.
    pub fn outbox(&self) -> StoreResult<Vec<OutboxEntry>> {
        self.store.outbox()
    }

    /// S5: how many commands are not yet confirmed (a logout drops them).
    pub fn unsent_commands(&self) -> StoreResult<u64> {
        self.store.unsent_commands()
    }

    /// S2: the seq of the last event the store applied (how far this
    /// client is in the workspace's change feed).
    pub fn last_seq(&self) -> StoreResult<Seq> {
        self.store.last_seq()
    }

    /// What the backend can do (live stream, B8 edits and deletes, B6
    /// quotes, idempotency keys), so a screen hides what it cannot.
    pub fn capabilities(&self) -> Capabilities {
        self.connector.capabilities()
    }
}

/// Live windows (S3): a first `Reset`, then small diffs after each commit
/// that changes what the window shows, until the subscription is dropped.
impl Client {
    /// A1–A6: the first `limit` rows of the chat list under `filter`.
    pub fn subscribe_chat_list(
        &self,
        filter: ChatFilter,
        limit: u32,
        listener: impl Fn(Vec<ListDiff<ChatSummary>>) + Send + Sync + 'static,
    ) -> StoreResult<Subscription> {
        self.observer.subscribe_chat_list(filter, limit, listener)
    }

    /// B1/C1: the newest `limit` items of a chat's timeline, oldest first.
    pub fn subscribe_timeline(
        &self,
        chat: ChatId,
        limit: u32,
        listener: impl Fn(Vec<ListDiff<TimelineItem>>) + Send + Sync + 'static,
    ) -> StoreResult<Subscription> {
        self.observer.subscribe_timeline(chat, limit, listener)
    }

    /// A5: the live counts of the status lists under `filter`.
    pub fn subscribe_counts(
        &self,
        filter: ChatFilter,
        listener: impl Fn(StatusCounts) + Send + Sync + 'static,
    ) -> StoreResult<Subscription> {
        self.observer.subscribe_counts(filter, listener)
    }

    /// How many live windows are open (for leak tests and diagnostics).
    pub fn live_subscriptions(&self) -> usize {
        self.observer.live_subscriptions()
    }
}
