//! The console's state machine without a terminal: a real server over
//! loopback, a real store, the App driven by events and drawn on ratatui's
//! TestBackend.

mod common;

use rapport_cli::console::{App, Event, Mode, view};
use rapport_core::Client;
use rapport_core::model::{
    App as MessagingApp, ChatId, ChatStatus, Delivery, MemberId, Message, MessageId, Reaction,
    ReactionBy, Subscriber, SubscriberId, SubscriptionStatus,
};
use rapport_core::outbox::Draft;
use rapport_core::policy::Refusal;
use rapport_core::store::{AssigneeFilter, ChatFilter, StatusFilter, TimelineItem, TimelineItemId};
use rapport_core::sync::SyncState;
use rapport_tests::wait_until;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Harness {
    app: App,
    term: Terminal<TestBackend>,
    client: Arc<Client>,
    server: common::Server,
    _dir: tempfile::TempDir,
}

fn harness(chats: usize, messages: usize) -> Harness {
    let server = common::server(chats, messages);
    let dir = tempfile::tempdir().unwrap();
    let client = server.srv.client(dir.path(), &server.rt, "u0@w1.test");
    client.start_sync().unwrap();
    let state = client.sync_state();
    wait_until("live", 30, || {
        matches!(*state.borrow(), SyncState::Live { .. })
    });
    let client = Arc::new(client);
    let app = App::new(client.clone(), server.rt.handle().clone(), "test".into());
    client.start_timers(app.timer_sink()).unwrap();
    let mut h = Harness {
        app,
        term: Terminal::new(TestBackend::new(140, 40)).unwrap(),
        client,
        server,
        _dir: dir,
    };
    h.pump();
    h
}

impl Harness {
    /// Applies what the core posted, then a tick.
    fn pump(&mut self) {
        for e in self.app.pending() {
            self.app.update(e);
        }
        self.app.update(Event::Tick);
    }

