//! `server.db`: the one SQLite connection the server's storage shares, its
//! settings and the schema's numbered steps (as the client store keeps
//! them in `core/src/store/schema.rs`).
//!
//! Every table has one owner module, the only one that reads or writes it:
//!
//! | tables | owner |
//! |---|---|
//! | `workspaces`, `events` | `log_storage::sqlite` (for `event_log`) |
//! | `accounts`, `sessions`, `used_refresh` | `accounts` |
//! | `idempotency` | `idempotency` |
//! | `uploads`, `upload_parts` | `uploads` |
//! | `devices`, `member_settings`, `pending_emails`, `sent_notifications` | `notify` |
//! | `sendpulse_links`, `sendpulse_inbox`, `sendpulse_sends`, `sendpulse_dialogs`, `sendpulse_notes` | `gateway::store` |
//!
//! The owners share one writer connection (one file, one writer: SQLite
//! serialises writers anyway, and a command's events and its first answer
//! must commit in one transaction across two owners). [`Db::conn`] hands it
//! out. Reads that need not see an open write (token checks, downloads,
//! settings) take a read-only connection from a small pool instead,
//! [`Db::read`]: in WAL mode they never wait for the writer, nor the writer
//! for them. A test below checks that only the owner modules take either
//! and that each table's SQL is written only in its owner.
//!
//! Both are blocking: callers run them off the async workers
//! (`spawn_blocking`), and hold the writer for one short transaction.
//!
//! The table definitions are here rather than in their owners because the
//! steps are one ordered list for one file (`PRAGMA user_version`).
//! Rules for changing them: never edit a released step; add a step at the
//! end, and the upgrade test checks it; add the fixture of the version
//! before it too (a file the last release's server wrote, dumped to
//! server/tests/fixtures/server-db-vN.sql by scripts/server-db-fixture.py;
//! tests/tests/server_migrations.rs runs today's server on each).

