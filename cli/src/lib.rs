//! `rapport`, the terminal side of Rapport: an interactive agent console
//! (ratatui) and one-shot commands for scripts, both on rapport-core only.
//! The console and the commands hold no rules of their own: filters,
//! counts, search, countdowns, refusals and pauses all come from the core.
//!
//! - [`args`]: the command line (clap);
//! - [`commands`]: `login`, `logout`, `sync` (session), `chats`, `search`,
//!   `show`, `stats` (read), `send`, `note`, `assign`, `pause`, `open`,
//!   `close` (act);
//! - [`data`]: the data directory, and waiting for sync and the outbox;
//! - [`console`]: the interactive console: `app` (state and `update`, with
//!   `app::keys`), `view` (drawing, with `view::lines` and `view::popups`);
//! - [`format`]: how names, ticks, times and sizes read;
//! - [`demo`]: an embedded server with a lively workspace, and the console.

pub mod args;
pub mod commands;
pub mod console;
pub mod data;
pub mod demo;
pub mod error;
pub mod format;

use args::{Command, Global, Parsed};
use error::CliError;
use std::sync::Arc;

/// Runs the command line; returns the process's exit code.
pub fn main_with(argv: Vec<String>) -> i32 {
    let json = args::wants_json(&argv);
    let cli = match args::parse(argv) {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Help(text)) => {
            print!("{text}");
            return 0;
        }
        Err(e) => return report(json, &e),
    };
    let g = &cli.global;
    let result = match &cli.command {
        &Command::Demo {
            chats,
            messages,
            rate,
            sendpulse,
        } => demo::run(chats, messages, rate, sendpulse).map(|()| None),
        &Command::FakeSendpulse { chats, messages } => {
            demo::serve_fake_sendpulse(chats, messages).map(|()| None)
        }
        Command::Console => console_command(g).map(|()| None),
        other => commands::run(g, other).map(Some),
    };
    match result {
        Ok(Some(out)) => {
            if g.json {
                println!("{}", out.json);
            } else {
                print!("{}", out.text);
                if !out.text.ends_with('\n') {
                    println!();
                }
            }
            0
        }
        Ok(None) => 0,
        Err(e) => report(g.json, &e),
    }
}

fn report(json: bool, e: &CliError) -> i32 {
    if json {
        eprintln!(
            "{}",
            serde_json::json!({ "error": { "code": e.code(), "message": e.to_string() } })
        );
    } else {
        eprintln!("rapport: {e}");
    }
    e.exit_code()
}

/// `rapport console`: the console on the logged-in server.
fn console_command(g: &Global) -> Result<(), CliError> {
    let data = data::Data::new(g.data_dir());
    let client = Arc::new(data.open()?);
    client.start_sync()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let label = data.saved_server().unwrap_or_default();
    let app = console::App::new(client.clone(), runtime.handle().clone(), label);
    client.start_timers(app.timer_sink())?;
    console::run(app)
}
