//! send, note, assign, pause, open, close: checked by the core, queued in
//! the outbox, and waited for until the server took them.

use super::{Output, chat_of, queued, ready};
use crate::args::{Command, Global, Pause};
use crate::data::{self, Data};
use crate::error::CliError;
use crate::format;
use rapport_core::Client;
use rapport_core::model::{Delivery, MemberId};
use rapport_core::outbox::Draft;
use rapport_core::policy::window::MessageTag;
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::sync::{Action, PauseAction};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::Path;

/// E1 text, E2 `--file PATH` (TEXT is its caption), E5 `--template NAME`
/// (WhatsApp) or `--tag TAG` (Messenger, with TEXT).
pub(super) struct Send<'a> {
    pub chat: &'a str,
    pub text: Option<&'a str>,
    pub file: Option<&'a Path>,
    pub template: Option<&'a str>,
    pub tag: Option<&'a str>,
}

pub(super) fn send(g: &Global, data: &Data, s: Send<'_>) -> Result<Output, CliError> {
    let (id, body) = (s.chat, s.text);
    let file = s
        .file
        .map(|path| {
            let bytes = std::fs::read(path)
                .map_err(|e| CliError::Usage(format!("--file {}: {e}", path.display())))?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Ok::<_, CliError>((name, bytes))
        })
        .transpose()?;
    let tag = s
        .tag
        .map(|t| {
            serde_json::from_value::<MessageTag>(Value::String(t.to_uppercase())).map_err(|_| {
                CliError::Usage(format!(
                    "--tag is one of human_agent, confirmed_event_update, post_purchase_update, account_update, not {t:?}"
                ))
            })
        })
        .transpose()?;
    let offline = g.offline;
    let client = ready(g, data)?;
    let chat = chat_of(&client, id)?.chat.id;
    let mut uploads = client.upload_progress();
    // The core checks first (E1-E6 on server time): a refusal queues nothing.
    let message_id = match (&file, s.template, tag) {
        (Some((name, bytes)), None, None) => client.send(
            &chat,
            Draft::File {
                name,
                bytes,
                caption: body,
            },
            None,
        )?,
        (None, Some(name), None) => client.send(&chat, Draft::Template { name }, None)?,
        (None, None, Some(tag)) => client.send(
            &chat,
            Draft::Tagged {
                tag,
                text: body.unwrap_or(""),
            },
            None,
        )?,
        (None, None, None) => client.send(&chat, Draft::Text(body.unwrap_or("")), None)?,
        _ => {
            return Err(CliError::Usage(
                "send takes one of --file, --template, --tag".into(),
            ));
        }
    };
    if offline {
        return Ok(queued(json!({ "message_id": message_id })));
    }
    let timeout = g.timeout;
    let tty = std::io::stderr().is_terminal() && !g.json;
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
        let d = match client.timeline_item(&chat, &TimelineItemId::Message(message_id.clone()))? {
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

/// note, assign, pause, open, close: one [`Action`] through the outbox.
pub(super) fn action(g: &Global, data: &Data, command: &Command) -> Result<Output, CliError> {
    let (cmd, chat) = match command {
        Command::Note { chat, .. } => ("note", chat),
        Command::Assign { chat, .. } => ("assign", chat),
        Command::Pause { chat, .. } => ("pause", chat),
        Command::Open { chat } => ("open", chat),
        Command::Close { chat } => ("close", chat),
        _ => return Err(CliError::Usage("not an action on a chat".into())),
    };
    let client = ready(g, data)?;
    let chat_id = chat_of(&client, chat)?.chat.id;
    let (action, done) = match command {
        Command::Note { text, .. } => (
            Action::AddNote {
                chat_id: chat_id.clone(),
                text: text.clone(),
            },
            "note added".to_owned(),
        ),
        Command::Assign { member, .. } => {
            let member = member_arg(&client, member)?;
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
        Command::Pause { action, .. } => {
            let action = match action {
                Pause::Start => PauseAction::Start,
                Pause::Extend => PauseAction::Extend,
                Pause::Continue => PauseAction::Continue,
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
        Command::Open { .. } => (
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
    if g.offline {
        return Ok(queued(json!({ "chat_id": chat_id, "action": cmd })));
    }
    data::wait_sent(&client, g.timeout, |e| e.key == key)?;
    let row = client.chat(&chat_id)?;
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
            return client.me().map(Some).ok_or_else(CliError::not_logged_in);
        }
        _ => {}
    }
    let members = client.members(false)?;
    members
        .iter()
        .find(|m| m.id.as_str() == arg || m.name.eq_ignore_ascii_case(arg))
        .map(|m| Some(m.id.clone()))
        .ok_or_else(|| {
            let names: Vec<String> = client
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