use rusqlite::{Connection, OpenFlags, Transaction, params};
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Store(#[from] rapport_core::StoreError),
    #[error("server.db schema: {0}")]
    Schema(#[from] rusqlite_migration::Error),
    #[error("server.db is at schema version {found}; this build knows up to {known}")]
    TooNew { found: i64, known: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("no workspace {0}")]
    NoWorkspace(String),
    #[error("postgres: {}", pg_shown(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    PgPool(#[from] deadpool_postgres::PoolError),
    #[error("the PostgreSQL schema is at version {found}; this build knows up to {known}")]
    PgTooNew { found: i64, known: i64 },
}

pub type HubResult<T> = Result<T, HubError>;

/// A PostgreSQL error as logs and answers show it: the server's message and
/// its SQLSTATE (tokio-postgres alone shows "db error"), without the DETAIL
/// a constraint error adds, which quotes the row's values (a message's
/// text, a phone number).
fn pg_shown(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// A poisoned lock still guards consistent data here (every write is one
/// SQLite transaction, and the in-memory state is rebuilt from the log).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Step 1: the schema as it was before it had versions, unchanged. A
/// `server.db` written then has `user_version` 0 and these tables already:
/// `IF NOT EXISTS` (in this step only) makes the step a no-op on it, and
/// creates whatever it lacks, so it is adopted as version 1 without loss.
const V1: &str = "
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

/// Step 2 (issue 16): tokens are stored as their SHA-256 only, and a
/// session belongs to a family (a login and every refresh after it). A
/// refresh token already exchanged is remembered in `used_refresh` until
/// its family could have expired: presented again within the grace period
/// it gets another pair of the family, after it the family is revoked.
/// The hook (`hash_stored_tokens`) hashes the tokens already
/// stored, moves `replaced_refresh` over and drops it.
const V2: &str = "
ALTER TABLE sessions ADD COLUMN family TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_by_family ON sessions (family);
CREATE TABLE used_refresh (
    refresh_token TEXT PRIMARY KEY, family TEXT NOT NULL, used_at INTEGER NOT NULL,
    forget_at INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Step 3 (issue 16 hole 4): what the pruners need. `at` is when the
/// pruner first saw an idempotency row or an upload (0: not seen yet; the
/// pruner runs every minute, so that is within a minute of its writing,
/// and rows from before this step are stamped on the first run rather
/// than taken for ancient). `attached` says an upload was sent as a
/// message: rows from before this step count as sent (they may be), new
/// uploads start at 0 and only those are pruned when left unsent.
const V3: &str = "
ALTER TABLE idempotency ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN attached INTEGER NOT NULL DEFAULT 1;
";

/// Step 4: a device belongs to the session family that registered it, and
/// gets pushes only while that family has a live session: a session
/// revoked, stolen or expired without the app's logout (which unregisters
/// the device) sends nothing more to the phone that held it. Rows from
/// before this step have no family (`''`) and keep their pushes until the
/// app registers again, which it does at every login.
const V4: &str = "
ALTER TABLE devices ADD COLUMN family TEXT NOT NULL DEFAULT '';
";

/// Step 5 (issue 17): the SendPulse gateway. A link from a workspace to a
/// SendPulse account: the client secret sealed with the server key
/// (`gateway::seal`), and the SHA-256 of the webhook URL's secret (the URL
/// itself is shown once, when the link is made). The inbox holds webhook
/// bodies answered but not yet turned into events, so a restart loses none.
/// A send is recorded before SendPulse is called (E7): `remote_id` is
/// SendPulse's id of the message once known (from the answer, the history or
/// an `outgoing_message` webhook), and maps it to the agent's message.
/// `sendpulse_dialogs` keeps what the last reconcile saw of each dialog, so
/// a restarted server reads again only the histories that changed.
const V5: &str = "
CREATE TABLE sendpulse_links (
    workspace TEXT PRIMARY KEY, base_url TEXT NOT NULL, client_id TEXT NOT NULL,
    sealed_secret BLOB NOT NULL, hook_hash TEXT NOT NULL UNIQUE,
    operators TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE sendpulse_inbox (
    id INTEGER PRIMARY KEY, workspace TEXT NOT NULL, body BLOB NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE sendpulse_sends (
    workspace TEXT NOT NULL, message_id TEXT NOT NULL, scope TEXT NOT NULL UNIQUE,
    chat_id TEXT NOT NULL, contact_id TEXT NOT NULL, author TEXT NOT NULL,
    text TEXT NOT NULL, started_at INTEGER NOT NULL, remote_id TEXT,
    PRIMARY KEY (workspace, message_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sendpulse_sends_by_remote ON sendpulse_sends (workspace, remote_id);
CREATE INDEX sendpulse_sends_open ON sendpulse_sends (workspace, contact_id, remote_id);
CREATE TABLE sendpulse_dialogs (
    workspace TEXT NOT NULL, contact_id TEXT NOT NULL, mark TEXT NOT NULL,
    PRIMARY KEY (workspace, contact_id)
) WITHOUT ROWID;
";

/// C1 through SendPulse: an agent's note on a linked workspace, recorded
/// before SendPulse's `createNote` is called (the Rapport note's id, the
/// command's key, contact, bot, text, time); `remote_id` is SendPulse's id of
/// the note once known (from the answer, or found in the contact's notes
/// after a lost answer), and maps it to the Rapport note for edits, deletes
/// and the reconcile's reading of the contact's notes.
const V6: &str = "
CREATE TABLE sendpulse_notes (
    workspace TEXT NOT NULL, note_id TEXT NOT NULL, scope TEXT NOT NULL UNIQUE,
    chat_id TEXT NOT NULL, contact_id TEXT NOT NULL, bot_id TEXT NOT NULL,
    author TEXT NOT NULL, text TEXT NOT NULL, started_at INTEGER NOT NULL, remote_id TEXT,
    PRIMARY KEY (workspace, note_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sendpulse_notes_by_remote ON sendpulse_notes (workspace, remote_id);
CREATE INDEX sendpulse_notes_by_contact ON sendpulse_notes (workspace, contact_id);
";

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up_with_hook(V2, |tx: &rusqlite::Transaction<'_>| {
            hash_stored_tokens(tx).map_err(Into::into)
        }),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
    ])
}

/// What `sessions` stores of a token: its SHA-256 (tokens are 256 random
/// bits, so a fast hash suffices).
pub(crate) fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Schema step 2's data (a step of the schema, so here with the steps): the tokens of sessions issued before it are
/// replaced by their hashes (each old session is its own family), and the
/// refresh tokens replaced within the grace period move to `used_refresh`.
/// Deterministic, so an upgraded file equals one created at step 2.
fn hash_stored_tokens(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let old: Vec<(String, String)> = tx
        .prepare("SELECT token, refresh_token FROM sessions")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (token, refresh) in old {
        let hashed = token_hash(&token);
        tx.execute(
            "UPDATE sessions SET token = ?2, refresh_token = ?3, family = ?2 WHERE token = ?1",
            params![token, hashed, token_hash(&refresh)],
        )?;
    }
    let replaced: Vec<(String, String, i64)> = tx
        .prepare("SELECT refresh_token, token, replaced_at FROM replaced_refresh")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (refresh, token, at) in replaced {
        tx.execute(
            "INSERT OR IGNORE INTO used_refresh (refresh_token, family, used_at, forget_at)
             SELECT ?1, family, ?3, refresh_expires_at FROM sessions WHERE token = ?2",
            params![token_hash(&refresh), token_hash(&token), at],
        )?;
    }
    tx.execute_batch("DROP TABLE replaced_refresh;")
}

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = 6;

/// Settings of the connection (outside the steps: `journal_mode` cannot
/// change inside a transaction, and they are not part of the file's shape).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "
        -- Readers (the feed, token checks) never wait for the writer.
        PRAGMA journal_mode = WAL;
        -- With WAL, NORMAL syncs at checkpoints only: a killed process
        -- loses nothing committed.
        PRAGMA synchronous = NORMAL;
        ",
    )
}

/// Idle read-only connections kept for reuse; more are opened when
/// every kept one is in use (and closed when handed back to a full pool).
const READERS_KEPT: usize = 8;

/// The shared `server.db` writer connection, and the pool of readers.
pub(crate) struct Db {
    conn: Mutex<Connection>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

/// A read-only connection from [`Db::read`]; back to the pool on drop.
pub(crate) struct Reader<'a> {
    db: &'a Db,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("taken only on drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut kept = lock(&self.db.readers);
            if kept.len() < READERS_KEPT {
                kept.push(c);
            }
        }
    }
}

impl Drop for Db {
    /// The readers close before the writer: the last connection to close
    /// checkpoints the WAL into the file and removes it, which a read-only
    /// one cannot do. Closed last, a reader left every row since the last
    /// checkpoint in `server.db-wal` after a clean stop.
    fn drop(&mut self) {
        lock(&self.readers).clear();
    }
}

impl Db {
    /// Opens (or creates) the file and brings its schema to [`LATEST`].
    /// A file from a newer build is refused untouched.
    pub(crate) fn open(path: &Path) -> HubResult<Db> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > LATEST {
            return Err(HubError::TooNew {
                found: version,
                known: LATEST,
            });
        }
        migrations().to_latest(&mut conn)?;
        Ok(Db {
            conn: Mutex::new(conn),
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// A read-only connection, for the owner modules' reads that need not
    /// see the writer's open transaction: it sees the last commit, and
    /// neither waits for the writer nor holds it.
    pub(crate) fn read(&self) -> HubResult<Reader<'_>> {
        let kept = lock(&self.readers).pop();
        let conn = match kept {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c
            }
        };
        Ok(Reader {
            db: self,
            conn: Some(conn),
        })
    }

    /// The connection, for the modules that own tables (see the table at
    /// the top) and no other; `tests::only_owners_take_the_connection`
    /// checks. Hold it briefly: every request of every workspace shares it.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST, "LATEST names the last step");
    }

    fn shape(conn: &Connection) -> Vec<String> {
        rapport_core::store::inspect::shape(conn).unwrap()
    }

    fn data(conn: &Connection) -> Vec<String> {
        rapport_core::store::inspect::rows(conn).unwrap()
    }

    /// Rows written right after step N (index N - 1), with the columns
    /// that step knows: an upgraded file must carry them.
    /// (Step 2 rewrites step 1's sessions, so those are tested on their
    /// own: `s5_step_2_hashes_the_tokens_already_stored`.)
    const WRITES_AFTER_STEP: &[&[&str]] = &[
        &[
            "INSERT INTO workspaces VALUES ('w1', 'Workspace one')",
            "INSERT INTO accounts VALUES ('a@example.com', 'salt', 'hash', 'w1', 'u0')",
            "INSERT INTO events VALUES ('w1', 1, '{\"seq\":1}')",
            "INSERT INTO uploads (workspace, id, member_id, name, size, sha256)
             VALUES ('w1', 'up1', 'u0', 'a.pdf', 3, 'abc')",
            "INSERT INTO upload_parts VALUES ('w1', 'up1', 0, x'010203')",
            "INSERT INTO devices (workspace, member_id, device_id, platform, token)
             VALUES ('w1', 'u0', 'd1', 'fcm', 'device-token')",
            "INSERT INTO member_settings VALUES ('w1', 'u0', '{}', NULL)",
            "INSERT INTO pending_emails VALUES ('w1', 'u0', 'c1', '{}')",
            "INSERT INTO sent_notifications (workspace, member_id, channel, body, at)
             VALUES ('w1', 'u0', 'bot', 'line', 7)",
            "INSERT INTO idempotency (workspace, key, status, body)
             VALUES ('w1', 'k', 200, '{\"seq\":1}')",
        ],
        &[
            "INSERT INTO sessions VALUES ('th', 'rh', 'w1', 'u0', 10, 20, 'f1')",
            "INSERT INTO used_refresh VALUES ('old', 'f1', 5, 20)",
        ],
        &[
            "INSERT INTO idempotency VALUES ('w1', 'k3', 200, '{}', 9)",
            "INSERT INTO uploads (workspace, id, member_id, name, size, sha256, at, attached)
             VALUES ('w1', 'up3', 'u0', 'b.pdf', 3, 'abc', 9, 0)",
        ],
        &["INSERT INTO devices VALUES ('w1', 'u0', 'd4', 'apns', 'device-token-4', 'f1')"],
        &[
            "INSERT INTO sendpulse_links VALUES ('w1', 'http://sp', 'id', x'00', 'h', '{}', 5)",
            "INSERT INTO sendpulse_inbox VALUES (1, 'w1', x'5b5d', 5)",
            "INSERT INTO sendpulse_sends VALUES ('w1', 'm1', 's', 'c', 'ct', 'u0', 'hi', 5, NULL)",
            "INSERT INTO sendpulse_dialogs VALUES ('w1', 'ct', 'mark')",
        ],
        &["INSERT INTO sendpulse_notes
             VALUES ('w1', 'n1', 's', 'c', 'ct', 'b', 'u0', 'note', 5, NULL)"],
    ];

    /// A file taken to each version in turn, with that step's rows written
    /// in between, ends as a file created at the latest version with the
    /// same rows written: the same schema, the same data.
    #[test]
    fn upgraded_step_by_step_equals_created_fresh() {
        assert_eq!(
            WRITES_AFTER_STEP.len() as i64,
            LATEST,
            "list the rows each new step carries"
        );
        let mut stepped = Connection::open_in_memory().unwrap();
        for (step, writes) in WRITES_AFTER_STEP.iter().enumerate() {
            migrations().to_version(&mut stepped, step + 1).unwrap();
            for w in *writes {
                stepped.execute(w, []).unwrap();
            }
        }
        let mut fresh = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut fresh).unwrap();
        for w in WRITES_AFTER_STEP.iter().flat_map(|w| w.iter()) {
            fresh.execute(w, []).unwrap();
        }
        assert_eq!(shape(&stepped), shape(&fresh));
        assert_eq!(data(&stepped), data(&fresh));
        assert!(!data(&fresh).is_empty());
    }

    /// What the server ran on every open before its schema had versions,
    /// verbatim: a fixture, never to be edited.
    const UNVERSIONED: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    email TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL,
    workspace TEXT NOT NULL, member_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY, refresh_token TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL, member_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL, refresh_expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS replaced_refresh (
    refresh_token TEXT PRIMARY KEY, token TEXT NOT NULL, replaced_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    workspace TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (workspace, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    workspace TEXT NOT NULL, id TEXT NOT NULL, member_id TEXT NOT NULL, name TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, received INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upload_parts (
    workspace TEXT NOT NULL, id TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (workspace, id, offset)
);
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

    /// A `server.db` written before versions (user_version 0, every table
    /// there, rows in them) opens as the latest version with its rows, and
    /// has the shape of a file created fresh.
    #[test]
    fn an_unversioned_server_db_is_adopted_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(UNVERSIONED).unwrap();
            for w in WRITES_AFTER_STEP[0] {
                old.execute(w, []).unwrap();
            }
        }
        let before = data(&Connection::open(&path).unwrap());
        // The same rows written at the latest version (later steps' new
        // columns take their defaults).
        let expected = {
            let mut fresh = Connection::open_in_memory().unwrap();
            migrations().to_latest(&mut fresh).unwrap();
            for w in WRITES_AFTER_STEP[0] {
                fresh.execute(w, []).unwrap();
            }
            data(&fresh)
        };
        assert_eq!(before.len(), expected.len());
        let db = Db::open(&path).unwrap();
        let adopted = db.conn();
        let v: i64 = adopted
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST);
        assert_eq!(data(&adopted), expected, "no row lost or changed");
        let mut fresh = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut fresh).unwrap();
        assert_eq!(shape(&adopted), shape(&fresh));
        drop(adopted);
        // And it opens again as it is.
        drop(db);
        let again = Db::open(&path).unwrap();
        assert_eq!(data(&again.conn()), expected);
    }

    /// A stopped server leaves `server.db` whole: the writer closes last
    /// and checkpoints the WAL into the file (a read-only reader closing
    /// last cannot), so the file alone, copied after a clean stop, has
    /// every row.
    #[test]
    fn closing_checkpoints_the_wal_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let db = Db::open(&path).unwrap();
        db.conn()
            .execute("INSERT INTO workspaces VALUES ('w1', 'One')", [])
            .unwrap();
        // A token check's reader, back in the pool.
        let n: i64 = db
            .read()
            .unwrap()
            .query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        drop(db);
        assert!(!dir.path().join("server.db-wal").exists(), "checkpointed");
        let alone = dir.path().join("copy.db");
        std::fs::copy(&path, &alone).unwrap();
        let n: i64 = Connection::open(&alone)
            .unwrap()
            .query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_server_db_from_a_newer_build_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE future (x); INSERT INTO future VALUES (1);")
                .unwrap();
            c.pragma_update(None, "user_version", LATEST + 1).unwrap();
        }
        assert!(matches!(
            Db::open(&path),
            Err(HubError::TooNew { found, known: LATEST }) if found == LATEST + 1
        ));
        let c = Connection::open(&path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "nothing created in it");
        let x: i64 = c
            .query_row("SELECT x FROM future", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 1);
    }

    /// The modules that own tables, and their tables (the table above).
    const OWNERS: &[(&str, &str, &[&str])] = &[
        (
            "log_storage/sqlite.rs",
            include_str!("log_storage/sqlite.rs"),
            &["workspaces", "events"],
        ),
        (
            "accounts.rs",
            include_str!("accounts.rs"),
            &["accounts", "sessions", "used_refresh"],
        ),
        (
            "idempotency.rs",
            include_str!("idempotency.rs"),
            &["idempotency"],
        ),
        (
            "uploads.rs",
            include_str!("uploads.rs"),
            &["uploads", "upload_parts"],
        ),
        (
            "gateway/store.rs",
            include_str!("gateway/store.rs"),
            &[
                "sendpulse_links",
                "sendpulse_inbox",
                "sendpulse_sends",
                "sendpulse_dialogs",
                "sendpulse_notes",
            ],
        ),
        (
            "notify.rs",
            include_str!("notify.rs"),
            &[
                "devices",
                "member_settings",
                "pending_emails",
                "sent_notifications",
            ],
        ),
    ];

    /// The other server modules: no SQL, no connection.
    const OTHERS: &[(&str, &str)] = &[
        ("hub.rs", include_str!("hub.rs")),
        ("event_log.rs", include_str!("event_log.rs")),
        ("log_storage/mod.rs", include_str!("log_storage/mod.rs")),
        (
            "log_storage/postgres.rs",
            include_str!("log_storage/postgres.rs"),
        ),
        ("auth.rs", include_str!("auth.rs")),
        ("commands.rs", include_str!("commands.rs")),
        ("feed.rs", include_str!("feed.rs")),
        ("sim.rs", include_str!("sim.rs")),
        ("demo.rs", include_str!("demo.rs")),
        ("faults.rs", include_str!("faults.rs")),
        ("error.rs", include_str!("error.rs")),
        ("lib.rs", include_str!("lib.rs")),
        ("main.rs", include_str!("main.rs")),
        ("gateway/mod.rs", include_str!("gateway/mod.rs")),
        ("gateway/ingest.rs", include_str!("gateway/ingest.rs")),
        ("gateway/reconcile.rs", include_str!("gateway/reconcile.rs")),
        ("gateway/out.rs", include_str!("gateway/out.rs")),
        ("gateway/seal.rs", include_str!("gateway/seal.rs")),
    ];

    /// Where SQL names `table`: after FROM, INTO, UPDATE, JOIN (lower or
    /// upper case keywords, one space).
    fn names_table(src: &str, table: &str) -> bool {
        ["FROM", "INTO", "UPDATE", "JOIN"].iter().any(|kw| {
            src.contains(&format!("{kw} {table} "))
                || src.contains(&format!("{kw} {table}\n"))
                || src.contains(&format!("{kw} {table}\""))
        })
    }

    /// Step 2 on a file with sessions: their tokens are hashed in place,
    /// and both the access and the refresh token still work.
    #[test]
    fn s5_step_2_hashes_the_tokens_already_stored() {
        use crate::accounts::{Accounts, Lifetimes};
        use rapport_core::model::Timestamp;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrations().to_version(&mut c, 1).unwrap();
            c.execute_batch(
                "INSERT INTO sessions VALUES ('tok', 'ref', 'w1', 'u0', 100, 200);
                 INSERT INTO sessions VALUES ('tok2', 'ref2', 'w1', 'u1', 100, 200);
                 INSERT INTO replaced_refresh VALUES ('old', 'tok2', 40);",
            )
            .unwrap();
        }
        let db = std::sync::Arc::new(Db::open(&path).unwrap());
        {
            let c = db.conn();
            let stored: Vec<String> = c
                .prepare("SELECT token || ' ' || refresh_token FROM sessions")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(stored.len(), 2);
            for s in stored {
                assert!(!s.contains("tok") && !s.contains("ref"), "{s}");
            }
        }
        let accounts = Accounts::new(db.clone());
        let s = accounts.session("tok", Timestamp(50)).unwrap().unwrap();
        assert_eq!(s.member_id, "u0");
        let life = Lifetimes {
            access_ms: 10,
            refresh_ms: 1_000,
        };
        assert!(
            accounts
                .refresh("ref", Timestamp(60), life)
                .unwrap()
                .is_some()
        );
        // The refresh token replaced before the upgrade is known as used:
        // within the grace period it still gets a pair of u1's family.
        let again = accounts
            .refresh("old", Timestamp(60), life)
            .unwrap()
            .unwrap();
        assert_eq!(again.session.member_id, "u1");
    }

    #[test]
    fn only_owners_take_the_connection_and_touch_their_tables() {
        let all_tables: Vec<&str> = OWNERS
            .iter()
            .flat_map(|(_, _, t)| t.iter().copied())
            .collect();
        for table in &all_tables {
            assert!(
                V1.contains(&format!("EXISTS {table} ("))
                    || V2.contains(&format!("TABLE {table} ("))
                    || V5.contains(&format!("TABLE {table} ("))
                    || V6.contains(&format!("TABLE {table} (")),
                "{table} is in the schema"
            );
        }
        for (file, src) in OTHERS {
            // `.conn()` and `.read()` are how a module takes a connection
            // (directly or through `Hub::db`, `Hub::reader`); hub.rs only
            // hands them on.
            if *file != "hub.rs" {
                assert!(!src.contains(".conn()"), "{file} takes the connection");
                assert!(!src.contains(".db()"), "{file} takes the connection");
                assert!(!src.contains(".read()"), "{file} takes a reader");
                assert!(!src.contains(".reader()"), "{file} takes a reader");
            }
            for table in &all_tables {
                assert!(!names_table(src, table), "{file} runs SQL on {table}");
            }
        }
        for (file, src, own) in OWNERS {
            for table in own.iter() {
                assert!(names_table(src, table), "the check finds {table} in {file}");
            }
            for table in all_tables.iter().filter(|t| !own.contains(t)) {
                assert!(
                    !names_table(src, table),
                    "{file} runs SQL on {table}, not its own"
                );
            }
        }
    }
}
