//! send, note, assign, pause, open, close: checked by the core, queued in
//! the outbox, and waited for until the server took them.

use super::{Output, chat_of, queued, ready};
use crate::args::Args;
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

/// E1 text, E2 `--file PATH` (TEXT is its caption), E5 `--template NAME`
/// (WhatsApp) or `--tag TAG` (Messenger, with TEXT).
pub(super) fn send(args: &Args, data: &Data) -> Result<Output, CliError> {
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
        (Some((name, bytes)), None, None) => client.send(
            &chat,
            Draft::File {
                name,
                bytes,
                caption: body.as_deref(),
            },
            None,
        )?,
        (None, Some(name), None) => client.send(&chat, Draft::Template { name }, None)?,
        (None, None, Some(tag)) => client.send(
            &chat,
            Draft::Tagged {
                tag,
                text: body.as_deref().unwrap_or(""),
            },
            None,
        )?,
        (None, None, None) => {
            client.send(&chat, Draft::Text(body.as_deref().unwrap_or("")), None)?
        }
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
pub(super) fn action(args: &Args, data: &Data) -> Result<Output, CliError> {
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
