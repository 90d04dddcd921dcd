//! login, logout and sync: the session and the local store as a whole.

use super::{Output, runtime};
use crate::args::Global;
use crate::data::{self, Data};
use crate::error::CliError;
use rapport_core::outbox::OutboxState;
use rapport_core::store::ChatFilter;
use rapport_core::sync::SyncState;
use serde_json::json;
use std::io::{IsTerminal, Write as _};

pub(super) fn login(
    data: &Data,
    server: &str,
    email: &str,
    password: Option<&str>,
) -> Result<Output, CliError> {
    let server = server.trim_end_matches('/').to_owned();
    let password = match password {
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

/// Issue 17: logs in to a SendPulse account directly (no Rapport server).
pub(super) fn login_sendpulse(
    data: &Data,
    url: &str,
    client_id: &str,
    secret: Option<&str>,
    operator_id: Option<i64>,
) -> Result<Output, CliError> {
    let url = url.trim_end_matches('/').to_owned();
    let secret = match secret {
        Some(s) => s.to_owned(),
        None => std::env::var("RAPPORT_SENDPULSE_SECRET").map_err(|_| {
            CliError::Usage(
                "login --sendpulse needs --client-secret or RAPPORT_SENDPULSE_SECRET".into(),
            )
        })?,
    };
    let rt = runtime()?;
    let (_client, info) = data.login_sendpulse(&rt, &url, client_id, &secret, operator_id)?;
    Ok(Output {
        json: json!({
            "sendpulse": url,
            "member_id": info.member_id,
            "workspace_id": info.workspace_id,
            "data": data.dir,
        }),
        text: format!(
            "logged in to SendPulse at {url} (client {client_id}); data in {}",
            data.dir.display()
        ),
    })
}

pub(super) fn logout(data: &Data) -> Result<Output, CliError> {
    let client = data.open()?;
    let unsent = client.unsent_commands()?;
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

pub(super) fn sync(g: &Global, data: &Data) -> Result<Output, CliError> {
    let client = data.open()?;
    let timeout = g.timeout;
    let at = data::sync_until_live(&client, timeout, progress_printer(g.json));
    if std::io::stderr().is_terminal() && !g.json {
        eprint!("\r\x1b[2K");
    }
    let at = at?;
    // E7: what was queued (an `--offline` action, a killed run) goes out.
    data::wait_sent(&client, timeout, |e| e.state == OutboxState::Queued)?;
    let failed = client.outbox()?.len();
    let counts = client.status_counts(&ChatFilter::default())?;
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
