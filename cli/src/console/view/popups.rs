//! The popups over the panes: assign (D1), statistics (I1), keys.

use super::{App, BOLD};
use rapport_core::model::Member;
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
        ("[  PgUp PgDn", "older history, scroll"),
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
