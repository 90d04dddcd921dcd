//! The outbox (E7): a reply is never lost and never sent twice.
//!
//! - [`Store::enqueue`] writes the command and its local echo (a message
//!   with delivery `Pending` and an id the client chose) in one
//!   transaction, before any network call: the UI sees the echo at once,
//!   and a killed app finds the command on the next start.
//! - [`run`] sends the oldest command of each chat, several chats at once
//!   and one command per chat at a time (so each chat's order holds), with
//!   their idempotency key. Attachments upload first, resumably. Network errors, 5xx and 429 keep the command and
//!   retry with backoff (Retry-After honoured); the server answers a repeated
//!   key with its first answer, so a retry after a lost response sends
//!   nothing twice. A refusal marks the command failed with its typed reason
//!   (and the echo failed) until the agent retries or discards it.
//! - The server gives the message the echo's id: its copy, from the answer
//!   or from the feed, replaces the echo in place (no duplicate row, no
//!   flicker back to pending).

mod compose;

pub use compose::{ComposeError, ComposeResult, Composer, Draft};

use crate::model::{ChatId, Delivery, Message, MessageId, Timestamp};
use crate::store::{Changes, Result, Store, TimelineItemId, apply};
use crate::sync::{Action, Backend, Backoff, SyncError};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// Where a command stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (or being retried).
    Queued,
    /// Refused: `code` is the server's (or the core's) stable code.
    Failed { code: String, message: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub key: String,
    pub chat_id: Option<ChatId>,
    pub action: Action,
    pub echo_id: Option<MessageId>,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: Timestamp,
}

const COLS: &str =
    "id, key, chat_id, action, echo_id, state, attempts, error_code, error_message, created_at";

fn entry(r: &rusqlite::Row<'_>) -> Result<OutboxEntry> {
    let id: i64 = r.get(0)?;
    let action_json: String = r.get(3)?;
    let action = serde_json::from_str(&action_json).map_err(|e| crate::StoreError::Decode {
        table: "outbox",
        rowid: id,
        column: "action",
        reason: format!("{:?}", e.classify()),
    })?;
    let state = match r.get::<_, String>(5)?.as_str() {
        "failed" => OutboxState::Failed {
            code: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            message: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
        },
        _ => OutboxState::Queued,
    };
    Ok(OutboxEntry {
        id,
        key: r.get(1)?,
        chat_id: r.get::<_, Option<String>>(2)?.map(ChatId),
        action,
        echo_id: r.get::<_, Option<String>>(4)?.map(MessageId),
        state,
        attempts: r.get(6)?,
        created_at: Timestamp(r.get(9)?),
    })
}

/// Moves an echo from `from` to `to`; the server's copy (any other
/// delivery) is never touched.
fn set_echo_delivery(
    conn: &rusqlite::Connection,
    chat: &ChatId,
    echo: &MessageId,
    from: Delivery,
    to: Delivery,
    changes: &mut Changes,
) -> Result<()> {
    let n = conn
        .prepare_cached("UPDATE messages SET delivery = ?2 WHERE id = ?1 AND delivery = ?3")?
        .execute(params![echo.as_str(), to.code(), from.code()])?;
    if n > 0 {
        changes.timeline(chat, TimelineItemId::Message(echo.clone()));
    }
    Ok(())
}

/// A command left the outbox: its file (if any) goes with it, and so does
/// the SendPulse connector's record of its lost answer (E7, issue 17).
fn delete_file(conn: &rusqlite::Connection, key: Option<String>) -> Result<()> {
    if let Some(key) = key {
        conn.prepare_cached("DELETE FROM outbox_files WHERE key = ?1")?
            .execute([&key])?;
        conn.prepare_cached("DELETE FROM sendpulse_sends WHERE key = ?1")?
            .execute([&key])?;
    }
    Ok(())
}

