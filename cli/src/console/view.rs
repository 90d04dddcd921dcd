//! Drawing the console's state (no state of its own, no I/O): `draw`
//! renders an [`App`] into any ratatui frame, and the line builders are
//! shared with the text output of `rapport show`.

use super::app::{App, DealPrompt, Mode, OpenChat};
use crate::format;
use rapport_core::model::ChatStatus;
use rapport_core::policy::Decision;
use rapport_core::store::{AssigneeFilter, StatusFilter, TimelineItem};
use rapport_core::sync::SyncState;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Gauge, List, ListItem, ListState, Paragraph, Wrap};

mod lines;
mod popups;

pub use lines::{card_lines, item_lines, plain, progress_text};
use lines::{item_lines_with, wrap};
use popups::{
    draw_assign, draw_confirm, draw_deals, draw_help, draw_home, draw_notify, draw_react,
    draw_stats,
};

const DIM: Style = Style::new().fg(Color::DarkGray);
const RED: Style = Style::new().fg(Color::Red);
const GREEN: Style = Style::new().fg(Color::Green);
const YELLOW: Style = Style::new().fg(Color::Yellow);
const CYAN: Style = Style::new().fg(Color::Cyan);
const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);

fn dot(status: ChatStatus) -> Span<'static> {
    let style = match status {
        ChatStatus::Closed => DIM,
        _ => RED,
    };
    Span::styled(format::status_dot(status), style)
}

pub fn draw(app: &App, f: &mut Frame<'_>) {
    let [top, filters, main, flash, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_top(app, f, top);
    draw_filters(app, f, filters);
    draw_main(app, f, main);
    if let Some(fl) = &app.flash {
        let style = if fl.error { RED } else { DIM };
        f.render_widget(Paragraph::new(Span::styled(fl.text.clone(), style)), flash);
    }
    f.render_widget(Paragraph::new(Span::styled(help_line(app), DIM)), help);
    match &app.mode {
        Mode::Assign { members, selected } => draw_assign(f, members, *selected),
        Mode::Stats => draw_stats(app, f),
        Mode::Help => draw_help(f),
        Mode::React { selected } => draw_react(f, *selected),
        Mode::Confirm { what, .. } => draw_confirm(f, what),
        Mode::Notify { settings, selected } => draw_notify(f, settings.as_ref(), *selected),
        Mode::Deals { selected } => draw_deals(app, f, *selected, None),
        Mode::DealInput(p) => draw_deals(app, f, usize::MAX, Some(deal_prompt(p))),
        Mode::Home { chats, selected } => draw_home(app, f, chats, *selected),
        _ => {}
    }
}

fn draw_top(app: &App, f: &mut Frame<'_>, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(44)]).areas(area);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Rapport ", BOLD),
            Span::styled(app.label.clone(), DIM),
        ])),
        left,
    );
    let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
    let spin = spinner[(app.now.0 / 1000).rem_euclid(10) as usize];
    match &app.sync {
        SyncState::CatchingUp { at, head } => {
            // The first sync of a large workspace: how far it got.
            let ratio = if head.0 == 0 {
                1.0
            } else {
                (at.0 as f64 / head.0 as f64).clamp(0.0, 1.0)
            };
            f.render_widget(
                Gauge::default()
                    .gauge_style(GREEN)
                    .ratio(ratio)
                    .label(format!("syncing {}", progress_text(at.0, head.0))),
                right,
            );
        }
        s => {
            let (text, style) = match s {
                SyncState::Idle => ("not syncing".to_owned(), DIM),
                SyncState::Snapshot => {
                    (format!("{spin} first sync: loading the workspace…"), YELLOW)
                }
                SyncState::Live { at } => (format!("● live · seq {}", at.0), GREEN),
                SyncState::Offline { retry_in, reason } => (
                    format!("offline, retry in {}s: {reason}", retry_in.as_secs()),
                    YELLOW,
                ),
                SyncState::Failed { reason, .. } => (format!("sync stopped: {reason}"), RED),
                SyncState::CatchingUp { .. } => unreachable!("drawn above"),
            };
            f.render_widget(
                Paragraph::new(Span::styled(text, style)).right_aligned(),
                right,
            );
        }
    }
}

