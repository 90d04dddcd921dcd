//! The one-shot commands for scripts and for people without a TTY. Each
//! returns an [`Output`]: JSON for `--json`, text otherwise. Reads bring
//! the store up to date first (unless `--offline`); actions go through the
//! core's outbox and wait until the server took them.

mod act;
mod read;
mod session;

pub use read::filter;

use crate::args::{Command, Global};
use crate::data::{self, Data};
use crate::error::CliError;
use rapport_core::Client;
use rapport_core::model::ChatId;
use rapport_core::model::ChatSummary;
use serde_json::Value;

pub struct Output {
    pub json: Value,
    pub text: String,
}

/// Runs one non-interactive command.
pub fn run(g: &Global, command: &Command) -> Result<Output, CliError> {
    let data = Data::new(g.data_dir());
    match command {
        Command::Login {
            sendpulse: Some(url),
            client_id,
            client_secret,
            operator_id,
            ..
        } => session::login_sendpulse(
            &data,
            url,
            client_id.as_deref().unwrap_or_default(),
            client_secret.as_deref(),
            *operator_id,
        ),
        Command::Login {
            server,
            email,
            password,
            ..
        } => session::login(
            &data,
            server.as_deref().unwrap_or_default(),
            email.as_deref().unwrap_or_default(),
            password.as_deref(),
        ),
        Command::Logout => session::logout(&data),
        Command::Sync => session::sync(g, &data),
        Command::Chats { filter, limit } => read::chats(g, &data, filter, None, *limit),
        Command::Search {
            text,
            filter,
            limit,
        } => read::chats(g, &data, filter, Some(text.clone()), *limit),
        Command::Show { chat, limit } => read::show(g, &data, chat, *limit),
        Command::Send {
            chat,
            text,
            file,
            template,
            tag,
        } => act::send(
            g,
            &data,
            act::Send {
                chat,
                text: text.as_deref(),
                file: file.as_deref(),
                template: template.as_deref(),
                tag: tag.as_deref(),
            },
        ),
        Command::Note { .. }
        | Command::Assign { .. }
        | Command::Pause { .. }
        | Command::Open { .. }
        | Command::Close { .. } => act::action(g, &data, command),
        Command::Stats => read::stats(g, &data),
        Command::Demo { .. } | Command::Console | Command::FakeSendpulse { .. } => {
            Err(CliError::Usage(
                "demo, console and fake-sendpulse run until stopped, not one-shot commands".into(),
            ))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// The logged-in client with its store up to date (unless `--offline`).
fn ready(g: &Global, data: &Data) -> Result<Client, CliError> {
    let client = data.open()?;
    if !g.offline {
        data::sync_until_live(&client, g.timeout, |_| {})?;
    }
    Ok(client)
}

fn chat_of(client: &Client, id: &str) -> Result<ChatSummary, CliError> {
    client
        .chat(&ChatId::from(id))?
        .ok_or_else(|| CliError::NotFound(format!("no chat {id:?} (`rapport chats` lists them)")))
}

fn queued(mut json: Value) -> Output {
    json["queued"] = Value::Bool(true);
    Output {
        json,
        text: "queued in the outbox: it goes out with the next `rapport sync`".into(),
    }
}