/// The local echo of an agent's message (E7): shown at once, pending
/// until the server's copy, which takes the same id, replaces it.
pub fn echo(
    id: MessageId,
    chat: &ChatId,
    me: crate::model::MemberId,
    content: crate::model::Content,
    at: Timestamp,
) -> Message {
    Message {
        id,
        chat_id: chat.clone(),
        sender: crate::model::Sender::Member(me),
        content,
        sent_at: at,
        delivery: Some(Delivery::Pending),
        quote: None,
        reactions: Vec::new(),
        edited_at: None,
        deleted_at: None,
        in_reply_to_ad: None,
    }
}

/// An idempotency key an app may choose: 1-62 of A-Z a-z 0-9 - _ (the
/// ids of the echo and of an upload are made from it, and travel in URLs).
pub fn valid_key(key: &str) -> bool {
    (1..=62).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The outbox of a store being rebuilt, as stored: the rows verbatim (an
/// `action` this version cannot read included) and their files.
#[derive(Default)]
pub struct Salvaged {
    rows: Vec<SalvagedRow>,
    files: Vec<(String, Vec<u8>)>,
}

struct SalvagedRow {
    key: String,
    chat_id: Option<String>,
    action: String,
    echo_id: Option<String>,
    state: String,
    attempts: i64,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: i64,
}

/// Reads the outbox of the store file at `path` without opening it as a
/// [`Store`] (it may be corrupt elsewhere, or newer). Nothing when it cannot
/// be read: the rebuild goes on, as it must.
pub fn salvage(path: &std::path::Path) -> Salvaged {
    let read = || -> rusqlite::Result<Salvaged> {
        let c = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let rows = c
            .prepare(
                "SELECT key, chat_id, action, echo_id, state, attempts, error_code,
                        error_message, created_at FROM outbox ORDER BY id",
            )?
            .query_map([], |r| {
                Ok(SalvagedRow {
                    key: r.get(0)?,
                    chat_id: r.get(1)?,
                    action: r.get(2)?,
                    echo_id: r.get(3)?,
                    state: r.get(4)?,
                    attempts: r.get(5)?,
                    error_code: r.get(6)?,
                    error_message: r.get(7)?,
                    created_at: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // A store from before files were kept in the outbox has no table.
        let files = match c.prepare("SELECT key, bytes FROM outbox_files") {
            Ok(mut stmt) => stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            Err(_) => Vec::new(),
        };
        Ok(Salvaged { rows, files })
    };
    if !path.exists() {
        return Salvaged::default();
    }
    match read() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "rebuild: the old outbox cannot be read");
            Salvaged::default()
        }
    }
}

/// Whether `enqueue` stored a new command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    New,
    /// A command with that key is already queued or failed.
    AlreadyQueued,
}

impl Store {
    /// Deletes the store's files and opens a fresh, empty store at `path`
    /// (its last seq is 0, so the next sync starts from a snapshot). The way
    /// out of [`StoreError::Corrupt`](crate::StoreError::Corrupt) and
    /// [`StoreError::Decode`](crate::StoreError::Decode). The outbox
    /// survives: every command not yet confirmed (and its file) is read from
    /// the old file first, where it can be read, and stored again in the
    /// new one, in order, with its key, so nothing the agent sent is lost
    /// and nothing is sent twice. (Here rather than with the store's files:
    /// what survives is the outbox's.)
    pub fn rebuild(path: impl AsRef<std::path::Path>) -> Result<Store> {
        tracing::warn!("rebuilding the local store");
        let kept = salvage(path.as_ref());
        Store::wipe(path.as_ref())?;
        let store = Store::open(path)?;
        store.outbox_restore(&kept)?;
        Ok(store)
    }

    /// E7: stores a command, and its local echo if it sends a message, in
    /// one transaction, before any network call.
    pub fn enqueue(
        &self,
        action: &Action,
        key: &str,
        echo: Option<&Message>,
        now: Timestamp,
    ) -> Result<(Enqueued, Changes)> {
        self.enqueue_with_file(action, key, echo, None, now)
    }

    /// [`Store::enqueue`] with the bytes of an attachment (E2), stored in
    /// the same transaction: a command never waits for a file that is not
    /// there.
    pub fn enqueue_with_file(
        &self,
        action: &Action,
        key: &str,
        echo: Option<&Message>,
        file: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<(Enqueued, Changes)> {
        let mut outcome = Enqueued::New;
        let changes = self.write(|tx, changes, me| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO outbox (key, chat_id, action, echo_id, state, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'queued', ?5) ON CONFLICT (key) DO NOTHING",
                )?
                .execute(params![
                    key,
                    action.chat_id().map(ChatId::as_str),
                    serde_json::to_string(action).unwrap_or_default(),
                    echo.map(|m| m.id.as_str()),
                    now.0
                ])?;
            if n == 0 {
                outcome = Enqueued::AlreadyQueued;
                return Ok(());
            }
            if let Some(bytes) = file {
                tx.prepare_cached("INSERT INTO outbox_files (key, bytes) VALUES (?1, ?2)")?
                    .execute(params![key, bytes])?;
            }
            if let Some(m) = echo {
                apply::local_reply(tx, me, m, changes)?;
            }
            Ok(())
        })?;
        Ok((outcome, changes))
    }

    /// What may be sent now, oldest first: the oldest command of each chat
    /// (the commands of no chat count as one more chat), unless it failed —
    /// a chat with a failed command waits for the agent (retry or discard),
    /// and its later commands must not overtake it. A command set aside as
    /// undecodable blocks nothing: it can never be sent.
    pub fn outbox_ready(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {COLS} FROM outbox o WHERE state = 'queued'
               AND NOT EXISTS (SELECT 1 FROM outbox p
                               WHERE p.chat_id IS o.chat_id AND p.id < o.id
                                 AND p.state != 'corrupt')
             ORDER BY id LIMIT ?1"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.outbox_rows(&sql, [limit])
    }

    /// The rows `sql` selects ([`COLS`]). A row this version cannot decode
    /// (a corrupt or foreign `action`) does not fail the query: it is set
    /// aside as `corrupt` with its reason (kept in the table, never sent,
    /// its echo failed), and the query runs again without it.
    fn outbox_rows(
        &self,
        sql: &str,
        args: impl rusqlite::Params + Clone,
    ) -> Result<Vec<OutboxEntry>> {
        loop {
            let (good, bad) = self.read(|c| {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(args.clone())?;
                let (mut good, mut bad) = (Vec::new(), Vec::new());
                while let Some(r) = rows.next()? {
                    match entry(r) {
                        Ok(e) => good.push(e),
                        Err(crate::StoreError::Decode { rowid, reason, .. }) => {
                            bad.push((rowid, reason))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok((good, bad))
            })?;
            if bad.is_empty() {
                return Ok(good);
            }
            for (id, reason) in bad {
                tracing::warn!(outbox_id = id, %reason, "outbox: an undecodable command set aside");
                self.outbox_set_aside(id, &reason)?;
            }
        }
    }

    /// Sets an undecodable command aside (see [`Store::outbox_rows`]).
    fn outbox_set_aside(&self, id: i64, reason: &str) -> Result<Changes> {
        let message = format!("this command cannot be read: {reason}");
        self.outbox_set_state(id, "corrupt", Some(("corrupt", &message)))
    }

    /// Stores a salvaged outbox again (see [`salvage`]), in its order. The
    /// echoes went with the old file: the server's copy of each message
    /// still takes its id when it arrives.
    pub fn outbox_restore(&self, kept: &Salvaged) -> Result<Changes> {
        if kept.rows.is_empty() {
            return Ok(Changes::default());
        }
        self.write(|tx, _, _| {
            let mut put = tx.prepare_cached(
                "INSERT INTO outbox (key, chat_id, action, echo_id, state, attempts,
                                     error_code, error_message, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (key) DO NOTHING",
            )?;
            for r in &kept.rows {
                put.execute(params![
                    r.key,
                    r.chat_id,
                    r.action,
                    r.echo_id,
                    r.state,
                    r.attempts,
                    r.error_code,
                    r.error_message,
                    r.created_at
                ])?;
            }
            let mut file = tx.prepare_cached(
                "INSERT INTO outbox_files (key, bytes) VALUES (?1, ?2)
                 ON CONFLICT (key) DO NOTHING",
            )?;
            for (key, bytes) in &kept.files {
                file.execute(params![key, bytes])?;
            }
            Ok(())
        })
    }

    /// Commands set aside as undecodable: kept for diagnosis, never sent.
    pub fn outbox_corrupt(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM outbox WHERE state = 'corrupt'",
                [],
                |r| r.get(0),
            )?;
            Ok(n.unsigned_abs())
        })
    }

    /// The command with this idempotency key, if it is still in the outbox.
    pub fn outbox_entry(&self, key: &str) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {COLS} FROM outbox WHERE key = ?1 AND state != 'corrupt'");
        Ok(self.outbox_rows(&sql, [key])?.pop())
    }

    /// Every command not yet confirmed, oldest first (for the UI).
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        let sql = format!("SELECT {COLS} FROM outbox WHERE state != 'corrupt' ORDER BY id");
        self.outbox_rows(&sql, [])
    }

    /// Commands not yet confirmed (a logout warns about them, S5).
    pub fn unsent_commands(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM outbox WHERE state != 'corrupt'",
                [],
                |r| r.get(0),
            )?;
            Ok(n.unsigned_abs())
        })
    }

    pub fn outbox_attempted(&self, id: i64) -> Result<()> {
        self.write(|tx, _, _| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .map(|_| ())
    }

    /// The server took the command: it leaves the outbox. The echo stays
    /// pending until the server's copy arrives on the feed (in order with
    /// every later change to it, so a late or replayed HTTP answer can
    /// never undo a read tick or an edit), and is counted then, once.
    pub fn outbox_sent(&self, id: i64) -> Result<Changes> {
        self.write(|tx, _, _| {
            let key: Option<String> = tx
                .query_row(
                    "DELETE FROM outbox WHERE id = ?1 RETURNING key",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            delete_file(tx, key)
        })
    }

    /// E2: up to `len` bytes of a queued command's file from `offset`, read
    /// through incremental blob I/O (never the whole file at once). `None`
    /// when the command has no file.
    pub fn outbox_file_chunk(&self, key: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            let rowid: Option<i64> = c
                .prepare_cached("SELECT rowid FROM outbox_files WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()?;
            let Some(rowid) = rowid else {
                return Ok(None);
            };
            let blob = c.blob_open(rusqlite::MAIN_DB, "outbox_files", "bytes", rowid, true)?;
            let size = blob.len() as u64;
            let start = offset.min(size);
            let mut buf = vec![0; (size - start).min(len as u64) as usize];
            blob.read_at_exact(&mut buf, start as usize)?;
            Ok(Some(buf))
        })
    }

    /// The command was refused: kept, failed, with its reason.
    pub fn outbox_failed(&self, id: i64, code: &str, message: &str) -> Result<Changes> {
        self.outbox_set_state(id, "failed", Some((code, message)))
    }

    /// The agent retries a failed command: queued again, the echo pending.
    pub fn outbox_retry(&self, id: i64) -> Result<Changes> {
        self.outbox_set_state(id, "queued", None)
    }

    /// Queued again, or out of the queue (`failed`, `corrupt`) with a code
    /// and a reason; the echo follows (pending, or failed).
    fn outbox_set_state(
        &self,
        id: i64,
        state: &'static str,
        failed: Option<(&str, &str)>,
    ) -> Result<Changes> {
        let (from, to) = match state {
            "queued" => (Delivery::Failed, Delivery::Pending),
            _ => (Delivery::Pending, Delivery::Failed),
        };
        self.write(|tx, changes, _| {
            let echo: Option<(Option<String>, Option<String>)> = tx
                .query_row(
                    "UPDATE outbox SET state = ?2, error_code = ?3, error_message = ?4
                     WHERE id = ?1 RETURNING chat_id, echo_id",
                    params![id, state, failed.map(|f| f.0), failed.map(|f| f.1)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((Some(chat), Some(echo))) = echo {
                set_echo_delivery(tx, &ChatId(chat), &MessageId(echo), from, to, changes)?;
            }
            Ok(())
        })
    }

    /// The agent discards a failed command: it and its echo go.
    pub fn outbox_discard(&self, id: i64) -> Result<Changes> {
        self.write(|tx, changes, me| {
            type Gone = (Option<String>, Option<String>, String);
            let gone: Option<Gone> = tx
                .query_row(
                    "DELETE FROM outbox WHERE id = ?1 AND state = 'failed'
                     RETURNING chat_id, echo_id, key",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((chat, echo, key)) = gone else {
                return Ok(());
            };
            delete_file(tx, Some(key))?;
            if let (Some(chat), Some(echo)) = (chat, echo) {
                let n = tx.execute(
                    "DELETE FROM messages WHERE id = ?1 AND delivery = ?2",
                    params![echo, Delivery::Failed.code()],
                )?;
                if n > 0 {
                    let chat = ChatId(chat);
                    changes.timeline(&chat, TimelineItemId::Message(MessageId(echo)));
                    // The list must not keep showing the discarded text.
                    apply::refresh_preview(tx, me, &chat, changes)?;
                }
            }
            Ok(())
        })
    }
}

/// After this many attempts a command that keeps failing with server
/// errors (5xx) is marked failed (`server_error`) for the agent, instead of
/// holding its chat's queue forever. Network errors never count: offline,
/// commands wait as long as it takes.
pub const MAX_ATTEMPTS: u32 = 30;

/// E2: parts of this size go up one request each (a lost connection costs
/// at most one part; the progress moves at least every part).
pub const UPLOAD_PART: usize = 256 * 1024;

/// E2: how far an attachment's upload is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    /// The command's idempotency key.
    pub key: String,
    /// The message the file becomes (its echo shows the progress).
    pub message_id: Option<MessageId>,
    pub sent_bytes: u64,
    pub total_bytes: u64,
}

/// E2: makes sure the server holds the whole file of `entry` (resuming
/// where it stopped: the server says how much it has), reporting progress.
async fn upload<B: Backend>(
    store: &Arc<Store>,
    backend: &B,
    entry: &OutboxEntry,
    upload: &crate::sync::UploadRef,
    message_id: Option<&MessageId>,
    progress: &broadcast::Sender<UploadProgress>,
) -> std::result::Result<(), SyncError> {
    let report = |sent_bytes| {
        // No receiver is fine: nobody is watching.
        let _ = progress.send(UploadProgress {
            key: entry.key.clone(),
            message_id: message_id.cloned(),
            sent_bytes,
            total_bytes: upload.size_bytes,
        });
    };
    let mut received = backend.upload_open(upload).await?;
    report(received);
    while received < upload.size_bytes {
        let (s, key) = (store.clone(), entry.key.clone());
        let chunk =
            tokio::task::spawn_blocking(move || s.outbox_file_chunk(&key, received, UPLOAD_PART))
                .await
                .map_err(|e| SyncError::Network(e.to_string()))?;
        let chunk = match chunk {
            Ok(Some(c)) if !c.is_empty() => c,
            // The file is gone or shorter than announced: the command can
            // never complete (a damaged store); the agent sees why.
            Ok(_) => {
                return Err(SyncError::Refused {
                    status: 0,
                    code: crate::wire::ErrorCode::FileMissing,
                    message: "the attachment's bytes are not in the outbox".into(),
                });
            }
            Err(e) => return Err(SyncError::Network(format!("reading the outbox: {e}"))),
        };
        received = match backend.upload_part(&upload.id, received, chunk).await {
            Ok(n) => n,
            // Another attempt got further (or the answer was lost): ask.
            Err(SyncError::Refused {
                code: crate::wire::ErrorCode::UploadOffset,
                ..
            }) => backend.upload_open(upload).await?,
            Err(e) => return Err(e),
        };
        report(received);
    }
    Ok(())
}

/// Sends one command: its file first, if it has one.
async fn send<B: Backend>(
    store: &Arc<Store>,
    backend: &B,
    entry: &OutboxEntry,
    progress: &broadcast::Sender<UploadProgress>,
) -> std::result::Result<serde_json::Value, SyncError> {
    if let Action::SendAttachment {
        upload: u,
        message_id,
        ..
    } = &entry.action
    {
        upload(store, backend, entry, u, message_id.as_ref(), progress).await?;
    }
    backend.run(&entry.action, &entry.key).await
}

/// H3: how often the running outbox looks for commands another process
/// (the notification process) queued in the same file: such a reply goes
/// out within about this long, with no restart.
pub const PICKUP_INTERVAL: Duration = Duration::from_millis(250);

/// Notices commands queued by other connections (another process) on a
/// connection of its own: `PRAGMA data_version` moves only when another
/// connection commits, and a change wakes the outbox only when a queued
/// command appeared that was not queued at the last look (the keys are
/// unique, so an id reused after a delete is not missed): the sync
/// engine's writes and the outbox's own deletes queue nothing, so they do
/// not cut a retry's wait short.
struct Pickup {
    conn: rusqlite::Connection,
    version: i64,
    queued: HashSet<String>,
}

impl Pickup {
    fn open(path: &std::path::Path) -> Result<Pickup> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(1))?;
        let mut p = Pickup {
            conn,
            version: 0,
            queued: HashSet::new(),
        };
        p.changed()?;
        Ok(p)
    }

    /// Whether a command was queued since the last look.
    fn changed(&mut self) -> Result<bool> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if version == self.version {
            return Ok(false);
        }
        self.version = version;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key FROM outbox WHERE state = 'queued'")?;
        let now: HashSet<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let new = now.iter().any(|k| !self.queued.contains(k));
        self.queued = now;
        Ok(new)
    }
}