fn draw_filters(app: &App, f: &mut Frame<'_>, area: Rect) {
    let c = &app.counts;
    let mut spans = Vec::new();
    for (key, status, name, n) in [
        ('1', StatusFilter::Open, "Open", c.open),
        ('2', StatusFilter::Unread, "Unread", c.unread),
        ('3', StatusFilter::Closed, "Closed", c.closed),
        ('4', StatusFilter::All, "All", c.all),
    ] {
        let style = if app.filter.status == status {
            BOLD.add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("{key} {name} {n}"), style));
        spans.push(Span::raw("  "));
    }
    let app_name = app.filter.app.map_or("all", format::app_name);
    let kind = app.filter.kind.map_or("all", format::kind_name);
    let assignee = match app.filter.assignee {
        AssigneeFilter::All => "all",
        AssigneeFilter::Mine => "mine",
        AssigneeFilter::Unassigned => "unassigned",
    };
    spans.push(Span::styled(
        format!("│ a app: {app_name} │ t type: {kind} │ m assignee: {assignee} │ "),
        DIM,
    ));
    let search = app.filter.search.clone().unwrap_or_default();
    if app.mode == Mode::Search {
        spans.push(Span::styled(format!("/{search}▏"), YELLOW));
    } else if !search.is_empty() {
        spans.push(Span::styled(format!("/{search}"), YELLOW));
    } else {
        spans.push(Span::styled("/ search", DIM));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_main(app: &App, f: &mut Frame<'_>, area: Rect) {
    let width = area.width;
    match &app.open {
        // Narrow: one pane at a time.
        Some(open) if width < 70 => draw_chat(app, open, f, area),
        None if width < 70 => draw_list(app, f, area),
        None => {
            let [list, rest] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Min(10)]).areas(area);
            draw_list(app, f, list);
            f.render_widget(
                Paragraph::new(Text::from(vec![
                    Line::from(""),
                    Line::styled("Enter opens the selected chat.", DIM),
                    Line::styled("? lists every key.", DIM),
                ]))
                .block(Block::bordered()),
                rest,
            );
        }
        Some(open) => {
            let list_w = (width * 2 / 5).clamp(28, 48);
            let card_w = if app.show_card && width >= 110 { 34 } else { 0 };
            let [list, chat, card] = Layout::horizontal([
                Constraint::Length(list_w),
                Constraint::Min(20),
                Constraint::Length(card_w),
            ])
            .areas(area);
            draw_list(app, f, list);
            draw_chat(app, open, f, chat);
            if card_w > 0 {
                draw_card(app, open, f, card);
            }
        }
    }
}

fn draw_list(app: &App, f: &mut Frame<'_>, area: Rect) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let items: Vec<ListItem<'_>> = app
        .chats
        .iter()
        .map(|c| {
            let time = c
                .preview
                .as_ref()
                .map(|p| format::short_time(p.at, app.now))
                .unwrap_or_default();
            let title_w = inner_w.saturating_sub(6 + time.chars().count() + 1);
            let title = crate::format::truncate(&c.chat.title, title_w);
            // Pad by display width (emoji and CJK take two cells).
            let pad = title_w.saturating_sub(Span::raw(title.as_str()).width());
            let first = Line::from(vec![
                dot(c.status),
                Span::raw(" "),
                Span::styled(format!("{} ", format::app_tag(c.chat.app)), DIM),
                Span::styled(
                    title,
                    if c.status == ChatStatus::Unread {
                        BOLD
                    } else {
                        Style::new()
                    },
                ),
                Span::raw(" ".repeat(pad + 1)),
                Span::styled(time, DIM),
            ]);
            let preview = c
                .preview
                .as_ref()
                .map(|p| p.text.replace('\n', " "))
                .unwrap_or_default();
            let second = Line::styled(
                format!(
                    "  {}",
                    crate::format::truncate(&preview, inner_w.saturating_sub(2))
                ),
                DIM,
            );
            ListItem::new(Text::from(vec![first, second]))
        })
        .collect();
    let title = format!(" Chats ({}) ", app.chats.len());
    let mut state = ListState::default().with_selected(Some(app.selected));
    f.render_stateful_widget(
        List::new(items)
            .block(Block::bordered().title(title))
            .highlight_style(Style::new().bg(Color::DarkGray)),
        area,
        &mut state,
    );
}