    fn until(&mut self, what: &str, ok: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.pump();
            if ok(&self.app) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            if let Some(e) = self.app.wait_core(Duration::from_millis(50)) {
                self.app.update(e);
            }
        }
    }

    fn key(&mut self, code: KeyCode) {
        self.app
            .update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// The screen as text, one line per row.
    fn screen(&mut self) -> String {
        let app = &self.app;
        self.term.draw(|f| view::draw(app, f)).unwrap();
        let buf = self.term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn resize(&mut self, w: u16, h: u16) {
        self.term.backend_mut().resize(w, h);
        self.app.update(Event::Resize(w, h));
    }

    fn select(&mut self, chat: &ChatId) {
        // Show every chat, then move to this one.
        self.key(KeyCode::Char('4'));
        let i = self
            .app
            .chats
            .iter()
            .position(|c| &c.chat.id == chat)
            .expect("the chat is listed");
        self.key(KeyCode::Home);
        for _ in 0..i {
            self.key(KeyCode::Down);
        }
        assert_eq!(self.app.selected_chat().unwrap().chat.id, *chat);
    }

    /// A chat of `app` whose subscriber writes now (its window opens).
    fn chat_with_open_window(&mut self, app: MessagingApp) -> ChatId {
        let chat = common::client_chats_of(&self.client, app)[0].clone();
        self.server
            .srv
            .subscriber_writes(chat.as_str(), &format!("w-{}", chat.as_str()));
        let client = self.client.clone();
        let c = chat.clone();
        let now = self.server.clock.clone();
        wait_until("the subscriber's message", 20, || {
            client
                .chat(&c)
                .unwrap()
                .is_some_and(|s| s.chat.last_inbound_at.is_some_and(|t| t >= now_minus(&now)))
        });
        self.pump();
        chat
    }
}

fn now_minus(clock: &rapport_core::timers::ManualClock) -> rapport_core::model::Timestamp {
    use rapport_core::timers::Clock;
    clock.now().plus_millis(-60_000)
}

#[test]
fn a1_a2_a5_navigation_filters_and_live_counts() {
    let mut h = harness(60, 600);
    // The open list first (A5), its count as the core counts it.
    assert_eq!(h.app.filter.status, StatusFilter::Open);
    let counts = h.client.status_counts(&h.app.filter).unwrap();
    assert_eq!(h.app.counts, counts);
    let screen = h.screen();
    assert!(
        screen.contains(&format!("1 Open {}", counts.open)),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("4 All {}", counts.all)),
        "{screen}"
    );

    // Navigation.
    assert_eq!(h.app.selected, 0);
    h.key(KeyCode::Down);
    h.key(KeyCode::Char('j'));
    assert_eq!(h.app.selected, 2);
    h.key(KeyCode::Up);
    assert_eq!(h.app.selected, 1);

    // A2: the app filter; every row tells its app.
    h.key(KeyCode::Char('4'));
    h.key(KeyCode::Char('a'));
    assert_eq!(h.app.filter.app, Some(MessagingApp::Telegram));
    assert!(!h.app.chats.is_empty());
    assert!(
        h.app
            .chats
            .iter()
            .all(|c| c.chat.app == MessagingApp::Telegram)
    );
    assert!(h.screen().contains("a app: Telegram"));
    // A3, A4: type and assignee filters cycle, the list follows the core.
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('m'));
    let f = ChatFilter {
        app: Some(MessagingApp::Telegram),
        kind: Some(rapport_core::model::ChatKind::Personal),
        assignee: AssigneeFilter::Mine,
        status: StatusFilter::All,
        search: None,
    };
    assert_eq!(h.app.filter, f);
    let want = h.client.chat_page(&f, None, 60).unwrap().rows;
    assert_eq!(h.app.chats, want);
    // Back to every app; the unread list (A5).
    for _ in 0..6 {
        h.key(KeyCode::Char('a'));
    }
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Char('2'));
    assert_eq!(h.app.filter.status, StatusFilter::Unread);
    assert_eq!(h.app.filter.app, None);
    assert!(h.app.chats.iter().all(|c| c.status == ChatStatus::Unread));

    // Live: a subscriber writes in a read chat; it joins the unread list
    // and the counts move, from the core's diffs alone.
    let before = h.app.counts.unread;
    let read_chat = h
        .client
        .chat_page(
            &ChatFilter {
                status: StatusFilter::Open,
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap()
        .rows
        .into_iter()
        .find(|c| c.status == ChatStatus::Open)
        .map(|c| c.chat.id);
    if let Some(id) = read_chat {
        h.server.srv.subscriber_writes(id.as_str(), "live-1");
        h.until("the chat to turn unread", |a| {
            a.chats.first().is_some_and(|c| c.chat.id == id) && a.counts.unread == before + 1
        });
    }

    // B1/B10: Enter opens the selected chat and marks it read.
    let id = h.app.selected_chat().unwrap().chat.id.clone();
    h.key(KeyCode::Enter);
    let open = h.app.open.as_ref().expect("a chat is open");
    assert_eq!(open.summary.chat.id, id);
    assert!(!open.items.is_empty(), "the timeline is shown");
    let title = open.summary.chat.title.clone();
    assert!(h.screen().contains(&title));
    let c = h.client.clone();
    let i2 = id.clone();
    h.until("the chat to be read", move |_| {
        c.chat(&i2).unwrap().unwrap().chat.unread_count == 0
    });

    // q quits.
    h.key(KeyCode::Char('q'));
    assert!(h.app.quit);
}

#[test]
fn a6_search_as_you_type_picks_a_chat() {
    let mut h = harness(60, 300);
    h.key(KeyCode::Char('4'));
    let target = h.app.chats[5].chat.clone();
    let word: String = target
        .title
        .split_whitespace()
        .next()
        .unwrap()
        .chars()
        .take(3)
        .collect();
    h.key(KeyCode::Char('/'));
    assert_eq!(h.app.mode, Mode::Search);
    let mut typed = String::new();
    for c in word.chars() {
        h.key(KeyCode::Char(c));
        typed.push(c);
        // Every keystroke narrows the list, exactly as the core searches.
        let f = ChatFilter {
            search: Some(typed.clone()),
            ..Default::default()
        };
        let want = h.client.chat_page(&f, None, 60).unwrap().rows;
        assert_eq!(h.app.chats, want, "after typing {typed:?}");
    }
    assert!(h.app.chats.iter().any(|c| c.chat.id == target.id));
    assert!(h.screen().contains(&format!("/{word}")));
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode, Mode::List);
    h.select(&target.id);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.open.as_ref().unwrap().summary.chat.id, target.id);
    // Esc clears the search.
    h.key(KeyCode::Esc);
    assert_eq!(h.app.filter.search, None);
}

/// Opening a chat queues its mark-read (B10); no message may be queued.
fn no_message_queued(h: &Harness) -> bool {
    h.client
        .outbox()
        .unwrap()
        .iter()
        .all(|e| e.echo_id.is_none())
}

fn last_message(h: &Harness) -> Option<rapport_core::model::Message> {
    h.app
        .open
        .as_ref()?
        .items
        .iter()
        .rev()
        .find_map(|i| match i {
            TimelineItem::Message(m) => Some(m.clone()),
            TimelineItem::Note(_) => None,
        })
}

