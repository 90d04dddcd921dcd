//! Actions on one timeline item (B7 react, B8 edit/delete a message, C1
//! edit/delete a note), on the subscriber card (F5 tags and variables, F6
//! flows, F8 disable) and the notification settings (H4). Every check is
//! the core's: `Client::check_action` before a prompt opens (so a refusal
//! shows at once) and `Client::run_action` again when the agent confirms.

use super::{App, CoreMsg, Mode, REACTIONS};
use rapport_core::model::Content;
use rapport_core::push::NotificationSettings;
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::sync::Action;
use rapport_core::wire::SubscriberEdit;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// H4: the rows of the settings popup.
pub const NOTIFY_ROWS: [&str; 4] = [
    "email about open chats",
    "notifications bot (Telegram)",
    "push to my devices",
    "message preview in pushes",
];

pub fn notify_row(s: &NotificationSettings, row: usize) -> bool {
    match row {
        0 => s.email,
        1 => s.notifications_bot,
        2 => s.push,
        _ => s.push_preview,
    }
}

fn toggle(s: &mut NotificationSettings, row: usize) {
    let f = match row {
        0 => &mut s.email,
        1 => &mut s.notifications_bot,
        2 => &mut s.push,
        _ => &mut s.push_preview,
    };
    *f = !*f;
}

impl App {
    /// The timeline item under the cursor, if it is still shown.
    pub fn selected_item(&self) -> Option<&TimelineItem> {
        let open = self.open.as_ref()?;
        let id = open.cursor.as_ref()?;
        open.items.iter().find(|i| &i.id() == id)
    }