fn draw_chat(app: &App, open: &OpenChat, f: &mut Frame<'_>, area: Rect) {
    let typing = matches!(
        app.mode,
        Mode::Reply | Mode::Note | Mode::Attach | Mode::Edit(_) | Mode::Card
    );
    let [header, timeline, reply] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(5),
    ])
    .areas(area);
    let chat = &open.summary.chat;
    let assignee = chat
        .assignee
        .as_ref()
        .map(|m| format::member_name(&app.members, m))
        .unwrap_or_else(|| "unassigned".into());
    let cd = rapport_core::timers::countdowns(chat, app.now);
    let mut second = vec![Span::styled(format::window_line(cd.window, app.now), DIM)];
    if let Some(left) = cd.pause_left_ms {
        // F7: the pause and how long it has left.
        second.push(Span::styled(
            format!(
                " · bot paused, {} left (e +60 min, u continue)",
                format::duration_ms(left)
            ),
            YELLOW,
        ));
    }
    f.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                dot(open.summary.status),
                Span::raw(" "),
                Span::styled(chat.title.clone(), BOLD),
            ]),
            Line::styled(
                format!(
                    "{} · {} · {} · {}",
                    format::app_name(chat.app),
                    format::kind_name(chat.kind),
                    format::status_name(open.summary.status),
                    assignee
                ),
                DIM,
            ),
            Line::from(second),
        ]),
        header,
    );

    // The timeline, newest at the bottom, wrapped to the pane.
    let width = timeline.width.saturating_sub(2).max(10) as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    if open.loading_older {
        lines.push(Line::styled("loading older history…", DIM));
    }
    // The cursor's item (B7, B8, C1): marked, and kept on screen.
    let cursor = open.cursor.as_ref().filter(|_| app.timeline_focus);
    let mut selected = None;
    for item in &open.items {
        let failed = match item {
            TimelineItem::Message(m) => open.failed.get(&m.id).map(|(_, r)| r.as_str()),
            TimelineItem::Note(_) => None,
        };
        let here = cursor == Some(&item.id());
        let start = lines.len();
        for l in item_lines_with(item, &chat.title, &app.members, app.now, failed) {
            let l = if here {
                let mut spans = vec![Span::styled("▶ ", BOLD)];
                spans.extend(l.spans);
                Line::from(spans).style(Style::new().bg(Color::DarkGray))
            } else {
                l
            };
            lines.extend(wrap(l, width));
        }
        if here {
            selected = Some((start, lines.len()));
        }
    }
    let height = timeline.height.saturating_sub(2) as usize;
    let mut bottom = lines.len().saturating_sub(open.scroll as usize);
    if let Some((start, end)) = selected {
        if end > bottom {
            bottom = end;
        }
        if start < bottom.saturating_sub(height) {
            bottom = (start + height).min(lines.len());
        }
    }
    let top = bottom.saturating_sub(height);
    let shown: Vec<Line<'static>> = lines[top..bottom].to_vec();
    let title = if open.scroll > 0 {
        format!(" Timeline (↑{}) ", open.scroll)
    } else {
        " Timeline ".to_owned()
    };
    f.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(title)),
        timeline,
    );

    // The reply box: E4's countdown and why a reply is refused.
    let (title, input_style) = match app.mode {
        Mode::Note => (" Note (never sent to the subscriber) ".to_owned(), YELLOW),
        Mode::Reply => (" Reply ".to_owned(), Style::new()),
        Mode::Attach => (" Attach a file: its path ".to_owned(), CYAN),
        Mode::Edit(rapport_core::store::TimelineItemId::Message(_)) => {
            (" Editing the message (B8) ".to_owned(), CYAN)
        }
        Mode::Edit(_) => (" Editing the note ".to_owned(), YELLOW),
        Mode::Card => (
            " Card: +tag -tag name=value name= >flow-id > ".to_owned(),
            CYAN,
        ),
        _ => (" r reply · n note · f file ".to_owned(), DIM),
    };
    let verdict = match (&app.mode, &app.decision) {
        (Mode::Edit(_), _) => match &app.edit_refusal {
            Some(r) => Span::styled(format!("✗ {r}"), RED),
            None => Span::styled("✓ may save", GREEN),
        },
        (Mode::Note | Mode::Attach | Mode::Card, _) | (_, None) => Span::raw(""),
        (_, Some(Decision::Refused { reason, instead })) => {
            let mut t = format!("✗ {reason}");
            if !instead.is_empty() {
                t.push_str(&format!(
                    "; instead: {}",
                    crate::format::alternatives(instead)
                ));
                if app.mode == Mode::Reply {
                    t.push_str(" (Ctrl-T sends the text as the first)");
                }
            }
            Span::styled(t, RED)
        }
        (Mode::Reply, Some(Decision::Allowed { .. })) => {
            let (left, unit) = rapport_core::policy::text::remaining(chat.app, &app.input);
            Span::styled(format!("✓ may send · {left} {unit} left"), GREEN)
        }
        _ => Span::raw(""),
    };
    let text = if typing {
        format!("{}▏", app.input)
    } else {
        String::new()
    };
    // Show the end of a long input.
    let w = reply.width.saturating_sub(2) as usize;
    let chars = text.chars().count();
    let text: String = text.chars().skip(chars.saturating_sub(w)).collect();
    // The input, then the core's verdict on it (E1-E6).
    f.render_widget(
        Paragraph::new(vec![Line::styled(text, input_style), Line::from(verdict)])
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title)),
        reply,
    );
}