#[test]
fn e1_e3_e7_a_reply_shows_at_once_then_is_sent_and_pauses_the_bot() {
    let mut h = harness(40, 300);
    let chat = h.chat_with_open_window(MessagingApp::Whatsapp);
    h.select(&chat);
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('r'));
    assert_eq!(h.app.mode, Mode::Reply);
    h.type_text("On it!");
    // E4: the window's countdown and what is left of E1's limit.
    let screen = h.screen();
    assert!(screen.contains("window closes in 23h"), "{screen}");
    assert!(
        screen.contains("may send · 506 characters left"),
        "{screen}"
    );
    h.key(KeyCode::Enter);
    // E7: the echo is there at once, before any network call ends.
    let m = last_message(&h).expect("the echo");
    assert_eq!(
        (m.sender.clone(), m.content.summary().to_owned()),
        (
            rapport_core::model::Sender::Member(MemberId::from("u0")),
            "On it!".into()
        )
    );
    h.until("the server's copy", |a| {
        a.open.as_ref().is_some_and(|o| {
            o.items.iter().any(|i| matches!(i, TimelineItem::Message(m)
                if m.content.summary() == "On it!" && m.delivery.is_some_and(|d| d != Delivery::Pending)))
        })
    });
    // E3: the manual reply paused the bot; F7: extend and continue.
    h.until("the pause", |a| {
        a.open
            .as_ref()
            .is_some_and(|o| o.summary.chat.paused_until.is_some())
    });
    assert!(h.screen().contains("bot paused, 59m"));
    h.key(KeyCode::Char('u'));
    h.until("autoflows to continue", |a| {
        a.open
            .as_ref()
            .is_some_and(|o| o.summary.chat.paused_until.is_none())
    });
    assert!(!h.screen().contains("bot paused"));
}

