//! The popups over the panes: assign (D1), react (B7), confirm (B8, C1,
//! F8), notification settings (H4), statistics (I1), deals (G1-G3), home
//! (A7), keys.

use super::{App, BOLD};
use crate::console::app::{NOTIFY_ROWS, REACTIONS, notify_row};
use rapport_core::model::{ChatSummary, Member};
use rapport_core::push::NotificationSettings;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn draw_assign(f: &mut Frame<'_>, members: &[Member], selected: usize) {
    let area = centered(f.area(), 44, members.len() as u16 + 3);
    let mut items = vec![ListItem::new("(nobody: unassign)")];
    items.extend(
        members
            .iter()
            .map(|m| ListItem::new(format!("{} · {}", m.name, m.role))),
    );
    let mut state = ListState::default().with_selected(Some(selected));
    f.render_widget(Clear, area);
    f.render_stateful_widget(
        List::new(items)
            .block(Block::bordered().title(" Assign to (D1) "))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
        &mut state,
    );
}

pub(super) fn draw_stats(app: &App, f: &mut Frame<'_>) {
    let mut lines = vec![Line::styled(
        format!(
            "{:<34} {:>9} {:>9} {:>11}",
            "", "sent", "received", "subscribers"
        ),
        BOLD,
    )];
    for (name, s) in &app.stats {
        lines.push(Line::raw(format!(
            "{:<34} {:>9} {:>9} {:>11}",
            crate::format::truncate(name, 34),
            s.sent,
            s.received,
            s.subscribers
        )));
    }
    let area = centered(f.area(), 70, lines.len() as u16 + 2);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Statistics (I1) ")),
        area,
    );
}

pub(super) fn draw_help(f: &mut Frame<'_>) {
    let keys = [
        ("↑ ↓ j k, Home End", "move in the chat list"),
        ("Enter", "open the chat (marks it read)"),
        ("/", "search subscribers by name as you type"),
        ("Tab s, 1 2 3 4", "status list: open, unread, closed, all"),
        ("a  t  m", "filter by app, chat type, assignee"),
        ("r", "reply (the box shows the window and refusals)"),
        (
            "Ctrl-T",
            "while replying: send as a template or tagged message (E5)",
        ),
        ("n", "add an internal note"),
        ("f", "send a file (upload progress below)"),
        ("p  e  u", "pause the bot 60 min, +60 min, continue"),
        ("g", "assign to a team member"),
        ("c  o", "close, open the chat"),
        ("R  D", "retry, discard a refused reply"),
        (
            "→ l, ← h Esc",
            "move over the open chat's messages, back to the list",
        ),
        ("+", "react to the selected subscriber message (Telegram)"),
        ("E", "edit the selected message (48 h) or note"),
        ("X", "delete the selected message (48 h) or note, after y"),
        ("C", "card: +tag -tag name=value name= >flow-id >"),
        ("G", "deals: a add, e move/re-price, n CRM contact name"),
        ("!", "disable the subscriber, after y"),
        ("N", "notification settings: email, bot, push, preview"),
        ("[  PgUp PgDn", "older history, scroll"),
        ("H", "home: the latest chats, Enter opens one"),
        ("i  S", "subscriber card, statistics"),
        ("q  Ctrl-C", "quit"),
    ];
    let lines: Vec<Line<'_>> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<20}"), BOLD),
                Span::raw(*what),
            ])
        })
        .collect();
    let area = centered(f.area(), 82, lines.len() as u16 + 2);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        area,
    );
}

pub(super) fn draw_react(f: &mut Frame<'_>, selected: usize) {
    let mut spans = Vec::new();
    for (i, e) in REACTIONS.iter().chain(["remove"].iter()).enumerate() {
        let style = if i == selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!(" {} {e} ", i + 1), style));
    }
    let area = centered(f.area(), 56, 3);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(Line::from(spans)).block(Block::bordered().title(" React (B7) ")),
        area,
    );
}

pub(super) fn draw_confirm(f: &mut Frame<'_>, what: &str) {
    let area = centered(f.area(), 70, 4);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(vec![
            Line::raw(what.to_owned()),
            Line::styled("y yes · n no", BOLD),
        ])
        .block(Block::bordered().title(" Sure? ")),
        area,
    );
}

pub(super) fn draw_notify(
    f: &mut Frame<'_>,
    settings: Option<&NotificationSettings>,
    selected: usize,
) {
    let area = centered(f.area(), 50, NOTIFY_ROWS.len() as u16 + 2);
    f.render_widget(Clear, area);
    let block = Block::bordered().title(" Notifications (H4) ");
    let Some(s) = settings else {
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let items: Vec<ListItem<'_>> = NOTIFY_ROWS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let on = if notify_row(s, i) { "[x]" } else { "[ ]" };
            ListItem::new(format!("{on} {name}"))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(selected));
    f.render_stateful_widget(
        List::new(items)
            .block(block)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
        &mut state,
    );
}

/// G1-G3: the subscriber's deals and CRM contact, with the prompt being
/// typed (if any) on the last line.
pub(super) fn draw_deals(app: &App, f: &mut Frame<'_>, selected: usize, prompt: Option<&str>) {
    let open = app.open.as_ref();
    let contact = open
        .and_then(|o| o.card.as_ref())
        .and_then(|c| c.crm_contact.as_ref())
        .map_or_else(
            || "CRM contact: none".to_owned(),
            |c| format!("CRM contact: {} {}", c.first_name, c.last_name),
        );
    let deals = open.map(|o| o.deals.as_slice()).unwrap_or_default();
    let mut lines = vec![Line::styled(contact, BOLD)];
    if deals.is_empty() {
        lines.push(Line::raw("no deals"));
    }
    for (i, d) in deals.iter().enumerate() {
        let text = format!(
            "{} / {} · {} · {}",
            d.pipeline.name,
            d.stage.name,
            d.name,
            crate::format::amount(d.amount_minor, &d.currency)
        );
        let style = if i == selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(Line::styled(text, style));
    }
    if let Some(p) = prompt {
        lines.push(Line::raw(format!("> {}▏", app.input)));
        lines.push(Line::styled(p.to_owned(), BOLD));
    }
    let area = centered(f.area(), 76, lines.len() as u16 + 2);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Deals (G1-G3) ")),
        area,
    );
}

/// A7: home, the latest chats.
pub(super) fn draw_home(app: &App, f: &mut Frame<'_>, chats: &[ChatSummary], selected: usize) {
    let items: Vec<ListItem<'_>> = chats
        .iter()
        .map(|c| {
            let (time, preview) = c.preview.as_ref().map_or_else(Default::default, |p| {
                (
                    crate::format::short_time(p.at, app.now),
                    p.text.replace('\n', " "),
                )
            });
            ListItem::new(format!(
                "{} {} {} · {} · {}",
                crate::format::status_dot(c.status),
                crate::format::app_tag(c.chat.app),
                crate::format::truncate(&c.chat.title, 24),
                time,
                crate::format::truncate(&preview, 40)
            ))
        })
        .collect();
    let area = centered(f.area(), 90, chats.len().max(1) as u16 + 2);
    let mut state = ListState::default().with_selected(Some(selected));
    f.render_widget(Clear, area);
    f.render_stateful_widget(
        List::new(items)
            .block(Block::bordered().title(" Home: latest chats (A7) "))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
        &mut state,
    );
}
