//! Where a member's local data lives (`--data DIR`), and the waits a
//! one-shot command needs: the store brought up to date, a command seen
//! through the outbox.
//!
//! `DIR/rapport.db` is the offline store, `DIR/session.json` the session
//! (the core's `FileSecretStore`, mode 0600), `DIR/server` the server URL.

use crate::error::CliError;
use rapport_core::model::Seq;
use rapport_core::outbox::{OutboxEntry, OutboxState};
use rapport_core::session::{FileSecretStore, SecretStore};
use rapport_core::sync::SyncState;
use rapport_core::{Client, ClientConfig, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Data {
    pub dir: PathBuf,
}

impl Data {
    pub fn new(dir: impl Into<PathBuf>) -> Data {
        Data { dir: dir.into() }
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.join("rapport.db")
    }

    fn secrets(&self) -> Arc<dyn SecretStore> {
        Arc::new(FileSecretStore::new(self.dir.join("session.json")))
    }

    fn server_file(&self) -> PathBuf {
        self.dir.join("server")
    }

    pub fn saved_server(&self) -> Option<String> {
        std::fs::read_to_string(self.server_file())
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    fn client(&self, server: &str) -> Result<Client, CliError> {
        Client::open(
            ClientConfig {
                store_path: self.store_path(),
                server_url: server.to_owned(),
            },
            self.secrets(),
        )
        .map_err(CliError::from)
    }

    /// The logged-in member's client (no network yet).
    pub fn open(&self) -> Result<Client, CliError> {
        let server = self.saved_server().ok_or_else(CliError::not_logged_in)?;
        let client = self.client(&server)?;
        if client.login_info().is_none() {
            return Err(CliError::not_logged_in());
        }
        Ok(client)
    }

    /// Logs in on `server`. The data directory holds one member's data: a
    /// new login starts from an empty store (S5: nothing of another
    /// session's data stays).
    pub fn login(
        &self,
        rt: &tokio::runtime::Runtime,
        server: &str,
        email: &str,
        password: &str,
    ) -> Result<(Client, rapport_core::client::LoginInfo), CliError> {
        self.fresh()?;
        let client = self.client(server)?;
        let info = rt
            .block_on(client.login(email, password))
            .map_err(CliError::from)?;
        std::fs::write(self.server_file(), server)
            .map_err(|e| CliError::Failed(format!("saving the server URL: {e}")))?;
        Ok((client, info))
    }
}

impl Data {
    /// An empty store and no saved login of either kind.
    fn fresh(&self) -> Result<(), CliError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| CliError::Failed(format!("{}: {e}", self.dir.display())))?;
        Store::wipe(&self.store_path())?;
        let secrets = self.secrets();
        secrets
            .delete("rapport.session")
            .map_err(|e| CliError::Failed(e.to_string()))?;
        rapport_core::session::SendPulseLogin::forget(secrets.as_ref())
            .map_err(|e| CliError::Failed(e.to_string()))
    }

    /// Issue 17: logs in to SendPulse's API at `url` directly; the store
    /// starts empty, as with a server login.
    pub fn login_sendpulse(
        &self,
        rt: &tokio::runtime::Runtime,
        url: &str,
        client_id: &str,
        client_secret: &str,
        operator_id: Option<i64>,
    ) -> Result<(Client, rapport_core::client::LoginInfo), CliError> {
        self.fresh()?;
        let client = self.client(url)?;
        let info = rt
            .block_on(client.login_sendpulse(client_id, client_secret, operator_id))
            .map_err(CliError::from)?;
        std::fs::write(self.server_file(), url)
            .map_err(|e| CliError::Failed(format!("saving the URL: {e}")))?;
        Ok((client, info))
    }
}

/// Starts sync and waits until the store has caught up with the server
/// (the live stream is open). A server that cannot be reached is an error
/// at once: a script should not hang on a retry loop.
pub fn sync_until_live(
    client: &Client,
    timeout: Duration,
    mut progress: impl FnMut(&SyncState),
) -> Result<Seq, CliError> {
    client.start_sync()?;
    let state = client.sync_state();
    let deadline = Instant::now() + timeout;
    loop {
        let s = state.borrow().clone();
        match &s {
            SyncState::Live { at } => return Ok(*at),
            SyncState::Failed { code, reason }
                if code == rapport_core::wire::ErrorCode::Unauthorized.as_str() =>
            {
                return Err(CliError::NotFound(format!(
                    "{reason}: log in again with `rapport login`"
                )));
            }
            SyncState::Failed { code, reason } => {
                return Err(CliError::Failed(format!("sync failed ({code}): {reason}")));
            }
            SyncState::Offline { reason, .. } => {
                return Err(CliError::Failed(format!(
                    "cannot reach the server: {reason}"
                )));
            }
            SyncState::Idle | SyncState::Snapshot | SyncState::CatchingUp { .. } => progress(&s),
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "the server did not answer within {}s",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until the outbox entry `find` picks has gone out (it left the
/// outbox). A refused one is reported with its code and discarded, so it
/// does not hold the chat's later commands.
pub fn wait_sent(
    client: &Client,
    timeout: Duration,
    find: impl Fn(&OutboxEntry) -> bool,
) -> Result<(), CliError> {
    wait_sent_with(client, timeout, find, || {})
}

/// [`wait_sent`], calling `tick` on every poll (to show upload progress).
pub fn wait_sent_with(
    client: &Client,
    timeout: Duration,
    find: impl Fn(&OutboxEntry) -> bool,
    mut tick: impl FnMut(),
) -> Result<(), CliError> {
    let deadline = Instant::now() + timeout;
    loop {
        let entries = client.outbox()?;
        let Some(entry) = entries.iter().find(|e| find(e)) else {
            return Ok(());
        };
        if let OutboxState::Failed { code, message } = &entry.state {
            let err = if code == "server_error" {
                CliError::Failed(format!("the server failed ({code}): {message}"))
            } else {
                CliError::Refused {
                    code: code.clone(),
                    message: message.clone(),
                }
            };
            client.discard(entry.id)?;
            return Err(err);
        }
        tick();
        if Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "not confirmed within {}s: it stays in the outbox and goes out with the next sync",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
