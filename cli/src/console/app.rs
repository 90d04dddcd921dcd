//! The console's state machine: [`App`] holds what the screen shows,
//! [`App::update`] takes one [`Event`] (a key, a resize, a tick, a diff from
//! the core), and `view::draw` renders the state. No terminal here, so
//! tests drive it with ratatui's `TestBackend`.
//!
//! Every rule comes from rapport-core: the lists and counts are live
//! windows of `observe` (S3), replies are checked by `Client::decide`,
//! actions go through the outbox, countdowns come from `timers`.

use rapport_core::Client;
use rapport_core::model::{
    ChatId, ChatSummary, Deal, DealId, Member, MessageId, Subscriber, Timestamp,
};
use rapport_core::observe::{ListDiff, Subscription};
use rapport_core::outbox::{OutboxState, UploadProgress};
use rapport_core::policy::{Decision, Outgoing};
use rapport_core::push::NotificationSettings;
use rapport_core::store::{ChatFilter, StatusCounts, StatusFilter, TimelineItem, TimelineItemId};
use rapport_core::sync::{Action, SyncState};
use rapport_core::timers::{DeadlineKey, TimerEvent};
use ratatui::crossterm::event::{KeyEvent, KeyEventKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

mod crm;
mod items;
mod keys;

pub use crm::parse_amount;
pub use items::{NOTIFY_ROWS, notify_row};

/// B7: the reactions the picker offers (then "remove").
pub const REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/// Rows of the chat list kept live; more as the selection moves down.
const LIST_PAGE: u32 = 60;
/// Timeline items kept live; more on `[` (older history).
const TIMELINE_PAGE: u32 = 60;

/// What the core sends the UI thread. Listeners run on the core's writer
/// thread and must return at once: they only post these.
pub enum CoreMsg {
    List(u64, Vec<ListDiff<ChatSummary>>),
    Counts(u64, StatusCounts),
    Timeline(u64, Vec<ListDiff<TimelineItem>>),
    Timer(TimerEvent),
    /// Older history fetched (B1): whether the server has more.
    Older(u64, Result<bool, String>),
    /// E2: an upload moved on.
    Upload(UploadProgress),
    /// H4: the notification settings as the server holds them (after a
    /// read or a change).
    /// `true` after a change the agent made.
    Notify(bool, Result<NotificationSettings, String>),
}

pub enum Event {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Once a second: countdowns, sync state, the open chat's card.
    Tick,
    Core(CoreMsg),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    List,
    /// Typing a reply (E1).
    Reply,
    /// Typing a note (C1).
    Note,
    /// Typing a search (A6).
    Search,
    /// Typing the path of a file to send (E2).
    Attach,
    /// Choosing an assignee (D1): the assignable members; index 0 unassigns.
    Assign {
        members: Vec<Member>,
        selected: usize,
    },
    /// B7: the reaction picker on the selected message; the last row
    /// removes the agent's reaction.
    React {
        selected: usize,
    },
    /// B8 / C1: typing the new text of the selected message or note.
    Edit(TimelineItemId),
    /// F5 / F6: typing a change to the subscriber card (`+tag`, `-tag`,
    /// `name=value`, `name=`, `>flow-id`, `>`).
    Card,
    /// B8, C1, F8: a destructive action waiting for `y`.
    Confirm {
        action: Action,
        what: String,
    },
    /// H4: the notification settings (`None` while they load).
    Notify {
        settings: Option<NotificationSettings>,
        selected: usize,
    },
    /// G1-G3: the open chat's subscriber's deals; ↑↓ pick one.
    Deals {
        selected: usize,
    },
    /// G1-G3, G2: typing on the deals popup (see [`DealPrompt`]).
    DealInput(DealPrompt),
    /// A7: home, the latest chats (`Client::home`).
    Home {
        chats: Vec<ChatSummary>,
        selected: usize,
    },
    /// I1.
    Stats,
    Help,
}

/// What the line typed on the deals popup does.
#[derive(Clone, Debug, PartialEq)]
pub enum DealPrompt {
    /// G1: `pipeline-id/stage-id Name of the deal 125.00 EUR`.
    Add,
    /// G3: `stage-id`, `125.00` or both, on this deal.
    Edit(DealId),
    /// G2: `First Last`, the CRM contact's name.
    Contact,
}

/// The chat on the right.
pub struct OpenChat {
    pub summary: ChatSummary,
    pub items: Vec<TimelineItem>,
    pub card: Option<Subscriber>,
    pub deals: Vec<Deal>,
    /// Outbox refusals of this chat's echoes (E7: kept as data).
    pub failed: HashMap<MessageId, (i64, String)>,
    /// Lines scrolled up from the newest.
    pub scroll: u16,
    /// The timeline item the item actions apply to (B7, B8, C1).
    pub cursor: Option<TimelineItemId>,
    pub loading_older: bool,
    generation: u64,
    limit: u32,
    sub: Subscription,
}

/// A line under the panes: what just happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

pub struct App {
    client: Arc<Client>,
    runtime: tokio::runtime::Handle,
    tx: Sender<CoreMsg>,
    rx: Receiver<CoreMsg>,
    uploads: tokio::sync::broadcast::Receiver<UploadProgress>,
    /// Who is logged in where, for the title.
    pub label: String,
    pub filter: ChatFilter,
    pub chats: Vec<ChatSummary>,
    pub counts: StatusCounts,
    pub selected: usize,
    pub open: Option<OpenChat>,
    pub mode: Mode,
    pub input: String,
    /// E1-E6: whether the reply being typed may go out, on server time.
    pub decision: Option<Decision>,
    /// B8 / C1: why the new text being typed may not be saved (the core's
    /// refusal), if it may not.
    pub edit_refusal: Option<String>,
    pub flash: Option<Flash>,
    pub sync: SyncState,
    pub members: Vec<Member>,
    pub stats: Vec<(String, rapport_core::model::BotStats)>,
    pub show_card: bool,
    /// ↑↓ move over the open chat's timeline items instead of the list.
    pub timeline_focus: bool,
    pub size: (u16, u16),
    pub now: Timestamp,
    pub quit: bool,
    list_generation: u64,
    /// Never reused, so diffs of a closed timeline are never applied to
    /// another.
    timeline_generation: u64,
    list_limit: u32,
    list_sub: Option<Subscription>,
    counts_sub: Option<Subscription>,
    last_mark_read: Option<(ChatId, Instant)>,
    /// H4: one save of the notification settings at a time, in the order
    /// the agent toggled (each sends the whole settings, so two in flight
    /// could land in the wrong order and undo a toggle).
    notify_saving: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    /// Subscribes to the inbox; `runtime` runs the few network calls the
    /// console starts itself (older history).
    pub fn new(client: Arc<Client>, runtime: tokio::runtime::Handle, label: String) -> App {
        let (tx, rx) = channel();
        let now = client.server_now();
        let sync = client.sync_state().borrow().clone();
        let members = client.members(false).unwrap_or_default();
        let uploads = client.upload_progress();
        let mut app = App {
            client,
            uploads,
            runtime,
            tx,
            rx,
            label,
            filter: ChatFilter::default(),
            chats: Vec::new(),
            counts: StatusCounts::default(),
            selected: 0,
            open: None,
            mode: Mode::List,
            input: String::new(),
            decision: None,
            edit_refusal: None,
            flash: None,
            sync,
            members,
            stats: Vec::new(),
            show_card: true,
            timeline_focus: false,
            size: (80, 24),
            now,
            quit: false,
            list_generation: 0,
            timeline_generation: 0,
            list_limit: LIST_PAGE,
            list_sub: None,
            counts_sub: None,
            last_mark_read: None,
            notify_saving: None,
        };
        app.filter.status = StatusFilter::Open;
        app.subscribe_list();
        app
    }

    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// A sender for the core's timer events (S4).
    pub fn timer_sink(&self) -> impl Fn(TimerEvent) + Send + Sync + 'static {
        let tx = std::sync::Mutex::new(self.tx.clone());
        move |e| {
            let _ = tx.lock().map(|t| t.send(CoreMsg::Timer(e)));
        }
    }

    /// Everything the core posted since the last call, as events.
    pub fn pending(&mut self) -> Vec<Event> {
        let mut out: Vec<Event> = self.rx.try_iter().map(Event::Core).collect();
        while let Ok(p) = self.uploads.try_recv() {
            out.push(Event::Core(CoreMsg::Upload(p)));
        }
        out
    }

    /// Waits up to `timeout` for the core to post something.
    pub fn wait_core(&self, timeout: Duration) -> Option<Event> {
        self.rx.recv_timeout(timeout).ok().map(Event::Core)
    }

    pub fn selected_chat(&self) -> Option<&ChatSummary> {
        self.chats.get(self.selected)
    }

    fn flash(&mut self, text: impl Into<String>, error: bool) {
        self.flash = Some(Flash {
            text: text.into(),
            error,
        });
    }

    /// A1-A6: (re)subscribes the list window and the counts for the
    /// current filter. Diffs of an older subscription are ignored.
    fn subscribe_list(&mut self) {
        self.list_generation += 1;
        let g = self.list_generation;
        self.list_sub = None;
        self.counts_sub = None;
        let client = &self.client;
        let tx = std::sync::Mutex::new(self.tx.clone());
        let list = client.subscribe_chat_list(self.filter.clone(), self.list_limit, move |d| {
            let _ = tx.lock().map(|t| t.send(CoreMsg::List(g, d)));
        });
        let tx = std::sync::Mutex::new(self.tx.clone());
        let counts = client.subscribe_counts(self.filter.clone(), move |c| {
            let _ = tx.lock().map(|t| t.send(CoreMsg::Counts(g, c)));
        });
        match (list, counts) {
            (Ok(l), Ok(c)) => {
                self.list_sub = Some(l);
                self.counts_sub = Some(c);
            }
            (Err(e), _) | (_, Err(e)) => self.flash(format!("the chat list: {e}"), true),
        }
        // The Reset arrives at once (posted during subscribe).
        self.drain();
    }

    /// Applies what the core already posted (after a subscribe).
    fn drain(&mut self) {
        for e in self.pending() {
            self.update(e);
        }
    }

    pub fn update(&mut self, event: Event) {
        match event {
            Event::Key(k) if k.kind != KeyEventKind::Release => self.key(k),
            Event::Key(_) => {}
            Event::Resize(w, h) => self.size = (w, h),
            Event::Tick => self.tick(),
            Event::Core(m) => self.core(m),
        }
    }

    fn core(&mut self, m: CoreMsg) {
        match m {
            CoreMsg::List(g, diffs) if g == self.list_generation => {
                let keep = self.selected_chat().map(|c| c.chat.id.clone());
                for d in diffs {
                    if !d.apply(&mut self.chats) {
                        // Our copy diverged: read the window again.
                        self.subscribe_list();
                        return;
                    }
                }
                if let Some(id) = keep
                    && let Some(i) = self.chats.iter().position(|c| c.chat.id == id)
                {
                    self.selected = i;
                }
                self.selected = self.selected.min(self.chats.len().saturating_sub(1));
                self.refresh_open_summary();
            }
            CoreMsg::Counts(g, c) if g == self.list_generation => self.counts = c,
            CoreMsg::Timeline(g, diffs) => {
                let Some(open) = self.open.as_mut().filter(|o| o.generation == g) else {
                    return;
                };
                for d in diffs {
                    if !d.apply(&mut open.items) {
                        let id = open.summary.chat.id.clone();
                        self.open_chat(id);
                        return;
                    }
                }
                self.refresh_open_summary();
                self.refresh_failed();
            }
            CoreMsg::Older(g, result) => {
                if let Some(open) = self.open.as_mut().filter(|o| o.generation == g) {
                    open.loading_older = false;
                    match result {
                        Ok(_) => self.grow_timeline(),
                        Err(e) => self.flash(format!("older history: {e}"), true),
                    }
                }
            }
            CoreMsg::Timer(e) => self.timer(e),
            CoreMsg::Upload(p) => {
                let pct = (p.sent_bytes * 100)
                    .checked_div(p.total_bytes)
                    .unwrap_or(100);
                self.flash(
                    format!(
                        "uploading: {} of {} ({pct}%)",
                        crate::format::size(p.sent_bytes),
                        crate::format::size(p.total_bytes)
                    ),
                    false,
                );
            }
            CoreMsg::Notify(saved, r) => self.notify_loaded(saved, r),
            CoreMsg::List(..) | CoreMsg::Counts(..) => {}
        }
    }

    /// S4: a deadline passed; the open chat's countdowns change now.
    fn timer(&mut self, e: TimerEvent) {
        let Some(open) = &self.open else { return };
        let chat = &open.summary.chat.id;
        let text = match &e.key {
            DeadlineKey::WindowCloses(c) if c == chat => "the support window just closed",
            DeadlineKey::PauseEnds(c) if c == chat => "the bot pause ended: autoflows run again",
            _ => return,
        };
        self.flash(text, false);
        self.tick();
    }

    fn tick(&mut self) {
        self.now = self.client.server_now();
        self.sync = self.client.sync_state().borrow().clone();
        // The team changes rarely; the first sync brings it.
        if let Ok(m) = self.client.members(false) {
            self.members = m;
        }
        self.refresh_open_summary();
        if let Some(open) = self.open.as_mut() {
            open.card = self
                .client
                .subscriber(&open.summary.chat.subscriber_id)
                .ok()
                .flatten();
            open.deals = self
                .client
                .deals(&open.summary.chat.subscriber_id)
                .unwrap_or_default();
        }
        self.refresh_failed();
        self.check_reply();
        self.mark_read_if_unread();
    }

    /// The open chat's row as the store has it now.
    fn refresh_open_summary(&mut self) {
        if let Some(open) = self.open.as_mut()
            && let Ok(Some(s)) = self.client.chat(&open.summary.chat.id)
        {
            open.summary = s;
        }
    }

    /// E7: which of the open chat's echoes the outbox holds as refused.
    fn refresh_failed(&mut self) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let Ok(entries) = self.client.outbox() else {
            return;
        };
        open.failed = entries
            .into_iter()
            .filter(|e| e.chat_id.as_ref() == Some(&open.summary.chat.id))
            .filter_map(|e| match (e.echo_id, e.state) {
                (Some(m), OutboxState::Failed { message, .. }) => Some((m, (e.id, message))),
                _ => None,
            })
            .collect();
    }

    /// E1-E6: may what is typed go out now? (Asked of the core as the
    /// agent types and as time passes.)
    fn check_reply(&mut self) {
        self.decision = match (&self.mode, &self.open) {
            (Mode::Reply, Some(open)) => self
                .client
                .decide(&open.summary.chat.id, &Outgoing::Text(&self.input))
                .ok(),
            (_, Some(open)) => self
                .client
                .decide(&open.summary.chat.id, &Outgoing::Text("…"))
                .ok(),
            _ => None,
        };
    }

    /// B10: an open chat's subscriber messages are read (at most every
    /// few seconds, as new ones arrive while it is open).
    fn mark_read_if_unread(&mut self) {
        let Some(open) = &self.open else { return };
        let chat = &open.summary.chat;
        if chat.unread_count == 0 {
            return;
        }
        if let Some((c, at)) = &self.last_mark_read
            && c == &chat.id
            && at.elapsed() < Duration::from_secs(3)
        {
            return;
        }
        self.last_mark_read = Some((chat.id.clone(), Instant::now()));
        let action = Action::MarkRead {
            chat_id: chat.id.clone(),
        };
        if let Err(e) = self.client.run_action(action) {
            self.flash(format!("mark read: {e}"), true);
        }
    }

    /// B1, C1: opens a chat's live timeline.
    pub fn open_chat(&mut self, id: ChatId) {
        let Ok(Some(summary)) = self.client.chat(&id) else {
            self.flash("that chat is gone", true);
            return;
        };
        self.timeline_generation += 1;
        let generation = self.timeline_generation;
        let limit = self
            .open
            .as_ref()
            .filter(|o| o.summary.chat.id == id)
            .map_or(TIMELINE_PAGE, |o| o.limit);
        let cursor = self
            .open
            .as_ref()
            .filter(|o| o.summary.chat.id == id)
            .and_then(|o| o.cursor.clone());
        if cursor.is_none() {
            self.timeline_focus = false;
        }
        self.open = None;
        let tx = std::sync::Mutex::new(self.tx.clone());
        let sub = self.client.subscribe_timeline(id.clone(), limit, move |d| {
            let _ = tx.lock().map(|t| t.send(CoreMsg::Timeline(generation, d)));
        });
        let sub = match sub {
            Ok(s) => s,
            Err(e) => {
                self.flash(format!("the timeline: {e}"), true);
                return;
            }
        };
        self.open = Some(OpenChat {
            summary,
            items: Vec::new(),
            card: None,
            deals: Vec::new(),
            failed: HashMap::new(),
            scroll: 0,
            cursor,
            loading_older: false,
            generation,
            limit,
            sub,
        });
        self.drain();
        self.tick();
    }

    /// B1: more of the timeline: from the store first, then the server.
    fn grow_timeline(&mut self) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.limit += TIMELINE_PAGE;
        let grown = open.sub.set_limit(open.limit);
        if let Err(e) = grown {
            self.flash(format!("the timeline: {e}"), true);
        }
        self.drain();
    }

    fn load_older(&mut self) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.loading_older {
            return;
        }
        if open.items.len() as u32 >= open.limit {
            // The store may hold more than the window shows.
            self.grow_timeline();
            return;
        }
        open.loading_older = true;
        let oldest = open.items.iter().find_map(|i| match i {
            TimelineItem::Message(m) => Some(m.id.clone()),
            TimelineItem::Note(_) => None,
        });
        let (client, chat, g, tx) = (
            self.client.clone(),
            open.summary.chat.id.clone(),
            open.generation,
            self.tx.clone(),
        );
        self.runtime.spawn(async move {
            let r = client
                .load_older(&chat, oldest.as_ref(), TIMELINE_PAGE)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(CoreMsg::Older(g, r));
        });
        self.flash("loading older history…", false);
    }

    fn set_filter(&mut self, f: impl FnOnce(&mut ChatFilter)) {
        f(&mut self.filter);
        self.selected = 0;
        self.list_limit = LIST_PAGE;
        self.subscribe_list();
    }

    fn move_selection(&mut self, delta: isize) {
        if self.chats.is_empty() {
            return;
        }
        let last = self.chats.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        // Near the end of the window: grow it (A1, paged).
        if self.selected + 10 >= self.chats.len() && self.chats.len() as u32 >= self.list_limit {
            self.list_limit += LIST_PAGE;
            if let Some(s) = &self.list_sub
                && let Err(e) = s.set_limit(self.list_limit)
            {
                self.flash(format!("the chat list: {e}"), true);
            }
            self.drain();
        }
    }

    /// Queues an action on the open chat (E7: through the outbox).
    fn act(&mut self, action: Action, done: &str) {
        match self.client.run_action(action) {
            Ok(_) => self.flash(done, false),
            Err(e) => self.flash(e.to_string(), true),
        }
    }

    fn open_chat_id(&self) -> Option<ChatId> {
        self.open.as_ref().map(|o| o.summary.chat.id.clone())
    }
}
