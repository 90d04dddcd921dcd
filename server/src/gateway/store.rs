//! The gateway's tables (owner of `sendpulse_links`, `sendpulse_inbox`,
//! `sendpulse_sends`, `sendpulse_dialogs`, `sendpulse_notes`; see `db`). Every function is blocking: callers run it
//! off the async workers.

use crate::hub::{Hub, HubResult};
use rusqlite::{OptionalExtension, params};

/// A link as stored: the client secret sealed (`seal`).
#[derive(Clone)]
pub(crate) struct LinkRow {
    pub workspace: String,
    pub base_url: String,
    pub client_id: String,
    pub sealed_secret: Vec<u8>,
    /// JSON: member id -> SendPulse operator id (D1).
    pub operators: String,
}

/// Creates the link, or replaces the workspace's link (a new secret URL:
/// the old one stops working).
pub(crate) fn put_link(hub: &Hub, row: &LinkRow, hook_hash: &str, now: i64) -> HubResult<()> {
    hub.db().execute(
        "INSERT OR REPLACE INTO sendpulse_links
             (workspace, base_url, client_id, sealed_secret, hook_hash, operators, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            row.workspace,
            row.base_url,
            row.client_id,
            row.sealed_secret,
            hook_hash,
            row.operators,
            now
        ],
    )?;
    Ok(())
}

/// The workspace a webhook secret's hash belongs to.
pub(crate) fn workspace_of_hook(hub: &Hub, hook_hash: &str) -> HubResult<Option<String>> {
    Ok(hub
        .reader()?
        .query_row(
            "SELECT workspace FROM sendpulse_links WHERE hook_hash = ?1",
            [hook_hash],
            |r| r.get(0),
        )
        .optional()?)
}