#[test]
fn e4_e5_a_refused_reply_shows_its_reason_and_queues_nothing() {
    let mut h = harness(40, 300);
    // 25 hours after the history: every WhatsApp window is closed.
    let chat = common::client_chats_of(&h.client, MessagingApp::Whatsapp)[0].clone();
    h.select(&chat);
    h.key(KeyCode::Enter);
    // The reason shows before typing...
    let screen = h.screen();
    assert!(screen.contains("window closed"), "{screen}");
    assert!(screen.contains("the support window is closed"), "{screen}");
    assert!(screen.contains("instead: a WhatsApp"), "{screen}");
    // ...and the send is refused with it, nothing queued.
    h.key(KeyCode::Char('r'));
    h.type_text("hello");
    h.key(KeyCode::Enter);
    let flash = h.app.flash.clone().expect("a message");
    assert!(flash.error);
    assert!(
        flash.text.contains("the support window is closed"),
        "{flash:?}"
    );
    assert_eq!(h.app.mode, Mode::Reply, "the text stays to edit");
    assert!(no_message_queued(&h), "a refusal queues nothing");
    // E1: too long is refused whatever the window.
    let long = "x".repeat(513);
    h.type_text(&long);
    assert_eq!(
        h.app
            .decision
            .as_ref()
            .and_then(|d| d.refusal())
            .map(|r| r.code()),
        Some("text_too_long")
    );
    assert!(h.screen().contains("✗ the text is 518 characters long"));

    // E5: Ctrl-T sends the text as what may go instead: a template.
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('r'));
    h.type_text("order_update");
    assert!(h.screen().contains("Ctrl-T sends the text as the first"));
    h.app.update(Event::Key(KeyEvent::new(
        KeyCode::Char('t'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(h.app.mode, Mode::List);
    let m = last_message(&h).expect("the template's echo");
    assert!(matches!(
        &m.content,
        rapport_core::model::Content::Template { name, .. } if name == "order_update"
    ));
    h.until("the template to go out", |a| {
        a.open.as_ref().is_some_and(|o| {
            o.items.iter().any(|i| {
                matches!(i, TimelineItem::Message(m)
                if matches!(m.content, rapport_core::model::Content::Template { .. })
                    && m.delivery != Some(Delivery::Pending))
            })
        })
    });
}

#[test]
fn the_console_redraws_at_any_size() {
    let mut h = harness(30, 200);
    h.key(KeyCode::Enter);
    for (w, hgt) in [(140, 40), (60, 15), (30, 8), (200, 60), (10, 4), (100, 30)] {
        h.resize(w, hgt);
        let s = h.screen();
        assert_eq!(h.app.size, (w, hgt));
        if w >= 60 && hgt >= 15 {
            assert!(s.contains("Rapport"), "{w}x{hgt}:\n{s}");
        }
    }
    // Narrow: one pane, the open chat.
    h.resize(60, 20);
    let s = h.screen();
    assert!(!s.contains("Chats ("), "{s}");
    assert!(s.contains("Timeline"), "{s}");
    // Wide: the list, the chat and the subscriber card.
    h.resize(160, 40);
    let s = h.screen();
    assert!(s.contains("Chats (") && s.contains("Timeline") && s.contains("Subscriber"));
    // Popups fit too.
    h.key(KeyCode::Char('S'));
    assert!(h.screen().contains("Statistics (I1)"));
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('?'));
    assert!(h.screen().contains("Keys"));
}

#[test]
fn s2_a_slow_network_never_blocks_the_console() {
    let mut h = harness(30, 200);
    let chat = h.chat_with_open_window(MessagingApp::Telegram);
    h.select(&chat);
    h.key(KeyCode::Enter);
    // Every request now takes 1.5 s.
    h.server.srv.server.state.faults.set_latency_ms(1_500);
    h.key(KeyCode::Char('r'));
    h.type_text("slow but sure");
    let t = Instant::now();
    h.key(KeyCode::Enter);
    h.screen();
    // Actions, filters and drawing answer from the store, not the network.
    h.key(KeyCode::Char('p'));
    h.key(KeyCode::Char('a'));
    h.key(KeyCode::Char('a'));
    h.screen();
    assert!(
        t.elapsed() < Duration::from_millis(1_000),
        "the console waited for the network: {:?}",
        t.elapsed()
    );
    h.key(KeyCode::Char('4'));
    for _ in 0..6 {
        h.key(KeyCode::Char('a'));
    }
    let m = last_message(&h).expect("the echo");
    assert_eq!(m.content.summary(), "slow but sure");
    assert_eq!(m.delivery, Some(Delivery::Pending));
    assert!(h.screen().contains("slow but sure ◷"));
    h.until("the reply to go out", |a| {
        a.open.as_ref().is_some_and(|o| {
            o.items.iter().any(|i| {
                matches!(i, TimelineItem::Message(m)
                if m.content.summary() == "slow but sure" && m.delivery != Some(Delivery::Pending))
            })
        })
    });
    h.server.srv.server.state.faults.clear();
}

#[test]
fn the_demo_starts_a_lively_workspace_logged_in() {
    // What `rapport demo` runs before the terminal opens.
    let demo = rapport_cli::demo::start(50, 400, 20.0).unwrap();
    let state = demo.client.sync_state();
    wait_until("live", 30, || {
        matches!(*state.borrow(), SyncState::Live { .. })
    });
    let at = |s: &SyncState| match s {
        SyncState::Live { at } => at.0,
        _ => 0,
    };
    let first = at(&state.borrow());
    // The simulator keeps writing; the store follows live.
    wait_until("simulated activity", 30, || at(&state.borrow()) > first + 5);
    let mut app = App::new(
        demo.client.clone(),
        demo.runtime.handle().clone(),
        "demo".into(),
    );
    app.update(Event::Tick);
    assert_eq!(app.counts.all, 50);
    let mut term = Terminal::new(TestBackend::new(120, 30)).unwrap();
    term.draw(|f| view::draw(&app, f)).unwrap();
    assert_eq!(
        demo.client.login_info().map(|i| i.member_id),
        Some(MemberId::from("u0"))
    );
}

#[test]
fn s2_s5_the_sendpulse_demo_runs_the_console_on_a_workspace_linked_to_sendpulse() {
    // What `rapport demo --sendpulse` runs before the terminal opens: the
    // fake account reconciled into the workspace, its webhooks arriving
    // live, and the agent's reply going out through SendPulse's API.
    let demo = rapport_cli::demo::start_sendpulse(30, 120, 20.0).unwrap();
    let sp = demo.sendpulse.as_ref().expect("the fake account");
    let state = demo.client.sync_state();
    wait_until("live", 30, || {
        matches!(*state.borrow(), SyncState::Live { .. })
    });
    let at = |s: &SyncState| match s {
        SyncState::Live { at } => at.0,
        _ => 0,
    };
    let first = at(&state.borrow());
    wait_until("the subscribers' webhooks", 30, || {
        at(&state.borrow()) > first + 5
    });
    let mut app = App::new(
        demo.client.clone(),
        demo.runtime.handle().clone(),
        "demo".into(),
    );
    app.update(Event::Tick);
    assert_eq!(app.counts.all, 30, "every contact of the account is a chat");

    // A chat whose subscriber wrote last (its window is open): the reply
    // reaches the fake account as an outgoing message.
    let page = demo
        .client
        .chat_page(&ChatFilter::default(), None, 50)
        .expect("the list");
    let chat = page
        .rows
        .into_iter()
        .map(|r| r.chat)
        .find(|c| c.last_inbound_at.is_some())
        .expect("a chat with a subscriber's message")
        .id;
    let contact = chat.0.strip_prefix("sp-").expect("a SendPulse chat id");
    demo.client
        .send(&chat, Draft::Text("Hello from the demo"), None)
        .unwrap();
    wait_until("the reply at SendPulse", 30, || {
        sp.fake
            .outgoing_texts(contact)
            .iter()
            .any(|t| t == "Hello from the demo")
    });
}

#[test]
fn e2_a_file_goes_out_with_progress_and_an_executable_is_refused() {
    let mut h = harness(30, 200);
    let chat = common::client_chats_of(&h.client, MessagingApp::Telegram)[0].clone();
    h.select(&chat);
    h.key(KeyCode::Enter);
    // An executable: the core's reason, nothing queued.
    let script = h._dir.path().join("run.sh");
    std::fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
    h.key(KeyCode::Char('f'));
    assert_eq!(h.app.mode, Mode::Attach);
    h.type_text(script.to_str().unwrap());
    h.key(KeyCode::Enter);
    let flash = h.app.flash.clone().unwrap();
    assert!(
        flash.error && flash.text.contains("executable"),
        "{flash:?}"
    );
    assert!(no_message_queued(&h), "a refusal queues nothing");
    // A photo: its echo at once, then the server's copy.
    h.key(KeyCode::Esc);
    let photo = h._dir.path().join("photo.png");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(300_000, 7);
    std::fs::write(&photo, &png).unwrap();
    h.key(KeyCode::Char('f'));
    h.type_text(photo.to_str().unwrap());
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode, Mode::List);
    let m = last_message(&h).expect("the echo");
    assert_eq!(m.delivery, Some(Delivery::Pending));
    assert!(h.screen().contains("photo.png (293 KB, image/png)"));
    h.until("the upload's progress", |a| {
        a.flash
            .as_ref()
            .is_some_and(|f| f.text.starts_with("uploading: 293 KB of 293 KB"))
    });
    h.until("the server's copy", |a| {
        a.open.as_ref().is_some_and(|o| {
            o.items.iter().any(|i| {
                matches!(i, TimelineItem::Message(m)
                if m.content.summary() == "photo.png" && m.delivery != Some(Delivery::Pending))
            })
        })
    });
}

// Item, card and settings actions (B7, B8, C1, F5, F6, F8, H4), on the
// Telegram chat `tg` of `TestServer::action_chats`: bot message `bot-1`
// and subscriber message `sub-1` just now, bot message `bot-old` 3 days ago.

/// A harness with `tg` open in the console.
fn action_harness() -> Harness {
    let mut h = harness(10, 40);
    h.server.srv.action_chats();
    let client = h.client.clone();
    wait_until("the action chats", 20, || {
        client
            .timeline_item(
                &ChatId::from("tg"),
                &TimelineItemId::Message(MessageId::from("sub-1")),
            )
            .unwrap()
            .is_some()
    });
    h.pump();
    h.select(&ChatId::from("tg"));
    h.key(KeyCode::Enter);
    h.pump();
    h
}

impl Harness {
    /// Focuses the timeline and moves its cursor to the item `id`.
    fn cursor_to(&mut self, id: &TimelineItemId) {
        self.key(KeyCode::Right);
        assert!(self.app.timeline_focus);
        self.key(KeyCode::Home);
        for _ in 0..100 {
            if self.app.selected_item().map(|i| i.id()).as_ref() == Some(id) {
                return;
            }
            self.key(KeyCode::Down);
        }
        panic!("{id:?} is not in the timeline");
    }

    fn server_item(&self, id: &TimelineItemId) -> Option<TimelineItem> {
        self.server
            .srv
            .workspace("w1")
            .store
            .timeline_item(&ChatId::from("tg"), id)
            .unwrap()
    }

    fn server_message(&self, id: &str) -> Message {
        match self.server_item(&msg_id(id)) {
            Some(TimelineItem::Message(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn server_subscriber(&self) -> Subscriber {
        self.server
            .srv
            .workspace("w1")
            .store
            .subscriber(&SubscriberId::from("s1"))
            .unwrap()
            .unwrap()
    }

    fn unsent(&self) -> u64 {
        self.client.unsent_commands().unwrap()
    }

    /// Waits for the server to hold what `ok` wants (the console keeps
    /// drawing meanwhile).
    fn server_until(&mut self, what: &str, ok: impl Fn(&Harness) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.pump();
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pump();
    }

    fn card(&mut self, text: &str) {
        self.key(KeyCode::Char('C'));
        assert_eq!(self.app.mode, Mode::Card);
        self.type_text(text);
        self.key(KeyCode::Enter);
    }
}

fn msg_id(id: &str) -> TimelineItemId {
    TimelineItemId::Message(MessageId::from(id))
}

#[test]
fn b7_the_agent_reacts_from_the_picker_and_a_bot_message_is_refused() {
    let mut h = action_harness();
    h.cursor_to(&msg_id("sub-1"));
    assert!(h.screen().contains("▶ "), "the cursor is drawn");
    h.key(KeyCode::Char('+'));
    assert_eq!(h.app.mode, Mode::React { selected: 0 });
    assert!(h.screen().contains("React (B7)"));
    h.key(KeyCode::Right);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode, Mode::List);
    h.server_until("the reaction on the server", |h| {
        h.server_message("sub-1").reactions
            == vec![Reaction {
                emoji: "❤️".into(),
                by: ReactionBy::Member(MemberId::from("u0")),
            }]
    });
    h.until("the reaction in the console", |a| {
        a.selected_item()
            .is_some_and(|i| matches!(i, TimelineItem::Message(m) if !m.reactions.is_empty()))
    });
    assert!(h.screen().contains("❤️"));
    // "remove" (x) takes it back.
    h.key(KeyCode::Char('+'));
    h.key(KeyCode::Char('x'));
    h.server_until("the reaction removed", |h| {
        h.server_message("sub-1").reactions.is_empty()
    });

    // A bot message: the core's refusal, no picker, nothing queued.
    let before = h.unsent();
    h.cursor_to(&msg_id("bot-1"));
    h.key(KeyCode::Char('+'));
    assert_eq!(h.app.mode, Mode::List);
    let flash = h.app.flash.clone().expect("the refusal");
    assert!(flash.error, "{flash:?}");
    assert!(
        flash.text.contains(&Refusal::WrongMessage.to_string()),
        "{flash:?}"
    );
    assert_eq!(h.unsent(), before, "a refusal queues nothing");
    assert!(h.screen().contains("not allowed on this message"));
}

#[test]
fn b8_a_bot_message_is_edited_in_the_reply_box_then_deleted_after_a_yes() {
    let mut h = action_harness();
    h.cursor_to(&msg_id("bot-1"));
    h.key(KeyCode::Char('E'));
    assert_eq!(h.app.mode, Mode::Edit(msg_id("bot-1")));
    assert_eq!(h.app.input, "hello", "the message's text to edit");
    assert!(h.screen().contains("Editing the message"));
    h.type_text(" again");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode, Mode::List);
    h.server_until("the edit on the server", |h| {
        let m = h.server_message("bot-1");
        m.edited_at.is_some() && m.content.summary() == "hello again"
    });

    // Delete asks first; n keeps it.
    h.key(KeyCode::Char('X'));
    assert!(matches!(h.app.mode, Mode::Confirm { .. }));
    assert!(h.screen().contains("Delete the message"));
    h.key(KeyCode::Char('n'));
    assert_eq!(h.app.mode, Mode::List);
    h.key(KeyCode::Char('X'));
    h.key(KeyCode::Char('y'));
    h.server_until("the deletion on the server", |h| {
        h.server_message("bot-1").deleted_at.is_some()
    });
    h.until("[deleted] in the console", |a| {
        a.selected_item()
            .is_some_and(|i| matches!(i, TimelineItem::Message(m) if m.deleted_at.is_some()))
    });

    // Past 48 hours: refused by the core, no confirmation, nothing queued.
    let before = h.unsent();
    h.cursor_to(&msg_id("bot-old"));
    h.key(KeyCode::Char('X'));
    assert_eq!(h.app.mode, Mode::List);
    let flash = h.app.flash.clone().unwrap();
    assert!(flash.error && flash.text.contains("too old"), "{flash:?}");
    h.key(KeyCode::Char('E'));
    assert_eq!(h.app.mode, Mode::List);
    assert_eq!(h.unsent(), before);
    // The subscriber's message is not the agent's to edit.
    h.cursor_to(&msg_id("sub-1"));
    h.key(KeyCode::Char('E'));
    assert_eq!(h.app.mode, Mode::List);
    assert!(h.app.flash.as_ref().unwrap().text.contains("not allowed"));
}

#[test]
fn c1_a_note_is_added_edited_and_deleted_from_the_timeline() {
    let mut h = action_harness();
    h.key(KeyCode::Char('n'));
    h.type_text("Wants a refund");
    h.key(KeyCode::Enter);
    h.until("the note", |a| {
        a.open.as_ref().is_some_and(|o| {
            o.items
                .iter()
                .any(|i| matches!(i, TimelineItem::Note(n) if n.text == "Wants a refund"))
        })
    });
    let note = h
        .app
        .open
        .as_ref()
        .unwrap()
        .items
        .iter()
        .find_map(|i| match i {
            TimelineItem::Note(n) => Some(TimelineItemId::Note(n.id.clone())),
            TimelineItem::Message(_) => None,
        })
        .unwrap();
    h.server_until("the note on the server", |h| h.server_item(&note).is_some());
    h.cursor_to(&note);
    h.key(KeyCode::Char('E'));
    assert_eq!(h.app.mode, Mode::Edit(note.clone()));
    assert!(h.screen().contains("Editing the note"));
    for _ in 0.."refund".len() {
        h.key(KeyCode::Backspace);
    }
    h.type_text("Refund done");
    h.key(KeyCode::Enter);
    h.server_until("the edited note on the server", |h| {
        matches!(h.server_item(&note), Some(TimelineItem::Note(n)) if n.text == "Wants a Refund done")
    });
    // A note longer than 2000 characters: the core's refusal, the text stays.
    h.key(KeyCode::Char('E'));
    assert!(h.screen().contains("✓ may save"));
    h.type_text(&"x".repeat(2000));
    assert!(
        h.screen().contains("✗ "),
        "the core's verdict as the agent types"
    );
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode, Mode::Edit(note.clone()));
    assert!(h.app.flash.as_ref().unwrap().error);
    h.key(KeyCode::Esc);

    h.key(KeyCode::Char('X'));
    assert!(h.screen().contains("Delete the note"));
    h.key(KeyCode::Char('y'));
    h.server_until("the note deleted on the server", |h| {
        h.server_item(&note).is_none()
    });
    h.until("the note gone from the console", |a| {
        a.open
            .as_ref()
            .is_some_and(|o| o.items.iter().all(|i| i.id() != note))
    });
}

#[test]
fn f5_f6_f8_the_card_takes_tags_variables_a_flow_and_is_disabled_after_a_yes() {
    let mut h = action_harness();
    h.card("+vip");
    h.server_until("the tag", |h| {
        h.server_subscriber().tags.contains(&"vip".to_owned())
    });
    h.until("the tag on the card", |a| {
        a.open
            .as_ref()
            .and_then(|o| o.card.as_ref())
            .is_some_and(|c| c.tags.contains(&"vip".to_owned()))
    });
    assert!(h.screen().contains("vip"));
    h.card("-vip");
    h.server_until("the tag removed", |h| {
        !h.server_subscriber().tags.contains(&"vip".to_owned())
    });
    h.card("plan = gold");
    h.server_until("the variable", |h| {
        h.server_subscriber()
            .variables
            .get("plan")
            .map(String::as_str)
            == Some("gold")
    });
    h.card("plan=");
    h.server_until("the variable cleared", |h| {
        !h.server_subscriber().variables.contains_key("plan")
    });
    h.card(">flow-0");
    h.server_until("the flow", |h| {
        h.server_subscriber()
            .active_flow
            .is_some_and(|f| f.flow_id == "flow-0")
    });
    h.card(">");
    h.server_until("the flow stopped", |h| {
        h.server_subscriber().active_flow.is_none()
    });
    // What the prompt does not read stays to fix.
    h.card("what");
    assert_eq!(h.app.mode, Mode::Card);
    assert!(h.app.flash.as_ref().unwrap().error);
    h.key(KeyCode::Esc);

    h.key(KeyCode::Char('!'));
    let name = h.app.open.as_ref().unwrap().summary.chat.title.clone();
    let s = h.screen();
    assert!(s.contains(&format!("Disable {name}?")), "{s}");
    h.key(KeyCode::Esc);
    assert_eq!(
        h.server_subscriber().status,
        SubscriptionStatus::Active,
        "Esc keeps the subscriber"
    );
    h.key(KeyCode::Char('!'));
    h.key(KeyCode::Char('y'));
    h.server_until("the subscriber disabled", |h| {
        h.server_subscriber().status == SubscriptionStatus::Disabled
    });
}

#[test]
fn h4_notification_settings_are_read_and_toggled_on_the_server() {
    let mut h = action_harness();
    let before = h
        .server
        .rt
        .block_on(h.client.notification_settings())
        .unwrap();
    h.key(KeyCode::Char('N'));
    assert!(matches!(h.app.mode, Mode::Notify { settings: None, .. }));
    h.until("the settings", |a| {
        matches!(
            a.mode,
            Mode::Notify {
                settings: Some(_),
                ..
            }
        )
    });
    assert!(matches!(h.app.mode, Mode::Notify { settings: Some(s), .. } if s == before));
    assert!(h.screen().contains("Notifications (H4)"));
    // Email (row 0), then push (row 2).
    h.key(KeyCode::Enter);
    h.key(KeyCode::Down);
    h.key(KeyCode::Down);
    h.key(KeyCode::Char(' '));
    let client = h.client.clone();
    let want = (!before.email, !before.push);
    h.server_until("the settings on the server", move |h| {
        let s = h
            .server
            .rt
            .block_on(client.notification_settings())
            .unwrap();
        (s.email, s.push) == want && s.notifications_bot == before.notifications_bot
    });
    h.until("saved", |a| {
        a.flash
            .as_ref()
            .is_some_and(|f| f.text == "notification settings saved")
    });
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode, Mode::List);
}

impl Harness {
    fn server_deals(&self) -> Vec<rapport_core::model::Deal> {
        self.server
            .srv
            .workspace("w1")
            .store
            .deals(&SubscriberId::from("s1"))
            .unwrap()
    }

    /// Moves the deals popup's selection (from the top) down to deal `id`.
    fn select_deal(&mut self, id: &rapport_core::model::DealId) {
        let i = self
            .app
            .open
            .as_ref()
            .and_then(|o| o.deals.iter().position(|x| &x.id == id))
            .expect("the deal is in the popup");
        for _ in 0..i {
            self.key(KeyCode::Down);
        }
    }

    /// Types `text` on a deals prompt opened by `key` in the deals popup.
    fn deal_prompt(&mut self, key: char, text: &str) {
        assert!(
            matches!(self.app.mode, Mode::Deals { .. }),
            "{:?}",
            self.app.mode
        );
        self.key(KeyCode::Char(key));
        assert!(matches!(self.app.mode, Mode::DealInput(_)));
        self.input_clear();
        self.type_text(text);
        self.key(KeyCode::Enter);
    }

    fn input_clear(&mut self) {
        while !self.app.input.is_empty() {
            self.key(KeyCode::Backspace);
        }
    }
}

#[test]
fn g1_g3_a_deal_is_added_then_moved_and_re_priced_on_the_server() {
    let mut h = action_harness();
    h.key(KeyCode::Char('G'));
    assert_eq!(h.app.mode, Mode::Deals { selected: 0 });
    assert!(h.screen().contains("Deals (G1-G3)"));
    // What the prompt does not read stays to fix, and queues nothing.
    h.deal_prompt('a', "sales/new Big order");
    assert!(matches!(h.app.mode, Mode::DealInput(_)));
    assert!(h.app.flash.as_ref().unwrap().error);
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode, Mode::Deals { selected: 0 });

    h.deal_prompt('a', "sales/new Big order 125.50 eur");
    h.server_until("the deal", |h| {
        h.server_deals().iter().any(|d| d.name == "Big order")
    });
    let d = h
        .server_deals()
        .into_iter()
        .find(|d| d.name == "Big order")
        .unwrap();
    assert_eq!(
        (
            d.pipeline.id.as_str(),
            d.stage.id.as_str(),
            d.amount_minor,
            d.currency.as_str()
        ),
        ("sales", "new", 12550, "EUR")
    );
    h.until("the deal in the popup", |a| {
        a.open
            .as_ref()
            .is_some_and(|o| o.deals.iter().any(|x| x.id == d.id))
    });
    let s = h.screen();
    assert!(s.contains("sales / new · Big order · 125.50 EUR"), "{s}");

    h.select_deal(&d.id);
    h.deal_prompt('e', "won 990");
    h.server_until("the deal moved and re-priced", |h| {
        h.server_deals()
            .iter()
            .any(|x| x.id == d.id && x.stage.id == "won" && x.amount_minor == 99000)
    });
    h.until("the new stage in the popup", |a| {
        a.open
            .as_ref()
            .is_some_and(|o| o.deals.iter().any(|x| x.id == d.id && x.stage.id == "won"))
    });
    assert!(h.screen().contains("Big order · 990.00 EUR"));
    // The amount alone keeps the stage.
    h.select_deal(&d.id);
    h.deal_prompt('e', "10.05");
    h.server_until("the deal re-priced", |h| {
        h.server_deals()
            .iter()
            .any(|x| x.id == d.id && x.stage.id == "won" && x.amount_minor == 1005)
    });
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode, Mode::List);
}

