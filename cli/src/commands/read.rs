//! chats, search, show, stats: reads of the local store, brought up to
//! date first (unless `--offline`).

use super::{Output, chat_of, ready};
use crate::args::{Filter, Global};
use crate::data::Data;
use crate::error::CliError;
use crate::format::{self, alternatives, truncate};
use rapport_core::model::{App, ChatKind, ChatSummary};
use rapport_core::policy::{Decision, Outgoing};
use rapport_core::store::{AssigneeFilter, ChatFilter, StatusFilter, TimelineItem};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// A2-A5 filters from the options.
pub fn filter(f: &Filter) -> Result<ChatFilter, CliError> {
    fn word<T: serde::de::DeserializeOwned>(
        value: Option<&String>,
        name: &str,
        choices: &str,
    ) -> Result<Option<T>, CliError> {
        value
            .map(|v| {
                serde_json::from_value(Value::String(v.to_lowercase()))
                    .map_err(|_| CliError::Usage(format!("{name} is one of {choices}, not {v:?}")))
            })
            .transpose()
    }
    Ok(ChatFilter {
        app: word::<App>(
            f.app.as_ref(),
            "--app",
            "telegram, whatsapp, instagram, messenger, viber, livechat",
        )?,
        kind: word::<ChatKind>(f.kind.as_ref(), "--type", "personal, group")?,
        assignee: word::<AssigneeFilter>(
            f.assignee.as_ref(),
            "--assignee",
            "mine, unassigned, all",
        )?
        .unwrap_or_default(),
        status: word::<StatusFilter>(f.status.as_ref(), "--status", "open, unread, closed, all")?
            .unwrap_or_default(),
        search: f.search.clone(),
    })
}

fn chat_line(out: &mut String, c: &ChatSummary, members: &[rapport_core::model::Member]) {
    let assignee = c
        .chat
        .assignee
        .as_ref()
        .map(|m| format::member_name(members, m))
        .unwrap_or_else(|| "-".into());
    let preview = c
        .preview
        .as_ref()
        .map(|p| p.text.replace('\n', " "))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} {:6} {}  {:<28} {:<8} {:<14} {}",
        format::status_dot(c.status),
        format::status_name(c.status),
        format::app_tag(c.chat.app),
        c.chat.title,
        format::kind_name(c.chat.kind),
        assignee,
        c.chat.id
    );
    if !preview.is_empty() {
        let _ = writeln!(out, "      {}", truncate(&preview, 100));
    }
}

pub(super) fn chats(
    g: &Global,
    data: &Data,
    f: &Filter,
    search: Option<String>,
    limit: u32,
) -> Result<Output, CliError> {
    let mut filter = filter(f)?;
    if search.is_some() {
        filter.search = search;
    }
    let client = ready(g, data)?;
    let counts = client.status_counts(&filter)?;
    let page = client.chat_page(&filter, None, limit)?;
    let members = client.members(false)?;
    let mut text = format!(
        "open {} · unread {} · closed {} · all {}\n",
        counts.open, counts.unread, counts.closed, counts.all
    );
    for c in &page.rows {
        chat_line(&mut text, c, &members);
    }
    if page.rows.is_empty() {
        text.push_str("no chats match\n");
    }
    Ok(Output {
        json: json!({ "counts": counts, "chats": page.rows, "more": page.next.is_some() }),
        text,
    })
}

fn item_json(i: &TimelineItem) -> Value {
    match i {
        TimelineItem::Message(m) => json!({ "message": m }),
        TimelineItem::Note(n) => json!({ "note": n }),
    }
}