pub(crate) fn link(hub: &Hub, workspace: &str) -> HubResult<Option<LinkRow>> {
    Ok(hub
        .reader()?
        .query_row(
            "SELECT workspace, base_url, client_id, sealed_secret, operators FROM sendpulse_links
             WHERE workspace = ?1",
            [workspace],
            |r| {
                Ok(LinkRow {
                    workspace: r.get(0)?,
                    base_url: r.get(1)?,
                    client_id: r.get(2)?,
                    sealed_secret: r.get(3)?,
                    operators: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub(crate) fn linked_workspaces(hub: &Hub) -> HubResult<Vec<String>> {
    let db = hub.reader()?;
    let mut st = db.prepare("SELECT workspace FROM sendpulse_links ORDER BY workspace")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Keeps a webhook body until the worker has turned it into events.
pub(crate) fn queue(hub: &Hub, workspace: &str, body: &[u8], now: i64) -> HubResult<()> {
    hub.db().execute(
        "INSERT INTO sendpulse_inbox (workspace, body, at) VALUES (?1, ?2, ?3)",
        params![workspace, body, now],
    )?;
    Ok(())
}

/// The oldest queued bodies: (id, workspace, body).
pub(crate) fn queued(hub: &Hub, limit: u32) -> HubResult<Vec<(i64, String, Vec<u8>)>> {
    let db = hub.reader()?;
    let mut st =
        db.prepare("SELECT id, workspace, body FROM sendpulse_inbox ORDER BY id LIMIT ?1")?;
    let rows = st.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn unqueue(hub: &Hub, id: i64) -> HubResult<()> {
    hub.db()
        .execute("DELETE FROM sendpulse_inbox WHERE id = ?1", [id])?;
    Ok(())
}

/// E7: an agent's send, recorded before SendPulse is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SendRow {
    pub workspace: String,
    /// The Rapport message's id (the client's echo id).
    pub message_id: String,
    /// The command's idempotency scope.
    pub scope: String,
    pub chat_id: String,
    pub contact_id: String,
    pub author: String,
    /// What names the send in SendPulse's history (`map::send_key`): the
    /// text; `template:{name}` (E5); `file:{url}` (E2).
    pub text: String,
    pub started_at: i64,
    /// SendPulse's id of the message, once known.
    pub remote_id: Option<String>,
}

const SEND_COLUMNS: &str = "workspace, message_id, scope, chat_id, contact_id, author, text, \
                            started_at, remote_id";

fn send_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SendRow> {
    Ok(SendRow {
        workspace: r.get(0)?,
        message_id: r.get(1)?,
        scope: r.get(2)?,
        chat_id: r.get(3)?,
        contact_id: r.get(4)?,
        author: r.get(5)?,
        text: r.get(6)?,
        started_at: r.get(7)?,
        remote_id: r.get(8)?,
    })
}

/// Records a send; `false` when its scope or message id is recorded already.
pub(crate) fn record_send(hub: &Hub, s: &SendRow) -> HubResult<bool> {
    let n = hub.db().execute(
        "INSERT OR IGNORE INTO sendpulse_sends
             (workspace, message_id, scope, chat_id, contact_id, author, text, started_at,
              remote_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
        params![
            s.workspace,
            s.message_id,
            s.scope,
            s.chat_id,
            s.contact_id,
            s.author,
            s.text,
            s.started_at
        ],
    )?;
    Ok(n == 1)
}

pub(crate) fn send_by_scope(hub: &Hub, scope: &str) -> HubResult<Option<SendRow>> {
    let sql = format!("SELECT {SEND_COLUMNS} FROM sendpulse_sends WHERE scope = ?1");
    Ok(hub.db().query_row(&sql, [scope], send_row).optional()?)
}

pub(crate) fn send_by_remote(
    hub: &Hub,
    workspace: &str,
    remote_id: &str,
) -> HubResult<Option<SendRow>> {
    let sql = format!(
        "SELECT {SEND_COLUMNS} FROM sendpulse_sends WHERE workspace = ?1 AND remote_id = ?2"
    );
    Ok(hub
        .db()
        .query_row(&sql, [workspace, remote_id], send_row)
        .optional()?)
}

/// The sends to a contact whose SendPulse message is not known yet, oldest
/// first.
pub(crate) fn open_sends(hub: &Hub, workspace: &str, contact_id: &str) -> HubResult<Vec<SendRow>> {
    let sql = format!(
        "SELECT {SEND_COLUMNS} FROM sendpulse_sends
         WHERE workspace = ?1 AND contact_id = ?2 AND remote_id IS NULL ORDER BY started_at"
    );
    let db = hub.db();
    let mut st = db.prepare(&sql)?;
    let rows = st.query_map([workspace, contact_id], send_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Binds SendPulse's id to a recorded send (once: a bound send keeps its id).
pub(crate) fn bind_send(
    hub: &Hub,
    workspace: &str,
    message_id: &str,
    remote_id: &str,
) -> HubResult<bool> {
    let n = hub.db().execute(
        "UPDATE sendpulse_sends SET remote_id = ?3
         WHERE workspace = ?1 AND message_id = ?2 AND remote_id IS NULL",
        params![workspace, message_id, remote_id],
    )?;
    Ok(n == 1)
}

/// Forgets a send SendPulse refused (nothing went out to look for).
pub(crate) fn forget_send(hub: &Hub, workspace: &str, message_id: &str) -> HubResult<()> {
    hub.db().execute(
        "DELETE FROM sendpulse_sends WHERE workspace = ?1 AND message_id = ?2",
        params![workspace, message_id],
    )?;
    Ok(())
}

/// What the last reconcile saw of each dialog of the workspace, by contact.
pub(crate) fn dialog_marks(
    hub: &Hub,
    workspace: &str,
) -> HubResult<std::collections::HashMap<String, String>> {
    let db = hub.reader()?;
    let mut st =
        db.prepare("SELECT contact_id, mark FROM sendpulse_dialogs WHERE workspace = ?1")?;
    let rows = st.query_map([workspace], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn set_dialog_mark(
    hub: &Hub,
    workspace: &str,
    contact_id: &str,
    mark: &str,
) -> HubResult<()> {
    hub.db().execute(
        "INSERT OR REPLACE INTO sendpulse_dialogs (workspace, contact_id, mark)
         VALUES (?1, ?2, ?3)",
        params![workspace, contact_id, mark],
    )?;
    Ok(())
}

/// C1: an agent's note on a linked workspace, recorded before SendPulse's
/// `createNote` is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NoteRow {
    pub workspace: String,
    /// The Rapport note's id.
    pub note_id: String,
    /// The command's idempotency scope.
    pub scope: String,
    pub chat_id: String,
    pub contact_id: String,
    /// SendPulse's bot id (the notes calls name it).
    pub bot_id: String,
    pub author: String,
    pub text: String,
    pub started_at: i64,
    /// SendPulse's id of the note, once known.
    pub remote_id: Option<String>,
}

const NOTE_COLUMNS: &str = "workspace, note_id, scope, chat_id, contact_id, bot_id, author, \
                            text, started_at, remote_id";

fn note_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NoteRow> {
    Ok(NoteRow {
        workspace: r.get(0)?,
        note_id: r.get(1)?,
        scope: r.get(2)?,
        chat_id: r.get(3)?,
        contact_id: r.get(4)?,
        bot_id: r.get(5)?,
        author: r.get(6)?,
        text: r.get(7)?,
        started_at: r.get(8)?,
        remote_id: r.get(9)?,
    })
}

/// Records a note; `false` when its scope or note id is recorded already.
pub(crate) fn record_note(hub: &Hub, n: &NoteRow) -> HubResult<bool> {
    let rows = hub.db().execute(
        "INSERT OR IGNORE INTO sendpulse_notes
             (workspace, note_id, scope, chat_id, contact_id, bot_id, author, text, started_at,
              remote_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)",
        params![
            n.workspace,
            n.note_id,
            n.scope,
            n.chat_id,
            n.contact_id,
            n.bot_id,
            n.author,
            n.text,
            n.started_at
        ],
    )?;
    Ok(rows == 1)
}

pub(crate) fn note_by_scope(hub: &Hub, scope: &str) -> HubResult<Option<NoteRow>> {
    let sql = format!("SELECT {NOTE_COLUMNS} FROM sendpulse_notes WHERE scope = ?1");
    Ok(hub.db().query_row(&sql, [scope], note_row).optional()?)
}

pub(crate) fn note_by_id(hub: &Hub, workspace: &str, note_id: &str) -> HubResult<Option<NoteRow>> {
    let sql =
        format!("SELECT {NOTE_COLUMNS} FROM sendpulse_notes WHERE workspace = ?1 AND note_id = ?2");
    Ok(hub
        .db()
        .query_row(&sql, [workspace, note_id], note_row)
        .optional()?)
}

/// Every recorded note of a contact, oldest first (bound or not).
pub(crate) fn notes_of(hub: &Hub, workspace: &str, contact_id: &str) -> HubResult<Vec<NoteRow>> {
    let sql = format!(
        "SELECT {NOTE_COLUMNS} FROM sendpulse_notes
         WHERE workspace = ?1 AND contact_id = ?2 ORDER BY started_at"
    );
    let db = hub.db();
    let mut st = db.prepare(&sql)?;
    let rows = st.query_map([workspace, contact_id], note_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Binds SendPulse's id to a recorded note (once).
pub(crate) fn bind_note(
    hub: &Hub,
    workspace: &str,
    note_id: &str,
    remote_id: &str,
) -> HubResult<bool> {
    let n = hub.db().execute(
        "UPDATE sendpulse_notes SET remote_id = ?3
         WHERE workspace = ?1 AND note_id = ?2 AND remote_id IS NULL",
        params![workspace, note_id, remote_id],
    )?;
    Ok(n == 1)
}

/// Forgets a recorded note (SendPulse refused it, or it was deleted).
pub(crate) fn forget_note(hub: &Hub, workspace: &str, note_id: &str) -> HubResult<()> {
    hub.db().execute(
        "DELETE FROM sendpulse_notes WHERE workspace = ?1 AND note_id = ?2",
        params![workspace, note_id],
    )?;
    Ok(())
}