    /// ↑↓ over the open chat's timeline (when it has the focus).
    pub(super) fn move_cursor(&mut self, delta: isize) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.items.is_empty() {
            open.cursor = None;
            return;
        }
        let last = open.items.len() - 1;
        let at = open
            .cursor
            .as_ref()
            .and_then(|c| open.items.iter().position(|i| &i.id() == c))
            .unwrap_or(last);
        let to = at.saturating_add_signed(delta).min(last);
        open.cursor = Some(open.items[to].id());
        // The view keeps the cursor on screen.
        open.scroll = 0;
    }

    pub(super) fn focus_timeline(&mut self, on: bool) {
        self.timeline_focus = on && self.open.is_some();
        if self.timeline_focus && self.selected_item().is_none() {
            self.move_cursor(0);
        }
    }

    fn checked(&mut self, action: &Action) -> bool {
        match self.client.check_action(action) {
            Ok(()) => true,
            Err(e) => {
                self.flash(e.to_string(), true);
                false
            }
        }
    }

    fn need_item(&mut self) -> Option<TimelineItem> {
        let item = self.selected_item().cloned();
        if item.is_none() {
            self.flash("select a message first (→, then ↑↓)", true);
        }
        item
    }

    /// B7: the reaction picker, if the core allows reacting to the item.
    pub(super) fn start_react(&mut self) {
        let (Some(chat_id), Some(item)) = (self.open_chat_id(), self.need_item()) else {
            return;
        };
        let TimelineItem::Message(m) = item else {
            self.flash("a note takes no reaction", true);
            return;
        };
        let action = Action::React {
            chat_id,
            message_id: m.id,
            emoji: Some(REACTIONS[0].into()),
        };
        if self.checked(&action) {
            self.mode = Mode::React { selected: 0 };
        }
    }

    pub(super) fn reacting(&mut self, k: KeyEvent, selected: usize) {
        let rows = REACTIONS.len() + 1;
        match k.code {
            KeyCode::Esc => self.mode = Mode::List,
            KeyCode::Left | KeyCode::Up | KeyCode::Char('h' | 'k') => {
                self.mode = Mode::React {
                    selected: selected.saturating_sub(1),
                }
            }
            KeyCode::Right | KeyCode::Down | KeyCode::Char('l' | 'j') => {
                self.mode = Mode::React {
                    selected: (selected + 1).min(rows - 1),
                }
            }
            KeyCode::Char(c @ '1'..='7') => self.react(c as usize - '1' as usize),
            KeyCode::Char('x') => self.react(REACTIONS.len()),
            KeyCode::Enter => self.react(selected),
            _ => {}
        }
    }

    fn react(&mut self, row: usize) {
        self.mode = Mode::List;
        let chat_id = self.open_chat_id();
        let Some(TimelineItem::Message(m)) = self.selected_item().cloned() else {
            return;
        };
        let Some(chat_id) = chat_id else { return };
        let emoji = REACTIONS.get(row).map(|e| (*e).to_owned());
        let done = emoji.as_ref().map_or_else(
            || "removing your reaction".to_owned(),
            |e| format!("reacting {e}"),
        );
        self.act(
            Action::React {
                chat_id,
                message_id: m.id,
                emoji,
            },
            &done,
        );
    }

    /// B8 / C1: the item's text into the input, if the core allows editing.
    pub(super) fn start_edit(&mut self) {
        let (Some(chat_id), Some(item)) = (self.open_chat_id(), self.need_item()) else {
            return;
        };
        let id = item.id();
        let (action, text) = match item {
            TimelineItem::Message(m) => {
                let text = match &m.content {
                    Content::Text { text } => text.clone(),
                    _ => {
                        self.flash("only a text message can be edited", true);
                        return;
                    }
                };
                (
                    Action::EditMessage {
                        chat_id,
                        message_id: m.id,
                        text: text.clone(),
                    },
                    text,
                )
            }
            TimelineItem::Note(n) => (
                Action::EditNote {
                    chat_id,
                    note_id: n.id,
                    text: n.text.clone(),
                },
                n.text,
            ),
        };
        if self.checked(&action) {
            self.input = text;
            self.edit_refusal = None;
            self.mode = Mode::Edit(id);
        }
    }

    /// B8 / C1: the core's verdict on the new text, as the agent types.
    pub(super) fn check_edit(&mut self, id: TimelineItemId) {
        let Some(chat_id) = self.open_chat_id() else {
            return;
        };
        let text = self.input.clone();
        let action = match id {
            TimelineItemId::Message(message_id) => Action::EditMessage {
                chat_id,
                message_id,
                text,
            },
            TimelineItemId::Note(note_id) => Action::EditNote {
                chat_id,
                note_id,
                text,
            },
        };
        self.edit_refusal = self
            .client
            .check_action(&action)
            .err()
            .map(|e| e.to_string());
    }

    /// B8 / C1: Enter while editing. A refusal keeps the text to fix.
    pub(super) fn submit_edit(&mut self, id: TimelineItemId) {
        let Some(chat_id) = self.open_chat_id() else {
            self.mode = Mode::List;
            return;
        };
        let text = self.input.clone();
        let (action, done) = match id {
            TimelineItemId::Message(message_id) => (
                Action::EditMessage {
                    chat_id,
                    message_id,
                    text,
                },
                "editing the message",
            ),
            TimelineItemId::Note(note_id) => (
                Action::EditNote {
                    chat_id,
                    note_id,
                    text,
                },
                "editing the note",
            ),
        };
        match self.client.run_action(action) {
            Ok(_) => {
                self.input.clear();
                self.mode = Mode::List;
                self.flash(done, false);
            }
            Err(e) => self.flash(e.to_string(), true),
        }
    }

    /// B8 / C1: asks before deleting the selected message or note.
    pub(super) fn start_delete(&mut self) {
        let (Some(chat_id), Some(item)) = (self.open_chat_id(), self.need_item()) else {
            return;
        };
        let (action, what) = match item {
            TimelineItem::Message(m) => (
                Action::DeleteMessage {
                    chat_id,
                    message_id: m.id,
                },
                format!(
                    "Delete the message \"{}\" for the subscriber too?",
                    crate::format::truncate(m.content.summary(), 40)
                ),
            ),
            TimelineItem::Note(n) => (
                Action::DeleteNote {
                    chat_id,
                    note_id: n.id,
                },
                format!(
                    "Delete the note \"{}\"?",
                    crate::format::truncate(&n.text, 40)
                ),
            ),
        };
        if self.checked(&action) {
            self.mode = Mode::Confirm { action, what };
        }
    }

    /// F8: asks before disabling the open chat's subscriber.
    pub(super) fn start_disable(&mut self) {
        let Some(open) = &self.open else { return };
        let name = open.summary.chat.title.clone();
        self.mode = Mode::Confirm {
            action: Action::EditSubscriber {
                subscriber_id: open.summary.chat.subscriber_id.clone(),
                edit: SubscriberEdit {
                    disable: true,
                    ..Default::default()
                },
            },
            what: format!("Disable {name}? The bot stops writing to them."),
        };
    }

    pub(super) fn confirming(&mut self, k: KeyEvent, action: Action) {
        match k.code {
            KeyCode::Char('y' | 'Y') => {
                self.mode = Mode::List;
                let done = match &action {
                    Action::DeleteMessage { .. } => "deleting the message",
                    Action::DeleteNote { .. } => "deleting the note",
                    Action::EditSubscriber { .. } => "disabling the subscriber",
                    _ => "done",
                };
                self.act(action, done);
            }
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                self.mode = Mode::List;
                self.flash("cancelled", false);
            }
            _ => {}
        }
    }

    /// F5 / F6: Enter on the card prompt: `+tag`, `-tag`, `name=value`,
    /// `name=` (clears), `>flow-id` (starts a flow), `>` (stops it).
    pub(super) fn submit_card(&mut self) {
        let Some(subscriber_id) = self
            .open
            .as_ref()
            .map(|o| o.summary.chat.subscriber_id.clone())
        else {
            self.mode = Mode::List;
            return;
        };
        let text = self.input.trim().to_owned();
        let mut edit = SubscriberEdit::default();
        let done;
        if let Some(tag) = text
            .strip_prefix('+')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            edit.add_tags.push(tag.to_owned());
            done = format!("tagging {tag}");
        } else if let Some(tag) = text
            .strip_prefix('-')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            edit.remove_tags.push(tag.to_owned());
            done = format!("removing the tag {tag}");
        } else if let Some(flow) = text.strip_prefix('>').map(str::trim) {
            edit.flow_id = Some(flow.to_owned());
            done = if flow.is_empty() {
                "stopping the flow".to_owned()
            } else {
                format!("starting the flow {flow}")
            };
        } else if let Some((k, v)) = text.split_once('=')
            && !k.trim().is_empty()
        {
            let (k, v) = (k.trim(), v.trim());
            edit.variables.insert(k.to_owned(), v.to_owned());
            done = if v.is_empty() {
                format!("clearing {k}")
            } else {
                format!("setting {k} = {v}")
            };
        } else {
            self.flash(
                "type +tag, -tag, name=value, name= (clear), >flow-id or > (stop the flow)",
                true,
            );
            return;
        }
        self.input.clear();
        self.mode = Mode::List;
        self.act(
            Action::EditSubscriber {
                subscriber_id,
                edit,
            },
            &done,
        );
    }

    /// H4: opens the popup and reads the settings off the UI thread.
    pub(super) fn open_notify(&mut self) {
        self.mode = Mode::Notify {
            settings: None,
            selected: 0,
        };
        let (client, tx) = (self.client.clone(), self.tx.clone());
        self.runtime.spawn(async move {
            let r = client
                .notification_settings()
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(CoreMsg::Notify(false, r));
        });
    }

    pub(super) fn notifying(
        &mut self,
        k: KeyEvent,
        settings: Option<NotificationSettings>,
        selected: usize,
    ) {
        let rows = NOTIFY_ROWS.len();
        match k.code {
            KeyCode::Esc | KeyCode::Char('q' | 'N') => self.mode = Mode::List,
            KeyCode::Up | KeyCode::Char('k') => {
                self.mode = Mode::Notify {
                    settings,
                    selected: selected.saturating_sub(1),
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.mode = Mode::Notify {
                    settings,
                    selected: (selected + 1).min(rows - 1),
                }
            }
            KeyCode::Enter | KeyCode::Char(' ') => {
                let Some(mut s) = settings else {
                    return; // still loading
                };
                toggle(&mut s, selected);
                // Shown at once; the server's answer replaces it.
                self.mode = Mode::Notify {
                    settings: Some(s),
                    selected,
                };
                let (client, tx) = (self.client.clone(), self.tx.clone());
                // Each save waits for the one before (toggle order).
                let before = self.notify_saving.take();
                self.notify_saving = Some(self.runtime.spawn(async move {
                    if let Some(b) = before {
                        let _ = b.await;
                    }
                    let r = client
                        .set_notification_settings(s)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(CoreMsg::Notify(true, r));
                }));
                self.flash("saving the notification settings…", false);
            }
            _ => {}
        }
    }

    pub(super) fn notify_loaded(&mut self, saved: bool, r: Result<NotificationSettings, String>) {
        match r {
            Ok(s) => {
                if let Mode::Notify { selected, .. } = self.mode {
                    self.mode = Mode::Notify {
                        settings: Some(s),
                        selected,
                    };
                }
                if saved {
                    self.flash("notification settings saved", false);
                }
            }
            Err(e) => {
                self.flash(format!("notification settings: {e}"), true);
                if saved && matches!(self.mode, Mode::Notify { .. }) {
                    // Show what the server holds, not the change it refused.
                    self.open_notify();
                }
            }
        }
    }
}