pub(super) fn show(g: &Global, data: &Data, id: &str, limit: u32) -> Result<Output, CliError> {
    let client = ready(g, data)?;
    let c = chat_of(&client, id)?;
    let now = client.server_now();
    let cd = rapport_core::timers::countdowns(&c.chat, now);
    // E4/E5: may a reply go out now, and if not, why and what instead.
    let decision = client.decide(&c.chat.id, &Outgoing::Text("…"))?;
    let card = client.subscriber(&c.chat.subscriber_id)?;
    let deals = client.deals(&c.chat.subscriber_id)?;
    let items = timeline(g, &client, &c.chat.id, limit)?;
    let members = client.members(false)?;

    let mut text = String::new();
    chat_line(&mut text, &c, &members);
    let _ = writeln!(text, "  {}", format::window_line(cd.window, now));
    if let Some(left) = cd.pause_left_ms {
        let _ = writeln!(text, "  bot paused for {}", format::duration_ms(left));
    }
    let reply = match &decision {
        Decision::Allowed { .. } => json!({ "allowed": true }),
        Decision::Refused { reason, instead } => {
            let _ = writeln!(text, "  a reply is refused now: {reason}");
            if !instead.is_empty() {
                let _ = writeln!(text, "  instead: {}", alternatives(instead));
            }
            json!({ "allowed": false, "refusal": reason, "instead": instead })
        }
    };
    if let Some(s) = &card {
        for line in crate::console::view::card_lines(s, &deals, now) {
            let _ = writeln!(text, "  {line}");
        }
    }
    let _ = writeln!(text);
    for i in &items {
        for line in crate::console::view::item_lines(i, &c.chat.title, &members, now) {
            let _ = writeln!(text, "{line}");
        }
    }
    Ok(Output {
        json: json!({
            "chat": c,
            "window": cd.window,
            "pause_left_ms": cd.pause_left_ms,
            "reply": reply,
            "subscriber": card,
            "deals": deals,
            "timeline": items.iter().map(item_json).collect::<Vec<_>>(),
        }),
        text,
    })
}

/// The largest page of older history asked of the server at once (its
/// own cap is 500).
const OLDER_PAGE: u32 = 200;

/// B1: the newest `limit` timeline items. When the store holds fewer (a
/// device whose snapshot brought each chat's last 20 messages), older pages
/// come from the server first, as the console's `[` fetches them, until
/// there are `limit` or the history starts. `--offline`: the store's only.
fn timeline(
    g: &Global,
    client: &rapport_core::Client,
    chat: &rapport_core::model::ChatId,
    limit: u32,
) -> Result<Vec<TimelineItem>, CliError> {
    let mut items = client.timeline_page(chat, None, limit)?.items;
    if g.offline {
        return Ok(items);
    }
    let mut rt = None;
    while (items.len() as u32) < limit {
        let oldest = items.iter().find_map(|i| match i {
            TimelineItem::Message(m) => Some(m.id.clone()),
            TimelineItem::Note(_) => None,
        });
        let want = (limit - items.len() as u32).min(OLDER_PAGE);
        let rt = match &mut rt {
            Some(rt) => rt,
            None => rt.insert(super::runtime()?),
        };
        let more = rt.block_on(client.load_older(chat, oldest.as_ref(), want))?;
        let had = items.len();
        items = client.timeline_page(chat, None, limit)?.items;
        // The start of history, or a page that brought nothing new.
        if !more || items.len() == had {
            break;
        }
    }
    Ok(items)
}

pub(super) fn stats(g: &Global, data: &Data) -> Result<Output, CliError> {
    let client = ready(g, data)?;
    let stats = client.stats()?;
    let bots = client.bots()?;
    let mut text = format!(
        "{:<32} {:>10} {:>10} {:>12}\n",
        "", "sent", "received", "subscribers"
    );
    for s in &stats {
        let name = match &s.bot_id {
            None => "All bots".to_owned(),
            Some(id) => bots.iter().find(|b| &b.id == id).map_or_else(
                || id.to_string(),
                |b| format!("{} ({})", b.name, format::app_name(b.app)),
            ),
        };
        let _ = writeln!(
            text,
            "{:<32} {:>10} {:>10} {:>12}",
            truncate(&name, 32),
            s.sent,
            s.received,
            s.subscribers
        );
    }
    Ok(Output {
        json: json!({ "stats": stats, "bots": bots }),
        text,
    })
}
