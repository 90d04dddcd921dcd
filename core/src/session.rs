//! Sessions (S5): log in with a server URL and credentials, keep the session
//! in the platform's secure storage, refresh the token before it expires
//! (and after a 401, which the backend does by itself), log out wiping the
//! local store.
//!
//! Tokens live only in a [`SecretStore`]: Android Keystore-backed storage and
//! the iOS Keychain implement it in the apps; the CLI and tests use
//! [`FileSecretStore`]. Never in SQLite, never in logs.

use crate::model::Timestamp;
use crate::sync::{RapportBackend, SyncResult};
use crate::wire::LoginResponse;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The secure storage of a platform.
pub trait SecretStore: Send + Sync {
    fn load(&self, key: &str) -> Result<Option<String>, SecretError>;
    fn save(&self, key: &str, value: &str) -> Result<(), SecretError>;
    fn delete(&self, key: &str) -> Result<(), SecretError>;
}

#[derive(Debug, thiserror::Error)]
#[error("secure storage: {0}")]
pub struct SecretError(pub String);

/// A JSON file readable by its owner only (0600), written atomically. For
/// the CLI and tests; the apps use the platform's keystore.
pub struct FileSecretStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSecretStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSecretStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    fn read_all(&self) -> Result<serde_json::Map<String, serde_json::Value>, SecretError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SecretError(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(e) => Err(SecretError(e.to_string())),
        }
    }

    fn write_all(
        &self,
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), SecretError> {
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_string(map).map_err(|e| SecretError(e.to_string()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let write = |opts: &std::fs::OpenOptions| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = opts.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write(&opts).map_err(|e| SecretError(e.to_string()))
    }
}

impl SecretStore for FileSecretStore {
    fn load(&self, key: &str) -> Result<Option<String>, SecretError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .read_all()?
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    }

    fn save(&self, key: &str, value: &str) -> Result<(), SecretError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = self.read_all()?;
        map.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
        self.write_all(&map)
    }

    fn delete(&self, key: &str) -> Result<(), SecretError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = self.read_all()?;
        if map.remove(key).is_some() {
            self.write_all(&map)?;
        }
        Ok(())
    }
}

const KEY: &str = "rapport.session";

/// What can stop a logout from forgetting everything locally (the server
/// being unreachable cannot: its token expires on its own).
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Refresh when less than this is left of the access token.
pub const REFRESH_MARGIN_MS: i64 = 5 * 60_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    server: String,
    session: LoginResponse,
}

/// The session saved for `server`, if any.
fn load(secrets: &dyn SecretStore, server: &str) -> Result<Option<LoginResponse>, SecretError> {
    let Some(json) = secrets.load(KEY)? else {
        return Ok(None);
    };
    let saved: Saved = serde_json::from_str(&json).map_err(|e| SecretError(e.to_string()))?;
    Ok((saved.server == server).then_some(saved.session))
}

/// A logged-in member on one server.
pub struct Session {
    backend: Arc<RapportBackend>,
    secrets: Arc<dyn SecretStore>,
    server: String,
    current: Arc<Mutex<LoginResponse>>,
}

impl Session {
    fn wire(
        backend: Arc<RapportBackend>,
        secrets: Arc<dyn SecretStore>,
        server: &str,
        s: LoginResponse,
    ) -> Session {
        let current = Arc::new(Mutex::new(s));
        // Every new session (a refresh after a 401 included) is saved.
        let (sink_secrets, sink_current, sink_server) =
            (secrets.clone(), current.clone(), server.to_owned());
        backend.on_session(Box::new(move |s: &LoginResponse| {
            *sink_current.lock().unwrap_or_else(|e| e.into_inner()) = s.clone();
            let saved = Saved {
                server: sink_server.clone(),
                session: s.clone(),
            };
            if let Err(e) = serde_json::to_string(&saved)
                .map_err(|e| SecretError(e.to_string()))
                .and_then(|json| sink_secrets.save(KEY, &json))
            {
                tracing::error!(error = %e, "could not save the session");
            }
        }));
        // S5/H3: the notification process may refresh the pair it read
        // here; before refreshing (and after a 401) the backend reads the
        // secret store again and adopts a pair that differs from its own.
        let (src_secrets, src_current, src_server) =
            (secrets.clone(), current.clone(), server.to_owned());
        backend.stored_session(Box::new(move || {
            let saved = load(src_secrets.as_ref(), &src_server).ok().flatten()?;
            let mut current = src_current.lock().unwrap_or_else(|e| e.into_inner());
            // An older pair (our own save failed) is not adopted.
            if saved.expires_at < current.expires_at {
                return None;
            }
            if current.token != saved.token {
                tracing::debug!("adopting the session another process refreshed");
                *current = saved.clone();
            }
            Some(saved)
        }));
        Session {
            backend,
            secrets,
            server: server.to_owned(),
            current,
        }
    }

    /// Logs in and saves the session.
    pub async fn login(
        backend: Arc<RapportBackend>,
        secrets: Arc<dyn SecretStore>,
        server: &str,
        email: &str,
        password: &str,
    ) -> SyncResult<Session> {
        let s = backend.login(email, password).await?;
        let session = Session::wire(backend.clone(), secrets, server, s.clone());
        // Save the first session too (login ran before the sink existed).
        backend.set_session(&s);
        session.save(&s);
        Ok(session)
    }