fn draw_card(app: &App, open: &OpenChat, f: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line<'_>> = match &open.card {
        Some(s) => card_lines(s, &open.deals, app.now)
            .into_iter()
            .flat_map(|l| wrap(Line::raw(l), area.width.saturating_sub(2).max(10) as usize))
            .collect(),
        None => vec![Line::styled("no card", DIM)],
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Subscriber (i) ")),
        area,
    );
}

fn deal_prompt(p: &DealPrompt) -> &'static str {
    match p {
        DealPrompt::Add => "new deal: pipeline-id/stage-id Name 125.00 EUR",
        DealPrompt::Edit(_) => "this deal: a stage id (moves it), an amount like 125.00, or both",
        DealPrompt::Contact => "CRM contact: First Last",
    }
}

fn help_line(app: &App) -> String {
    match app.mode {
        Mode::Reply => "Enter send · Ctrl-T send as a template or tagged message (E5) · Esc cancel".into(),
        Mode::Note => "Enter add the note · Esc cancel".into(),
        Mode::Attach => "Enter send the file · Esc cancel".into(),
        Mode::Search => "type a name · Enter keep the results · Esc clear".into(),
        Mode::Assign { .. } => "↑↓ choose · Enter assign · Esc cancel".into(),
        Mode::Edit(_) => "Enter save the new text · Esc cancel".into(),
        Mode::Card => "+tag add · -tag remove · name=value set · name= clear · >flow-id start a flow · > stop it · Enter apply · Esc cancel".into(),
        Mode::React { .. } => "←→ choose · Enter react · 1-6 pick · 7 or x remove yours · Esc cancel".into(),
        Mode::Confirm { .. } => "y yes · n or Esc no".into(),
        Mode::Notify { .. } => "↑↓ choose · Space or Enter toggle (saved on the server) · Esc close".into(),
        Mode::List if app.timeline_focus => "↑↓ choose a message · + react · E edit · X delete · ← or Esc back to the list · r reply · n note · C card · G deals · ! disable · N notifications · ? help".into(),
        Mode::Stats | Mode::Help => "Esc close".into(),
        Mode::Deals { .. } => "↑↓ choose · a add a deal · e or Enter move/re-price the deal · n CRM contact name · Esc close".into(),
        Mode::DealInput(_) => "Enter apply · Esc back to the deals".into(),
        Mode::Home { .. } => "↑↓ choose · Enter open the chat · Esc close".into(),
        Mode::List if app.open.is_some() => "→ messages (+ react · E edit · X delete) · C card · G deals · ! disable · N notifications · r reply · n note · f file · p pause · e +60 min · u continue · g assign · c close · o open · i card · [ older · PgUp/PgDn · ↑↓ Enter · / search · Tab status · a t m filters · H home · S stats · ? help · q quit".into(),
        Mode::List => "↑↓ move · Enter open · / search · Tab or 1-4 status · a app · t type · m assignee · H home · S stats · N notifications · ? help · q quit".into(),
    }
}
