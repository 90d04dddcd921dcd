//! What each key does, by mode: the list and the open chat's actions,
//! typing (reply, note, search, file path), the assign and stats popups.

use super::{App, Mode};
use rapport_core::model::{App as MessagingApp, ChatId, ChatKind, Member};
use rapport_core::outbox::Draft;
use rapport_core::policy::Decision;
use rapport_core::policy::window::Alternative;
use rapport_core::store::{AssigneeFilter, StatusFilter};
use rapport_core::sync::{Action, PauseAction};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

impl App {
    pub(super) fn key(&mut self, k: KeyEvent) {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        match self.mode.clone() {
            Mode::Reply
            | Mode::Note
            | Mode::Search
            | Mode::Attach
            | Mode::Edit(_)
            | Mode::Card
            | Mode::DealInput(_) => self.typing(k),
            Mode::Deals { selected } => self.deals_key(k, selected),
            Mode::Home { chats, selected } => self.home_key(k, chats, selected),
            Mode::Assign { members, selected } => self.assigning(k, members, selected),
            Mode::React { selected } => self.reacting(k, selected),
            Mode::Confirm { action, .. } => self.confirming(k, action),
            Mode::Notify { settings, selected } => self.notifying(k, settings, selected),
            Mode::Stats | Mode::Help => {
                if matches!(k.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q'))
                    || k.code == KeyCode::Char('S')
                    || k.code == KeyCode::Char('?')
                {
                    self.mode = Mode::List;
                }
            }
            Mode::List => self.list_key(k),
        }
    }

    fn list_key(&mut self, k: KeyEvent) {
        let chat = self.open_chat_id();
        if self.timeline_focus && chat.is_some() {
            // ↑↓ move over the timeline's items (B7, B8, C1 act on it).
            match k.code {
                KeyCode::Up | KeyCode::Char('k') => return self.move_cursor(-1),
                KeyCode::Down | KeyCode::Char('j') => return self.move_cursor(1),
                KeyCode::Home => return self.move_cursor(isize::MIN / 2),
                KeyCode::End => return self.move_cursor(isize::MAX / 2),
                KeyCode::Left | KeyCode::Char('h') | KeyCode::Esc => {
                    return self.focus_timeline(false);
                }
                _ => {}
            }
        }
        match k.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Right | KeyCode::Char('l') => self.focus_timeline(true),
            KeyCode::Left | KeyCode::Char('h') => self.focus_timeline(false),
            KeyCode::Char('N') => self.open_notify(),
            KeyCode::Esc => {
                if self.filter.search.is_some() {
                    self.set_filter(|f| f.search = None);
                } else {
                    self.open = None;
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Home => self.move_selection(isize::MIN / 2),
            KeyCode::End => self.move_selection(isize::MAX / 2),
            KeyCode::PageUp => {
                if let Some(o) = self.open.as_mut() {
                    o.scroll = o.scroll.saturating_add(10);
                }
            }
            KeyCode::PageDown => {
                if let Some(o) = self.open.as_mut() {
                    o.scroll = o.scroll.saturating_sub(10);
                }
            }
            KeyCode::Enter => {
                if let Some(id) = self.selected_chat().map(|c| c.chat.id.clone()) {
                    self.open_chat(id);
                }
            }
            KeyCode::Char('/') => {
                self.input = self.filter.search.clone().unwrap_or_default();
                self.mode = Mode::Search;
            }
            KeyCode::Tab | KeyCode::Char('s') => {
                let next = match self.filter.status {
                    StatusFilter::Open => StatusFilter::Unread,
                    StatusFilter::Unread => StatusFilter::Closed,
                    StatusFilter::Closed => StatusFilter::All,
                    StatusFilter::All => StatusFilter::Open,
                };
                self.set_filter(|f| f.status = next);
            }
            KeyCode::Char(c @ '1'..='4') => {
                let status = StatusFilter::ALL[match c {
                    '1' => 1,
                    '2' => 2,
                    '3' => 3,
                    _ => 0,
                }];
                self.set_filter(|f| f.status = status);
            }
            KeyCode::Char('a') => {
                let apps = MessagingApp::ALL;
                let next = match self.filter.app {
                    None => Some(apps[0]),
                    Some(a) => apps
                        .iter()
                        .position(|x| *x == a)
                        .and_then(|i| apps.get(i + 1).copied()),
                };
                self.set_filter(|f| f.app = next);
            }
            KeyCode::Char('t') => {
                let next = match self.filter.kind {
                    None => Some(ChatKind::Personal),
                    Some(ChatKind::Personal) => Some(ChatKind::Group),
                    Some(ChatKind::Group) => None,
                };
                self.set_filter(|f| f.kind = next);
            }
            KeyCode::Char('m') => {
                let next = match self.filter.assignee {
                    AssigneeFilter::All => AssigneeFilter::Mine,
                    AssigneeFilter::Mine => AssigneeFilter::Unassigned,
                    AssigneeFilter::Unassigned => AssigneeFilter::All,
                };
                self.set_filter(|f| f.assignee = next);
            }
            KeyCode::Char('i') => self.show_card = !self.show_card,
            KeyCode::Char('S') => self.open_stats(),
            KeyCode::Char('H') => self.open_home(),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('[') => self.load_older(),
            _ => {}
        }
        let Some(chat_id) = chat else {
            if matches!(
                k.code,
                KeyCode::Char(
                    'r' | 'n'
                        | 'f'
                        | 'p'
                        | 'e'
                        | 'u'
                        | 'g'
                        | 'c'
                        | 'o'
                        | '+'
                        | 'E'
                        | 'X'
                        | 'C'
                        | 'G'
                        | '!'
                )
            ) {
                self.flash("open a chat first (Enter)", true);
            }
            return;
        };
        match k.code {
            KeyCode::Char('r') => {
                self.mode = Mode::Reply;
                self.input.clear();
                self.check_reply();
            }
            KeyCode::Char('n') => {
                self.mode = Mode::Note;
                self.input.clear();
            }
            KeyCode::Char('f') => {
                self.mode = Mode::Attach;
                self.input.clear();
            }
            KeyCode::Char('p') => self.act(
                Action::Pause {
                    chat_id,
                    action: PauseAction::Start,
                },
                "pausing the bot for 60 minutes",
            ),
            KeyCode::Char('e') => self.act(
                Action::Pause {
                    chat_id,
                    action: PauseAction::Extend,
                },
                "extending the pause by 60 minutes",
            ),
            KeyCode::Char('u') => self.act(
                Action::Pause {
                    chat_id,
                    action: PauseAction::Continue,
                },
                "continuing autoflows",
            ),
            KeyCode::Char('c') => self.act(Action::Close { chat_id }, "closing the chat"),
            KeyCode::Char('o') => self.act(Action::Open { chat_id }, "opening the chat"),
            KeyCode::Char('g') => match self.client.members(true) {
                Ok(members) => {
                    self.mode = Mode::Assign {
                        members,
                        selected: 0,
                    }
                }
                Err(e) => self.flash(e.to_string(), true),
            },
            KeyCode::Char('+') => self.start_react(),
            KeyCode::Char('E') => self.start_edit(),
            KeyCode::Char('X') => self.start_delete(),
            KeyCode::Char('C') => {
                self.mode = Mode::Card;
                self.input.clear();
            }
            KeyCode::Char('G') => self.open_deals(),
            KeyCode::Char('!') => self.start_disable(),
            KeyCode::Char('R') => self.retry_failed(false),
            KeyCode::Char('D') => self.retry_failed(true),
            _ => {}
        }
    }

    /// E7: retry (or discard) the open chat's latest refused message.
    fn retry_failed(&mut self, discard: bool) {
        let Some(id) = self
            .open
            .as_ref()
            .and_then(|o| o.failed.values().map(|(id, _)| *id).max())
        else {
            self.flash("nothing failed in this chat", false);
            return;
        };
        let r = if discard {
            self.client.discard(id)
        } else {
            self.client.retry(id)
        };
        match r {
            Ok(()) => self.flash(if discard { "discarded" } else { "retrying" }, false),
            Err(e) => self.flash(e.to_string(), true),
        }
        self.refresh_failed();
    }

    fn open_stats(&mut self) {
        let bots = self.client.bots().unwrap_or_default();
        match self.client.stats() {
            Ok(stats) => {
                self.stats = stats
                    .into_iter()
                    .map(|s| {
                        let name = match &s.bot_id {
                            None => "All bots".to_owned(),
                            Some(id) => bots.iter().find(|b| &b.id == id).map_or_else(
                                || id.to_string(),
                                |b| format!("{} ({})", b.name, crate::format::app_name(b.app)),
                            ),
                        };
                        (name, s)
                    })
                    .collect();
                self.mode = Mode::Stats;
            }
            Err(e) => self.flash(e.to_string(), true),
        }
    }

    /// E5: outside the window, the typed text goes out as what the core
    /// says may go instead: a WhatsApp template (the text names it) or a
    /// Messenger message with its tag.
    fn send_alternative(&mut self) {
        let Some(chat) = self.open_chat_id() else {
            return;
        };
        let first = match &self.decision {
            Some(Decision::Refused { instead, .. }) => instead.first().copied(),
            _ => None,
        };
        let sent = match first {
            Some(Alternative::WhatsappTemplate) => self.client.send(
                &chat,
                Draft::Template {
                    name: self.input.trim(),
                },
                None,
            ),
            Some(Alternative::MessengerTag(tag)) => self.client.send(
                &chat,
                Draft::Tagged {
                    tag,
                    text: &self.input,
                },
                None,
            ),
            None => {
                self.flash("nothing else may go out here now", true);
                return;
            }
        };
        match sent {
            Ok(_) => {
                self.input.clear();
                self.mode = Mode::List;
                self.flash("sending…", false);
                self.drain();
                self.check_reply();
            }
            Err(e) => self.flash(e.to_string(), true),
        }
    }

    fn typing(&mut self, k: KeyEvent) {
        match k.code {
            KeyCode::Esc => {
                if self.mode == Mode::Search {
                    self.set_filter(|f| f.search = None);
                }
                self.input.clear();
                self.mode = if matches!(self.mode, Mode::DealInput(_)) {
                    Mode::Deals { selected: 0 }
                } else {
                    Mode::List
                };
                self.check_reply();
                return;
            }
            KeyCode::Enter => {
                self.submit();
                return;
            }
            KeyCode::Char('t')
                if k.modifiers.contains(KeyModifiers::CONTROL) && self.mode == Mode::Reply =>
            {
                self.send_alternative();
                return;
            }
            KeyCode::Backspace => {
                self.input.pop();
            }
            KeyCode::Char(c) => self.input.push(c),
            _ => return,
        }
        match self.mode {
            // A6: search as the agent types.
            Mode::Search => {
                let text = self.input.clone();
                self.set_filter(|f| f.search = (!text.is_empty()).then_some(text));
            }
            Mode::Reply => self.check_reply(),
            Mode::Edit(ref id) => self.check_edit(id.clone()),
            _ => {}
        }
    }

    fn submit(&mut self) {
        let Some(chat) = self.open_chat_id() else {
            self.mode = Mode::List;
            return;
        };
        match self.mode {
            Mode::Search => {
                self.mode = Mode::List;
            }
            Mode::Reply => match self.client.send(&chat, Draft::Text(&self.input), None) {
                // E7: the echo shows at once; the ticks follow.
                Ok(_) => {
                    self.input.clear();
                    self.mode = Mode::List;
                    self.flash("sending…", false);
                    self.drain();
                    self.check_reply();
                }
                Err(e) => self.flash(e.to_string(), true),
            },
            Mode::Attach => self.attach(&chat),
            Mode::Edit(ref id) => self.submit_edit(id.clone()),
            Mode::Card => self.submit_card(),
            Mode::DealInput(ref p) => self.submit_deal(p.clone()),
            Mode::Note => {
                let text = std::mem::take(&mut self.input);
                self.mode = Mode::List;
                self.act(
                    Action::AddNote {
                        chat_id: chat,
                        text,
                    },
                    "adding the note",
                );
            }
            _ => self.mode = Mode::List,
        }
    }

    /// E2: the file at the typed path, checked by the core (sniffed,
    /// sized) and queued with its echo; the outbox uploads it.
    fn attach(&mut self, chat: &ChatId) {
        let path = std::path::PathBuf::from(self.input.trim());
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                self.flash(format!("{}: {e}", path.display()), true);
                return;
            }
        };
        let name = path
            .file_name()
            .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
        match self.client.send(
            chat,
            Draft::File {
                name: &name,
                bytes: &bytes,
                caption: None,
            },
            None,
        ) {
            Ok(_) => {
                self.input.clear();
                self.mode = Mode::List;
                self.flash(format!("sending {name}…"), false);
                self.drain();
            }
            Err(e) => self.flash(e.to_string(), true),
        }
    }

    fn assigning(&mut self, k: KeyEvent, members: Vec<Member>, selected: usize) {
        // Row 0 unassigns; row i is members[i - 1].
        let rows = members.len() + 1;
        match k.code {
            KeyCode::Esc => self.mode = Mode::List,
            KeyCode::Up | KeyCode::Char('k') => {
                self.mode = Mode::Assign {
                    members,
                    selected: selected.saturating_sub(1),
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.mode = Mode::Assign {
                    members,
                    selected: (selected + 1).min(rows - 1),
                }
            }
            KeyCode::Enter => {
                self.mode = Mode::List;
                let Some(chat_id) = self.open_chat_id() else {
                    return;
                };
                let member = selected.checked_sub(1).and_then(|i| members.get(i));
                let done = member.map_or_else(
                    || "unassigning".to_owned(),
                    |m| format!("assigning to {}", m.name),
                );
                self.act(
                    Action::Assign {
                        chat_id,
                        member_id: member.map(|m| m.id.clone()),
                    },
                    &done,
                );
            }
            _ => {}
        }
    }
}