#[test]
fn g2_the_crm_contact_is_renamed_on_the_server() {
    let mut h = action_harness();
    h.key(KeyCode::Char('G'));
    h.deal_prompt('n', "Ada Lovelace");
    h.server_until("the CRM contact", |h| {
        h.server_subscriber()
            .crm_contact
            .is_some_and(|c| c.first_name == "Ada" && c.last_name == "Lovelace")
    });
    h.until("the contact on the card", |a| {
        a.open
            .as_ref()
            .and_then(|o| o.card.as_ref())
            .and_then(|c| c.crm_contact.as_ref())
            .is_some_and(|c| c.first_name == "Ada")
    });
    assert!(h.screen().contains("CRM contact: Ada Lovelace"));
    // An empty name is not sent.
    h.deal_prompt('n', "");
    assert!(h.app.flash.as_ref().unwrap().error);
}

#[test]
fn a7_home_lists_the_latest_chats_and_enter_opens_one() {
    let mut h = action_harness();
    h.key(KeyCode::Esc);
    assert!(h.app.open.is_none());
    // Opening tg marked it read (B10); let that command reach the server
    // and its event come back, so the home list cannot change under the
    // comparison.
    let c = h.client.clone();
    wait_until("the mark-read sent", 20, || {
        c.unsent_commands().unwrap() == 0
    });
    h.server.srv.sync(&c);
    h.pump();
    h.key(KeyCode::Char('H'));
    let Mode::Home { chats, .. } = h.app.mode.clone() else {
        panic!("{:?}", h.app.mode)
    };
    assert_eq!(chats, h.client.home(50).unwrap());
    assert!(chats.len() > 1);
    let s = h.screen();
    assert!(s.contains("Home: latest chats (A7)"), "{s}");
    assert!(s.contains(&crate_truncate(&chats[1].chat.title)), "{s}");
    h.key(KeyCode::Down);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode, Mode::List);
    assert_eq!(
        h.app.open.as_ref().unwrap().summary.chat.id,
        chats[1].chat.id
    );
}

fn crate_truncate(title: &str) -> String {
    title.chars().take(20).collect()
}
