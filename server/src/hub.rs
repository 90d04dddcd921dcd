//! The server's storage and its write path.
//!
//! - `server.db` (the `--db` file): accounts, tokens, idempotency answers
//!   and each workspace's **event log**, the source of truth.
//! - Each workspace's current state lives in a Rapport core store beside it
//!   (`<db>.ws-<id>.sqlite`): the same `apply` that clients run derives it
//!   from the log, so server and clients cannot disagree on what a
//!   sequence of events means, and the server answers `since=0` with the
//!   store's snapshot.
//!
//! Writing ([`Hub::emit`]): under the workspace's write lock, the events get
//! the next seqs, go into the log (one transaction), are applied to the
//! store, then broadcast to live streams. If the process dies between log
//! and store, opening the workspace replays the log's tail.

use rapport_core::Store;
use rapport_core::model::{Event, EventPayload, Member, Seq, Timestamp};
use rapport_core::timers::Clock;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    email TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL,
    workspace TEXT NOT NULL, member_id TEXT NOT NULL
);
-- A session: a short-lived access token and the refresh token that
-- replaces the pair.
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY, refresh_token TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL, member_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL, refresh_expires_at INTEGER NOT NULL
);
-- A refresh token just replaced, and its replacement: two processes of one
-- app (the app and its notification extension) refreshing the same session
-- at once both get the new pair within the grace period.
CREATE TABLE IF NOT EXISTS replaced_refresh (
    refresh_token TEXT PRIMARY KEY, token TEXT NOT NULL, replaced_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    workspace TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (workspace, seq)
) WITHOUT ROWID;
-- E2: files being uploaded in parts (resumable: `received` says where the
-- next part starts), then sent as messages that link to them.
CREATE TABLE IF NOT EXISTS uploads (
    workspace TEXT NOT NULL, id TEXT NOT NULL, member_id TEXT NOT NULL, name TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, received INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upload_parts (
    workspace TEXT NOT NULL, id TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (workspace, id, offset)
);
-- H2/H4: each member's devices and notification settings, and what was
-- sent: `sent_notifications` stands in for FCM, APNs, the mail server and
-- the notifications bot (the reference server has no credentials for
-- them) and records exactly what each would have been given.
CREATE TABLE IF NOT EXISTS devices (
    workspace TEXT NOT NULL, member_id TEXT NOT NULL, device_id TEXT NOT NULL,
    platform TEXT NOT NULL, token TEXT NOT NULL,
    PRIMARY KEY (workspace, member_id, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_settings (
    workspace TEXT NOT NULL, member_id TEXT NOT NULL, settings TEXT NOT NULL,
    last_email_at INTEGER,
    PRIMARY KEY (workspace, member_id)
) WITHOUT ROWID;
-- H1: the email waiting for its hour (the latest open chat's last message).
CREATE TABLE IF NOT EXISTS pending_emails (
    workspace TEXT NOT NULL, member_id TEXT NOT NULL, chat_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (workspace, member_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sent_notifications (
    id INTEGER PRIMARY KEY, workspace TEXT NOT NULL, member_id TEXT NOT NULL,
    channel TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    workspace TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (workspace, key)
) WITHOUT ROWID;
";

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Store(#[from] rapport_core::StoreError),
    #[error("{0}")]
    Invalid(String),
}

pub type HubResult<T> = Result<T, HubError>;

/// One workspace: its state, its write lock and its live feed.
pub struct Workspace {
    pub id: String,
    pub store: Arc<Store>,
    /// Serialises writers: seqs are given out and logged in order.
    write: Mutex<()>,
    /// The idempotency scope of the command running under `write`, if any:
    /// its events and a first answer are logged in one transaction.
    pending_key: Mutex<Option<String>>,
    pub feed: broadcast::Sender<Arc<Vec<Event>>>,
}

/// A logged-in member.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub workspace: String,
    pub member_id: String,
    pub expires_at: Timestamp,
}

pub struct Hub {
    /// Server time: the system clock, or a test's manual clock.
    clock: Arc<dyn Clock>,
    db: Mutex<Connection>,
    path: PathBuf,
    workspaces: Mutex<HashMap<String, Arc<Workspace>>>,
    /// Access-token lifetime (ms); tests shorten it.
    pub token_ttl_ms: std::sync::atomic::AtomicI64,
    pub refresh_ttl_ms: i64,
}

/// How long a replaced refresh token still answers with its replacement
/// (two processes of one app refreshing together); after that it is dead.
pub const REFRESH_GRACE_MS: i64 = 60_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The system clock's time (the default server clock).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

/// Server time from the system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
    fn sleep_until(&self, t: Timestamp) -> rapport_core::timers::clock::BoxFuture {
        let wait = (t.0 - now().0).max(0) as u64;
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(wait)))
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS RNG failing is unrecoverable for a server issuing tokens.
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    hex::encode(buf)
}

fn hash(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

impl Hub {
    pub fn open(path: impl AsRef<Path>) -> HubResult<Hub> {
        Hub::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Server time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> HubResult<Hub> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let hub = Hub {
            clock,
            db: Mutex::new(conn),
            path,
            workspaces: Mutex::new(HashMap::new()),
            token_ttl_ms: std::sync::atomic::AtomicI64::new(3_600_000),
            refresh_ttl_ms: 30 * 86_400_000,
        };
        let ids: Vec<String> = {
            let db = lock(&hub.db);
            let mut stmt = db.prepare("SELECT id FROM workspaces")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for id in ids {
            hub.load_workspace(&id)?;
        }
        Ok(hub)
    }

    fn store_path(&self, id: &str) -> PathBuf {
        let mut p = self.path.as_os_str().to_owned();
        p.push(format!(".ws-{id}.sqlite"));
        PathBuf::from(p)
    }

    fn load_workspace(&self, id: &str) -> HubResult<Arc<Workspace>> {
        let store = Arc::new(Store::open(self.store_path(id))?);
        let ws = Arc::new(Workspace {
            id: id.to_owned(),
            store,
            write: Mutex::new(()),
            pending_key: Mutex::new(None),
            feed: broadcast::channel(1024).0,
        });
        // Replay what the log has and the store does not (a crash between
        // the two writes).
        self.heal(&ws)?;
        lock(&self.workspaces).insert(id.to_owned(), ws.clone());
        Ok(ws)
    }

    /// Applies to the store what the log has beyond it (after a crash, or
    /// an apply that failed after its events were logged). Events this
    /// version cannot decode are kept as the clients keep them.
    fn heal(&self, ws: &Workspace) -> HubResult<()> {
        let mut since = ws.store.last_seq()?;
        loop {
            let tail = self.events_after_raw(ws, since, 10_000)?;
            if tail.is_empty() {
                return Ok(());
            }
            let mut events = Vec::new();
            let mut malformed = Vec::new();
            for json in tail {
                match Event::from_json(&json) {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        let seq = serde_json::from_str::<serde_json::Value>(&json)
                            .ok()
                            .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64))
                            .map(Seq);
                        malformed.push((seq, json, e.to_string()));
                    }
                }
            }
            let before = since;
            ws.store.apply_with_malformed(&events, &malformed)?;
            since = ws.store.last_seq()?;
            if since <= before {
                return Err(HubError::Invalid(format!(
                    "the log does not advance past {before:?}"
                )));
            }
        }
    }

    pub fn create_workspace(&self, id: &str, name: &str) -> HubResult<Arc<Workspace>> {
        if let Some(ws) = self.workspace(id) {
            return Ok(ws);
        }
        lock(&self.db).execute(
            "INSERT OR IGNORE INTO workspaces (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
        self.load_workspace(id)
    }

    pub fn workspace(&self, id: &str) -> Option<Arc<Workspace>> {
        lock(&self.workspaces).get(id).cloned()
    }

    /// The ids of the workspaces loaded.
    pub fn workspace_ids(&self) -> Vec<String> {
        lock(&self.workspaces).keys().cloned().collect()
    }

    /// Adds a member with login credentials (and announces the member).
    pub fn add_account(
        &self,
        ws: &Workspace,
        email: &str,
        password: &str,
        member: Member,
    ) -> HubResult<()> {
        let salt = random_hex(16);
        lock(&self.db).execute(
            "INSERT INTO accounts (email, salt, hash, workspace, member_id) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (email) DO UPDATE SET salt = excluded.salt, hash = excluded.hash,
                 workspace = excluded.workspace, member_id = excluded.member_id",
            params![email, salt, hash(&salt, password), ws.id, member.id.as_str()],
        )?;
        self.emit(ws, vec![EventPayload::MemberUpserted(member)])?;
        Ok(())
    }

    /// Checks credentials and issues a token.
    pub fn login(&self, email: &str, password: &str) -> HubResult<Option<Session>> {
        let row: Option<(String, String, String, String)> = lock(&self.db)
            .query_row(
                "SELECT salt, hash, workspace, member_id FROM accounts WHERE email = ?1",
                [email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        match row {
            Some((salt, h, ws, member)) if hash(&salt, password) == h => {
                Ok(Some(self.issue(&ws, &member)?))
            }
            _ => Ok(None),
        }
    }

    pub fn issue(&self, workspace: &str, member_id: &str) -> HubResult<Session> {
        self.issue_on(&lock(&self.db), workspace, member_id)
    }

    fn issue_on(&self, db: &Connection, workspace: &str, member_id: &str) -> HubResult<Session> {
        let (token, refresh_token) = (random_hex(32), random_hex(32));
        let ttl = self.token_ttl_ms.load(std::sync::atomic::Ordering::Relaxed);
        let expires_at = self.now().plus_millis(ttl);
        db.execute(
            "INSERT INTO sessions (token, refresh_token, workspace, member_id, expires_at,
                 refresh_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token,
                refresh_token,
                workspace,
                member_id,
                expires_at.0,
                self.now().plus_millis(self.refresh_ttl_ms).0
            ],
        )?;
        Ok(Session {
            token,
            refresh_token,
            workspace: workspace.to_owned(),
            member_id: member_id.to_owned(),
            expires_at,
        })
    }

    /// The session of a valid, unexpired access token.
    pub fn session(&self, token: &str) -> HubResult<Option<Session>> {
        let row: Option<(String, String, String, i64)> = lock(&self.db)
            .query_row(
                "SELECT refresh_token, workspace, member_id, expires_at FROM sessions
                 WHERE token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.filter(|(_, _, _, exp)| self.now().0 < *exp).map(
            |(refresh_token, workspace, member_id, exp)| Session {
                token: token.to_owned(),
                refresh_token,
                workspace,
                member_id,
                expires_at: Timestamp(exp),
            },
        ))
    }

    /// A new session for a valid refresh token; the old pair is revoked.
    /// Taking the old pair is one statement: of two refreshes racing with
    /// one token, only one gets a session.
    pub fn refresh(&self, refresh_token: &str) -> HubResult<Option<Session>> {
        let now = self.now();
        let mut db = lock(&self.db);
        let tx = db.transaction()?;
        tx.execute(
            "DELETE FROM replaced_refresh WHERE replaced_at <= ?1",
            [now.0 - REFRESH_GRACE_MS],
        )?;
        let taken: Option<(String, String)> = tx
            .query_row(
                "DELETE FROM sessions WHERE refresh_token = ?1 AND refresh_expires_at > ?2
                 RETURNING workspace, member_id",
                params![refresh_token, now.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let session = match taken {
            Some((ws, member)) => {
                let s = self.issue_on(&tx, &ws, &member)?;
                tx.execute(
                    "INSERT OR REPLACE INTO replaced_refresh (refresh_token, token, replaced_at)
                     VALUES (?1, ?2, ?3)",
                    params![refresh_token, s.token, now.0],
                )?;
                Some(s)
            }
            // Replaced a moment ago (by another process of the same app):
            // the same new pair, while it lives.
            None => tx
                .query_row(
                    "SELECT s.token, s.refresh_token, s.workspace, s.member_id, s.expires_at
                     FROM replaced_refresh r JOIN sessions s ON s.token = r.token
                     WHERE r.refresh_token = ?1 AND s.refresh_expires_at > ?2",
                    params![refresh_token, now.0],
                    |r| {
                        Ok(Session {
                            token: r.get(0)?,
                            refresh_token: r.get(1)?,
                            workspace: r.get(2)?,
                            member_id: r.get(3)?,
                            expires_at: Timestamp(r.get(4)?),
                        })
                    },
                )
                .optional()?,
        };
        tx.commit()?;
        Ok(session)
    }

    /// The server database (uploads keep their parts there).
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        lock(&self.db)
    }

    /// Ends the session of an access token.
    pub fn revoke(&self, token: &str) -> HubResult<()> {
        lock(&self.db).execute("DELETE FROM sessions WHERE token = ?1", [token])?;
        Ok(())
    }

    /// The answer given to an idempotency key, if any.
    pub fn idempotent(&self, ws: &str, key: &str) -> HubResult<Option<(u16, String)>> {
        Ok(lock(&self.db)
            .query_row(
                "SELECT status, body FROM idempotency WHERE workspace = ?1 AND key = ?2",
                params![ws, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Keeps the answer to a key (replacing the first answer logged with
    /// the command's events).
    pub fn remember(&self, ws: &str, key: &str, status: u16, body: &str) -> HubResult<()> {
        lock(&self.db).execute(
            "INSERT OR REPLACE INTO idempotency (workspace, key, status, body)
             VALUES (?1, ?2, ?3, ?4)",
            params![ws, key, status, body],
        )?;
        Ok(())
    }

    /// Runs `f` holding the workspace's write lock: commands check and emit
    /// without another writer in between. With `key`, the events `f` emits
    /// are logged together with a first answer for that key, so a command
    /// whose events are in the log is never run again, even if the process
    /// dies before it answers.
    pub fn exclusive<R>(&self, ws: &Workspace, key: Option<&str>, f: impl FnOnce() -> R) -> R {
        let _guard = lock(&ws.write);
        *lock(&ws.pending_key) = key.map(str::to_owned);
        let out = f();
        *lock(&ws.pending_key) = None;
        out
    }

    /// Appends events to the workspace's log, applies them, broadcasts them.
    /// Callers that already hold [`Hub::exclusive`] use [`Hub::emit_locked`].
    pub fn emit(&self, ws: &Workspace, payloads: Vec<EventPayload>) -> HubResult<Vec<Event>> {
        let _guard = lock(&ws.write);
        self.emit_locked(ws, payloads)
    }

    pub fn emit_locked(
        &self,
        ws: &Workspace,
        payloads: Vec<EventPayload>,
    ) -> HubResult<Vec<Event>> {
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let head = self.head(ws)?;
        if ws.store.last_seq()? < head {
            self.heal(ws)?;
        }
        let at = self.now();
        let events: Vec<Event> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| Event {
                seq: Seq(head.0 + 1 + i as u64),
                at,
                payload,
            })
            .collect();
        {
            let mut db = lock(&self.db);
            let tx = db.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO events (workspace, seq, event) VALUES (?1, ?2, ?3)",
                )?;
                for e in &events {
                    stmt.execute(params![ws.id, e.seq.0 as i64, e.to_json()])?;
                }
            }
            if let (Some(key), Some(last)) = (lock(&ws.pending_key).as_deref(), events.last()) {
                tx.execute(
                    "INSERT OR IGNORE INTO idempotency (workspace, key, status, body)
                     VALUES (?1, ?2, 200, ?3)",
                    params![
                        ws.id,
                        key,
                        serde_json::json!({ "seq": last.seq }).to_string()
                    ],
                )?;
            }
            tx.commit()?;
        }
        // The log is the truth from here on: if the store cannot take the
        // events now, the next emit (or a restart) applies them from the log.
        if let Err(e) = ws.store.apply(&events) {
            tracing::error!(error = %e, "workspace store behind its log; it heals on the next write");
        }
        // No live stream listening is fine: they read the log when they come.
        let _ = ws.feed.send(Arc::new(events.clone()));
        // A command's own events notify nobody of the agent's own doing.
        let actor = lock(&ws.pending_key)
            .as_deref()
            .and_then(|k| k.split('\n').next().map(str::to_owned));
        crate::notify::after_emit(self, ws, &events, actor.as_deref());
        Ok(events)
    }

    /// Appends an event given as raw JSON, as a later version of the server
    /// might send (tests of forward compatibility): an unknown type, or a
    /// known type whose data this version cannot decode. Live streams get
    /// it through their catch-up (the heartbeat's head moves on).
    pub fn emit_raw(
        &self,
        ws: &Workspace,
        type_name: &str,
        data: serde_json::Value,
    ) -> HubResult<Seq> {
        let _guard = lock(&ws.write);
        let seq = Seq(self.head(ws)?.0 + 1);
        let json =
            serde_json::json!({"seq": seq, "at": self.now(), "type": type_name, "data": data})
                .to_string();
        lock(&self.db).execute(
            "INSERT INTO events (workspace, seq, event) VALUES (?1, ?2, ?3)",
            params![ws.id, seq.0 as i64, json],
        )?;
        match Event::from_json(&json) {
            Ok(e) => {
                ws.store.apply(std::slice::from_ref(&e))?;
                let _ = ws.feed.send(Arc::new(vec![e]));
            }
            Err(e) => {
                ws.store
                    .apply_with_malformed(&[], &[(Some(seq), json, e.to_string())])?;
            }
        }
        Ok(seq)
    }

    /// The workspace's last seq.
    pub fn head(&self, ws: &Workspace) -> HubResult<Seq> {
        let n: Option<i64> = lock(&self.db).query_row(
            "SELECT max(seq) FROM events WHERE workspace = ?1",
            [&ws.id],
            |r| r.get(0),
        )?;
        Ok(Seq(n.unwrap_or(0) as u64))
    }

    /// Up to `limit` events after `since`, in order, as the log holds them
    /// (their wire JSON).
    pub fn events_after_raw(
        &self,
        ws: &Workspace,
        since: Seq,
        limit: u32,
    ) -> HubResult<Vec<String>> {
        let db = lock(&self.db);
        let mut stmt = db.prepare_cached(
            "SELECT event FROM events WHERE workspace = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![ws.id, since.0 as i64, limit], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` events after `since`, in order.
    pub fn events_after(&self, ws: &Workspace, since: Seq, limit: u32) -> HubResult<Vec<Event>> {
        self.events_after_raw(ws, since, limit)?
            .iter()
            .map(|json| Event::from_json(json).map_err(|e| HubError::Invalid(e.to_string())))
            .collect()
    }
}
