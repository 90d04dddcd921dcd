//! The one-shot commands for scripts and for people without a TTY. Each
//! returns an [`Output`]: JSON for `--json`, text otherwise. Reads bring
//! the store up to date first (unless `--offline`); actions go through the
//! core's outbox and wait until the server took them.

mod act;
mod read;
mod session;

pub use read::filter;

use crate::args::Args;
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
pub fn run(args: &Args) -> Result<Output, CliError> {
    let data = Data::new(args.data_dir());
    match args.command.as_str() {
        "login" => session::login(args, &data),
        "logout" => session::logout(args, &data),
        "sync" => session::sync(args, &data),
        "chats" => {
            args.positionals(&[])?;
            read::chats(args, &data, None)
        }
        "search" => {
            let p = args.positionals(&["TEXT"])?;
            read::chats(args, &data, Some(p[0].clone()))
        }
        "show" => read::show(args, &data),
        "send" => act::send(args, &data),
        "note" | "assign" | "pause" | "open" | "close" => act::action(args, &data),
        "stats" => read::stats(args, &data),
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
