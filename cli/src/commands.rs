//! The one-shot commands for scripts and for people without a TTY. Each
//! returns an [`Output`]: JSON for `--json`, text otherwise. Reads bring
//! the store up to date first (unless `--offline`); actions go through the
//! core's outbox and wait until the server took them.

use crate::args::Args;
use crate::data::{self, Data};
use crate::error::CliError;
use crate::format;
use rapport_core::Client;
use rapport_core::model::{App, ChatId, ChatKind, ChatSummary, Delivery, MemberId};
use rapport_core::outbox::OutboxState;
use rapport_core::policy::window::MessageTag;
use rapport_core::policy::{Decision, Outgoing};
use rapport_core::store::{AssigneeFilter, ChatFilter, StatusFilter, TimelineItem, TimelineItemId};
use rapport_core::sync::{Action, PauseAction, SyncState};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

pub struct Output {
    pub json: Value,
    pub text: String,
}

/// Runs one non-interactive command.
pub fn run(args: &Args) -> Result<Output, CliError> {
    let data = Data::new(args.data_dir());
    match args.command.as_str() {
        "login" => login(args, &data),
        "logout" => logout(args, &data),
        "sync" => sync(args, &data),
        "chats" => {
            args.positionals(&[])?;
            chats(args, &data, None)
        }
        "search" => {
            let p = args.positionals(&["TEXT"])?;
            chats(args, &data, Some(p[0].clone()))
        }
        "show" => show(args, &data),
        "send" => send(args, &data),
        "note" | "assign" | "pause" | "open" | "close" => action(args, &data),
        "stats" => stats(args, &data),
        "" => Err(CliError::Usage(crate::args::USAGE.into())),
        other => Err(CliError::Usage(format!(
            "unknown command {other:?}; `rapport --help` lists them"
        ))),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// The logged-in client with its store up to date (unless `--offline`).
fn ready(args: &Args, data: &Data) -> Result<Client, CliError> {
    let client = data.open()?;
    if !args.switch("--offline") {
        data::sync_until_live(&client, args.timeout()?, |_| {})?;
    }
    Ok(client)
}

fn login(args: &Args, data: &Data) -> Result<Output, CliError> {
    args.positionals(&[])?;
    let server = args.required("--server")?.trim_end_matches('/').to_owned();
    let email = args.required("--email")?;
    let password = match args.get("--password") {
        Some(p) => p.to_owned(),
        None => std::env::var("RAPPORT_PASSWORD")
            .map_err(|_| CliError::Usage("login needs --password or RAPPORT_PASSWORD".into()))?,
    };
    let rt = runtime()?;
    let (_client, info) = data.login(&rt, &server, email, &password)?;
    Ok(Output {
        json: json!({
            "server": server,
            "member_id": info.member_id,
            "workspace_id": info.workspace_id,
            "data": data.dir,
        }),
        text: format!(
            "logged in to {server} as {} (workspace {}); data in {}",
            info.member_id,
            info.workspace_id,
            data.dir.display()
        ),
    })
}

fn logout(args: &Args, data: &Data) -> Result<Output, CliError> {
    args.positionals(&[])?;
    let client = data.open()?;
    let unsent = client.store().unsent_commands()?;
    runtime()?.block_on(client.logout())?;
    let _ = std::fs::remove_file(data.dir.join("server"));
    Ok(Output {
        json: json!({ "logged_out": true, "unsent_dropped": unsent }),
        text: if unsent > 0 {
            format!("logged out; {unsent} unsent command(s) dropped with the local data")
        } else {
            "logged out; local data deleted".into()
        },
    })
}

/// The first-sync progress on stderr: a bar redrawn in place on a
/// terminal, one line per phase otherwise.
fn progress_printer(quiet: bool) -> impl FnMut(&SyncState) {
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    move |s: &SyncState| {
        if quiet {
            return;
        }
        let line = match s {
            SyncState::Snapshot => "syncing: loading the workspace snapshot…".to_owned(),
            SyncState::CatchingUp { at, head } if tty => {
                format!(
                    "syncing: {}",
                    crate::console::view::progress_text(at.0, head.0)
                )
            }
            SyncState::CatchingUp { .. } => "syncing: catching up with the change feed…".into(),
            _ => return,
        };
        if line != last {
            let mut err = std::io::stderr();
            let _ = if tty {
                write!(err, "\r\x1b[2K{line}")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
            last = line;
        }
    }
}

fn sync(args: &Args, data: &Data) -> Result<Output, CliError> {
    args.positionals(&[])?;
    let client = data.open()?;
    let timeout = args.timeout()?;
    let at = data::sync_until_live(&client, timeout, progress_printer(args.json()));
    if std::io::stderr().is_terminal() && !args.json() {
        eprint!("\r\x1b[2K");
    }
    let at = at?;
    // E7: what was queued (an `--offline` action, a killed run) goes out.
    data::wait_sent(&client, timeout, |e| e.state == OutboxState::Queued)?;
    let failed = client.store().outbox()?.len();
    let counts = client.store().status_counts(&ChatFilter::default())?;
    Ok(Output {
        json: json!({ "seq": at.0, "counts": counts, "failed_commands": failed }),
        text: format!(
            "up to date at seq {}: {} chats ({} open, {} unread, {} closed){}",
            at.0,
            counts.all,
            counts.open,
            counts.unread,
            counts.closed,
            if failed > 0 {
                format!("; {failed} refused command(s) kept in the outbox")
            } else {
                String::new()
            }
        ),
    })
}

/// A2-A5 filters from the options.
pub fn filter(args: &Args) -> Result<ChatFilter, CliError> {
    fn word<T: serde::de::DeserializeOwned>(
        args: &Args,
        name: &str,
        choices: &str,
    ) -> Result<Option<T>, CliError> {
        args.get(name)
            .map(|v| {
                serde_json::from_value(Value::String(v.to_lowercase()))
                    .map_err(|_| CliError::Usage(format!("{name} is one of {choices}, not {v:?}")))
            })
            .transpose()
    }
    Ok(ChatFilter {
        app: word::<App>(
            args,
            "--app",
            "telegram, whatsapp, instagram, messenger, viber, livechat",
        )?,
        kind: word::<ChatKind>(args, "--type", "personal, group")?,
        assignee: word::<AssigneeFilter>(args, "--assignee", "mine, unassigned, all")?
            .unwrap_or_default(),
        status: word::<StatusFilter>(args, "--status", "open, unread, closed, all")?
            .unwrap_or_default(),
        search: args.get("--search").map(str::to_owned),
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

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn chats(args: &Args, data: &Data, search: Option<String>) -> Result<Output, CliError> {
    let mut filter = filter(args)?;
    if search.is_some() {
        filter.search = search;
    }
    let limit = args.number("--limit", 50u32)?;
    let client = ready(args, data)?;
    let store = client.store();
    let counts = store.status_counts(&filter)?;
    let page = store.chat_page(&filter, None, limit)?;
    let members = store.members(false)?;
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

fn chat_of(client: &Client, id: &str) -> Result<ChatSummary, CliError> {
    client
        .store()
        .chat(&ChatId::from(id))?
        .ok_or_else(|| CliError::NotFound(format!("no chat {id:?} (`rapport chats` lists them)")))
}

fn item_json(i: &TimelineItem) -> Value {
    match i {
        TimelineItem::Message(m) => json!({ "message": m }),
        TimelineItem::Note(n) => json!({ "note": n }),
    }
}

fn show(args: &Args, data: &Data) -> Result<Output, CliError> {
    let id = args.positionals(&["CHAT"])?[0].clone();
    let limit = args.number("--limit", 20u32)?;
    let client = ready(args, data)?;
    let store = client.store();
    let c = chat_of(&client, &id)?;
    let now = client.server_now();
    let cd = rapport_core::timers::countdowns(&c.chat, now);
    // E4/E5: may a reply go out now, and if not, why and what instead.
    let decision = client.decide(&c.chat.id, &Outgoing::Text("…"))?;
    let card = store.subscriber(&c.chat.subscriber_id)?;
    let deals = store.deals(&c.chat.subscriber_id)?;
    let items = store.timeline_page(&c.chat.id, None, limit)?.items;
    let members = store.members(false)?;

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

pub fn alternatives(instead: &[rapport_core::policy::window::Alternative]) -> String {
    use rapport_core::policy::window::Alternative;
    instead
        .iter()
        .map(|a| match a {
            Alternative::WhatsappTemplate => "a WhatsApp template".to_owned(),
            Alternative::MessengerTag(t) => format!("a Messenger message tagged {t:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// E1 text, E2 `--file PATH` (TEXT is its caption), E5 `--template NAME`
/// (WhatsApp) or `--tag TAG` (Messenger, with TEXT).
fn send(args: &Args, data: &Data) -> Result<Output, CliError> {
    let p = match args.positionals.len() {
        1 if args.get("--file").is_some() || args.get("--template").is_some() => {
            args.positionals(&["CHAT"])?.to_vec()
        }
        _ => args.positionals(&["CHAT", "TEXT"])?.to_vec(),
    };
    let (id, body) = (p[0].clone(), p.get(1).cloned());
    let file = args
        .get("--file")
        .map(|path| {
            let bytes =
                std::fs::read(path).map_err(|e| CliError::Usage(format!("--file {path}: {e}")))?;
            let name = std::path::Path::new(path)
                .file_name()
                .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
            Ok::<_, CliError>((name, bytes))
        })
        .transpose()?;
    let tag = args
        .get("--tag")
        .map(|t| {
            serde_json::from_value::<MessageTag>(Value::String(t.to_uppercase())).map_err(|_| {
                CliError::Usage(format!(
                    "--tag is one of human_agent, confirmed_event_update, post_purchase_update, account_update, not {t:?}"
                ))
            })
        })
        .transpose()?;
    let offline = args.switch("--offline");
    let client = ready(args, data)?;
    let chat = chat_of(&client, &id)?.chat.id;
    let mut uploads = client.upload_progress();
    // The core checks first (E1-E6 on server time): a refusal queues nothing.
    let message_id = match (&file, args.get("--template"), tag) {
        (Some((name, bytes)), None, None) => {
            client.send_attachment(&chat, name, bytes, body.as_deref())?
        }
        (None, Some(name), None) => client.send_template(&chat, name)?,
        (None, None, Some(tag)) => client.send_tagged(&chat, tag, body.as_deref().unwrap_or(""))?,
        (None, None, None) => client.send_text(&chat, body.as_deref().unwrap_or(""))?,
        _ => {
            return Err(CliError::Usage(
                "send takes one of --file, --template, --tag".into(),
            ));
        }
    };
    if offline {
        return Ok(queued(json!({ "message_id": message_id })));
    }
    let timeout = args.timeout()?;
    let tty = std::io::stderr().is_terminal() && !args.json();
    data::wait_sent_with(
        &client,
        timeout,
        |e| e.echo_id.as_ref() == Some(&message_id),
        || {
            // E2: upload progress, one update per part.
            while let Ok(p) = uploads.try_recv() {
                if tty && p.message_id.as_ref() == Some(&message_id) {
                    eprint!(
                        "\r\x1b[2Kuploading: {} / {}",
                        format::size(p.sent_bytes),
                        format::size(p.total_bytes)
                    );
                }
            }
        },
    )?;
    if tty && file.is_some() {
        eprint!("\r\x1b[2K");
    }
    // The echo turns into the server's copy when the feed brings it.
    let deadline = std::time::Instant::now() + timeout;
    let delivery = loop {
        let d = match client
            .store()
            .timeline_item(&chat, &TimelineItemId::Message(message_id.clone()))?
        {
            Some(TimelineItem::Message(m)) => m.delivery,
            _ => None,
        };
        if d != Some(Delivery::Pending) || std::time::Instant::now() >= deadline {
            break d;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    };
    Ok(Output {
        json: json!({ "message_id": message_id, "delivery": delivery }),
        text: format!(
            "sent {message_id} ({})",
            delivery.map_or("sent", format::delivery_name)
        ),
    })
}

fn queued(mut json: Value) -> Output {
    json["queued"] = Value::Bool(true);
    Output {
        json,
        text: "queued in the outbox: it goes out with the next `rapport sync`".into(),
    }
}

/// note, assign, pause, open, close: one [`Action`] through the outbox.
fn action(args: &Args, data: &Data) -> Result<Output, CliError> {
    let cmd = args.command.as_str();
    let p: Vec<String> = match cmd {
        "note" => args.positionals(&["CHAT", "TEXT"])?.to_vec(),
        "assign" => args.positionals(&["CHAT", "MEMBER|me|none"])?.to_vec(),
        "pause" if args.positionals.len() == 1 => args.positionals(&["CHAT"])?.to_vec(),
        "pause" => args
            .positionals(&["CHAT", "start|extend|continue"])?
            .to_vec(),
        _ => args.positionals(&["CHAT"])?.to_vec(),
    };
    let client = ready(args, data)?;
    let chat_id = chat_of(&client, &p[0])?.chat.id;
    let (action, done) = match cmd {
        "note" => (
            Action::AddNote {
                chat_id: chat_id.clone(),
                text: p[1].clone(),
            },
            "note added".to_owned(),
        ),
        "assign" => {
            let member = member_arg(&client, &p[1])?;
            let done = match &member {
                Some(m) => format!("assigned to {m}"),
                None => "unassigned".into(),
            };
            (
                Action::Assign {
                    chat_id: chat_id.clone(),
                    member_id: member,
                },
                done,
            )
        }
        "pause" => {
            let action = match p.get(1).map(String::as_str).unwrap_or("start") {
                "start" => PauseAction::Start,
                "extend" => PauseAction::Extend,
                "continue" => PauseAction::Continue,
                other => {
                    return Err(CliError::Usage(format!(
                        "pause takes start, extend or continue, not {other:?}"
                    )));
                }
            };
            (
                Action::Pause {
                    chat_id: chat_id.clone(),
                    action,
                },
                match action {
                    PauseAction::Start => "bot paused for 60 minutes",
                    PauseAction::Extend => "pause extended by 60 minutes",
                    PauseAction::Continue => "autoflows continue",
                }
                .to_owned(),
            )
        }
        "open" => (
            Action::Open {
                chat_id: chat_id.clone(),
            },
            "chat opened".to_owned(),
        ),
        _ => (
            Action::Close {
                chat_id: chat_id.clone(),
            },
            "chat closed".to_owned(),
        ),
    };
    let key = client.run_action(action)?;
    if args.switch("--offline") {
        return Ok(queued(json!({ "chat_id": chat_id, "action": cmd })));
    }
    data::wait_sent(&client, args.timeout()?, |e| e.key == key)?;
    let row = client.store().chat(&chat_id)?;
    Ok(Output {
        json: json!({ "chat_id": chat_id, "action": cmd, "done": true, "chat": row }),
        text: done,
    })
}

/// D1: "me", "none", or a member by id or name (any case).
fn member_arg(client: &Client, arg: &str) -> Result<Option<MemberId>, CliError> {
    match arg {
        "none" => return Ok(None),
        "me" => {
            return client
                .store()
                .me()
                .map(Some)
                .ok_or_else(CliError::not_logged_in);
        }
        _ => {}
    }
    let members = client.store().members(false)?;
    members
        .iter()
        .find(|m| m.id.as_str() == arg || m.name.eq_ignore_ascii_case(arg))
        .map(|m| Some(m.id.clone()))
        .ok_or_else(|| {
            let names: Vec<String> = client
                .store()
                .members(true)
                .unwrap_or_default()
                .into_iter()
                .map(|m| format!("{} ({})", m.id, m.name))
                .collect();
            CliError::NotFound(format!(
                "no member {arg:?}; assignable: {}",
                names.join(", ")
            ))
        })
}

fn stats(args: &Args, data: &Data) -> Result<Output, CliError> {
    args.positionals(&[])?;
    let client = ready(args, data)?;
    let stats = client.store().stats()?;
    let bots = client.store().bots()?;
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