/// Wakes `wake` whenever another process queues a command (checked every
/// [`PICKUP_INTERVAL`]), until dropped.
async fn pickup(path: std::path::PathBuf, wake: Arc<Notify>) {
    let opened = tokio::task::spawn_blocking(move || Pickup::open(&path)).await;
    let mut watch = match opened {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "outbox: cannot watch for other processes");
            return;
        }
        Err(_) => return,
    };
    let mut tick = tokio::time::interval(PICKUP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let looked = tokio::task::spawn_blocking(move || {
            let changed = watch.changed();
            (watch, changed)
        })
        .await;
        let Ok((w, changed)) = looked else { return };
        watch = w;
        match changed {
            Ok(true) => wake.notify_one(),
            Ok(false) => {}
            // A busy or locked file: look again at the next tick.
            Err(e) => tracing::debug!(error = %e, "outbox: pickup look failed"),
        }
    }
}

/// Aborts its task with the outbox.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Commands in flight at once. At most one per chat (and one for the
/// commands of no chat): each chat's order holds, and a day's queue drains
/// several chats at a time.
pub const IN_FLIGHT: usize = 4;

/// Sends the outbox until the session ends (returned: log in again).
/// `wake` is notified when a command is queued in this process; commands
/// other processes queue are picked up within [`PICKUP_INTERVAL`]. Cancel-safe: every step is
/// committed, and a command cut off in flight goes again with its key.
/// Store errors (a busy database) are retried, not fatal.
pub async fn run<B: Backend>(
    store: Arc<Store>,
    backend: Arc<B>,
    wake: Arc<Notify>,
    progress: broadcast::Sender<UploadProgress>,
) -> SyncError {
    type Sent = (
        OutboxEntry,
        std::result::Result<serde_json::Value, SyncError>,
    );
    let _pickup = AbortOnDrop(tokio::spawn(pickup(
        store.path().to_path_buf(),
        wake.clone(),
    )));
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut store_backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
    let mut flying: tokio::task::JoinSet<Sent> = tokio::task::JoinSet::new();
    let mut in_flight: HashSet<i64> = HashSet::new();
    // After a retryable failure nothing new starts until then (a new
    // command cuts the wait short, as the network may be back).
    let mut hold_until: Option<tokio::time::Instant> = None;
    loop {
        let held = hold_until.is_some_and(|t| tokio::time::Instant::now() < t);
        if !held && flying.len() < IN_FLIGHT {
            let (s, skip) = (store.clone(), in_flight.clone());
            let free = IN_FLIGHT - flying.len();
            let ready = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                for e in s.outbox_ready(IN_FLIGHT + skip.len())? {
                    if out.len() < free && !skip.contains(&e.id) {
                        s.outbox_attempted(e.id)?;
                        out.push(e);
                    }
                }
                Ok::<_, crate::StoreError>(out)
            })
            .await
            .unwrap_or_else(|e| Err(crate::StoreError::Io(std::io::Error::other(e.to_string()))));
            match ready {
                Ok(entries) => {
                    store_backoff.reset();
                    for entry in entries {
                        in_flight.insert(entry.id);
                        let (s, b, p) = (store.clone(), backend.clone(), progress.clone());
                        flying.spawn(async move {
                            let result = send(&s, &*b, &entry, &p).await;
                            (entry, result)
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: store busy, retrying");
                    tokio::time::sleep(store_backoff.next_delay()).await;
                    continue;
                }
            }
        }
        if flying.is_empty() {
            match hold_until {
                Some(t) if held => tokio::select! {
                    _ = tokio::time::sleep_until(t) => {}
                    _ = wake.notified() => {}
                },
                _ => wake.notified().await,
            }
            hold_until = None;
            continue;
        }
        let can_start = !held && flying.len() < IN_FLIGHT;
        let done = tokio::select! {
            done = flying.join_next() => done,
            _ = wake.notified(), if can_start => continue,
        };
        let (entry, result) = match done {
            Some(Ok(sent)) => sent,
            // A send that panicked: its command stays queued.
            Some(Err(e)) => {
                tracing::error!(error = %e, "outbox: a send failed unexpectedly");
                in_flight.clear();
                continue;
            }
            None => continue,
        };
        in_flight.remove(&entry.id);
        let outcome = match result {
            // A 2xx whose body could not be read (`Malformed`) may be a
            // captive portal's page: the command may never have arrived. It
            // is retried below with its key, which never runs it twice.
            Ok(_) => {
                backoff.reset();
                store.outbox_sent(entry.id).map(|_| ())
            }
            Err(SyncError::Unauthorized) => {
                flying.abort_all();
                return SyncError::Unauthorized;
            }
            // Offline (network) or told to wait (429): retry as long as it
            // takes, a day included. Server errors and unreadable answers
            // count toward the cap.
            Err(e)
                if matches!(e, SyncError::Network(_) | SyncError::RateLimited { .. })
                    || (e.is_retryable() && entry.attempts + 1 < MAX_ATTEMPTS) =>
            {
                let wait = match &e {
                    // The server said when: wait that long, whatever comes.
                    SyncError::RateLimited {
                        retry_after: Some(d),
                    } => *d,
                    _ => backoff.next_delay(),
                };
                tracing::debug!(error = %e, ?wait, "outbox retrying");
                hold_until = Some(tokio::time::Instant::now() + wait);
                Ok(())
            }
            Err(e) => store
                .outbox_failed(entry.id, e.code(), &e.to_string())
                .map(|_| ()),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "outbox: store busy, retrying");
            tokio::time::sleep(store_backoff.next_delay()).await;
        }
    }
}