    fn save(&self, s: &LoginResponse) {
        let saved = Saved {
            server: self.server.clone(),
            session: s.clone(),
        };
        match serde_json::to_string(&saved) {
            Ok(json) => {
                if let Err(e) = self.secrets.save(KEY, &json) {
                    tracing::error!(error = %e, "could not save the session");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode the session"),
        }
    }

    /// The saved session for `server`, if any (an app starting offline is
    /// logged in at once).
    pub fn restore(
        backend: Arc<RapportBackend>,
        secrets: Arc<dyn SecretStore>,
        server: &str,
    ) -> Result<Option<Session>, SecretError> {
        let Some(saved) = load(secrets.as_ref(), server)? else {
            return Ok(None);
        };
        backend.set_session(&saved);
        Ok(Some(Session::wire(backend, secrets, server, saved)))
    }

    pub fn info(&self) -> LoginResponse {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Refreshes the session if its token expires within
    /// [`REFRESH_MARGIN_MS`] of `now` (server time).
    pub async fn ensure_fresh(&self, now: Timestamp) -> SyncResult<bool> {
        let fresh = |s: &LoginResponse| now.plus_millis(REFRESH_MARGIN_MS) < s.expires_at;
        let mut s = self.info();
        if fresh(&s) {
            return Ok(false);
        }
        // Another process may have refreshed already (S5/H3).
        if let Some(stored) = self.backend.adopt_stored(Some(&s.token)) {
            if fresh(&stored) {
                return Ok(true);
            }
            s = stored;
        }
        self.backend.refresh(&s.refresh_token).await?;
        Ok(true)
    }

    /// Ends the session on the server (if reachable) and forgets it here,
    /// then deletes the local store at `store_path` (close it first). The
    /// local data belongs to the member: nothing of it stays.
    pub async fn logout(self, store_path: &Path) -> Result<(), LogoutError> {
        // Forget first, locally, whatever the network does: the data and
        // the secrets go even offline.
        if let Err(e) = self.backend.logout().await {
            // Offline: the token expires on its own.
            tracing::warn!(error = %e, "logout not confirmed by the server");
        }
        let wiped = crate::Store::wipe(store_path);
        let forgot = self.secrets.delete(KEY);
        wiped?;
        forgot?;
        Ok(())
    }
}

// ---- issue 17: the direct connector's login ---------------------------------

const SENDPULSE_KEY: &str = "rapport.sendpulse";

/// A SendPulse account the phone talks to directly (no server of its own):
/// its API's URL and client credentials, kept in the secret store as the
/// Rapport session is. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPulseLogin {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The agent's member id on this phone ("mine", the sender of replies).
    pub me: crate::model::MemberId,
    /// D1: the agent's SendPulse operator id, when assigning to oneself
    /// should work.
    #[serde(default)]
    pub operator_id: Option<i64>,
}

impl std::fmt::Debug for SendPulseLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendPulseLogin")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("me", &self.me)
            .finish()
    }
}

impl SendPulseLogin {
    /// The connector's configuration for this login.
    pub fn config(&self) -> crate::sync::SendPulseConfig {
        let mut cfg =
            crate::sync::SendPulseConfig::new(&self.base_url, &self.client_id, &self.client_secret);
        cfg.me = self.me.clone();
        if let Some(op) = self.operator_id {
            cfg.operators = vec![(self.me.clone(), cfg.me_name.clone(), op)];
        }
        cfg
    }

    /// The login saved for `base_url`, if any.
    pub fn load(
        secrets: &dyn SecretStore,
        base_url: &str,
    ) -> Result<Option<SendPulseLogin>, SecretError> {
        let Some(json) = secrets.load(SENDPULSE_KEY)? else {
            return Ok(None);
        };
        let saved: SendPulseLogin =
            serde_json::from_str(&json).map_err(|e| SecretError(e.to_string()))?;
        Ok((saved.base_url == base_url).then_some(saved))
    }

    pub fn save(&self, secrets: &dyn SecretStore) -> Result<(), SecretError> {
        let json = serde_json::to_string(self).map_err(|e| SecretError(e.to_string()))?;
        secrets.save(SENDPULSE_KEY, &json)
    }

    pub fn forget(secrets: &dyn SecretStore) -> Result<(), SecretError> {
        secrets.delete(SENDPULSE_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_a_sendpulse_login_is_kept_per_url_and_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = FileSecretStore::new(dir.path().join("s.json"));
        let login = SendPulseLogin {
            base_url: "https://api.sendpulse.com".into(),
            client_id: "cid".into(),
            client_secret: "top-secret".into(),
            me: crate::model::MemberId::from("me"),
            operator_id: Some(7),
        };
        assert!(!format!("{login:?}").contains("top-secret"));
        assert!(!format!("{:?}", login.config()).contains("top-secret"));
        login.save(&secrets).unwrap();
        assert_eq!(
            SendPulseLogin::load(&secrets, "https://api.sendpulse.com").unwrap(),
            Some(login.clone())
        );
        assert_eq!(
            SendPulseLogin::load(&secrets, "https://other").unwrap(),
            None
        );
        assert_eq!(login.config().operators[0].2, 7);
        SendPulseLogin::forget(&secrets).unwrap();
        assert_eq!(
            SendPulseLogin::load(&secrets, "https://api.sendpulse.com").unwrap(),
            None
        );
    }
}
