//! A chat's timeline (B1, C1): messages and notes in time order, read
//! backwards page by page from the newest.

use super::codec::{self, MESSAGE_COLS, NOTE_COLS};
use super::{Result, Store, StoreError, TimelineItemId};
use crate::model::{ChatId, Message, Note};
use rusqlite::{Connection, OptionalExtension};

/// One entry of a timeline.
// Messages are nearly every item: boxing them to shrink the enum would add
// an allocation per item for the rare note's sake.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimelineItem {
    Message(Message),
    /// C1: an internal note, shown in place among the messages.
    Note(Note),
}

impl TimelineItem {
    pub fn id(&self) -> TimelineItemId {
        match self {
            TimelineItem::Message(m) => TimelineItemId::Message(m.id.clone()),
            TimelineItem::Note(n) => TimelineItemId::Note(n.id.clone()),
        }
    }
}

/// An item's place: time, then messages before notes at the same time, then
/// the local row order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimelineKey {
    pub at: i64,
    /// 0 message, 1 note.
    pub kind: u8,
    pub rid: i64,
}

/// Where the next older page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimelineCursor {
    pub at: i64,
    pub kind: u8,
    pub rid: i64,
}

impl From<TimelineKey> for TimelineCursor {
    fn from(k: TimelineKey) -> Self {
        TimelineCursor {
            at: k.at,
            kind: k.kind,
            rid: k.rid,
        }
    }
}

impl From<TimelineCursor> for TimelineKey {
    fn from(c: TimelineCursor) -> Self {
        TimelineKey {
            at: c.at,
            kind: c.kind,
            rid: c.rid,
        }
    }
}

/// A page of a timeline, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelinePage {
    pub items: Vec<TimelineItem>,
    /// The cursor of the next older page; `None` when the store holds
    /// nothing older (sync may still fetch older history from the server).
    pub older: Option<TimelineCursor>,
}

impl Store {
    /// B1: up to `limit` items older than `before` (the newest when `None`),
    /// returned oldest first.
    pub fn timeline_page(
        &self,
        chat: &ChatId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> Result<TimelinePage> {
        self.read(|c| {
            let rid = chat_rid(c, chat)?.ok_or(StoreError::UnknownChat)?;
            let mut rows = page(c, rid, chat, before.map(Into::into), limit)?;
            let older = (rows.len() == limit as usize && limit > 0)
                .then(|| rows.last().map(|(k, _)| (*k).into()))
                .flatten();
            rows.reverse();
            Ok(TimelinePage {
                items: rows.into_iter().map(|(_, i)| i).collect(),
                older,
            })
        })
    }

    /// Whether any chat has a message with this id.
    pub fn has_message(&self, id: &crate::model::MessageId) -> Result<bool> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)")?
                    .query_row([id.as_str()], |r| r.get(0))?,
            )
        })
    }

    /// One timeline item of a chat by id.
    pub fn timeline_item(
        &self,
        chat: &ChatId,
        id: &TimelineItemId,
    ) -> Result<Option<TimelineItem>> {
        self.read(|c| {
            Ok(items_by_ids(c, chat, std::slice::from_ref(id))?
                .pop()
                .map(|(_, item)| item))
        })
    }

    /// The cursor just after a message (to page older than it), if the
    /// store has it in that chat.
    pub fn message_cursor(
        &self,
        chat: &ChatId,
        message: &crate::model::MessageId,
    ) -> Result<Option<TimelineCursor>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT m.at, m.rid FROM messages m JOIN chats c ON c.rid = m.chat_rid
                 WHERE m.id = ?1 AND c.id = ?2",
            )?
            .query_row([message.as_str(), chat.as_str()], |r| {
                Ok(TimelineCursor {
                    at: r.get(0)?,
                    kind: 0,
                    rid: r.get(1)?,
                })
            })
            .optional()?)
        })
    }

    /// B1: up to `limit` messages (no notes) older than `before` (the
    /// newest when `None`), oldest first, and whether older ones exist.
    pub fn messages_before(
        &self,
        chat: &ChatId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> Result<(Vec<Message>, bool)> {
        self.read(|c| {
            let rid = chat_rid(c, chat)?.ok_or(StoreError::UnknownChat)?;
            // A note cursor: every message at its time is older.
            let b = before.map_or((i64::MAX, i64::MAX), |k| {
                (k.at, if k.kind == 0 { k.rid } else { i64::MAX })
            });
            let sql = format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE chat_rid = ?1
                   AND (at < ?2 OR (at = ?2 AND rid < ?3))
                 ORDER BY at DESC, rid DESC LIMIT ?4"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let fetch = i64::from(limit).saturating_add(1);
            let mut rows = stmt.query(rusqlite::params![rid, b.0, b.1, fetch])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(codec::message_from_row(row, chat)?);
            }
            let more = out.len() > limit as usize;
            out.truncate(limit as usize);
            out.reverse();
            Ok((out, more))
        })
    }

    /// B10: the chat's unread subscriber messages.
    pub fn unread_count(&self, chat: &ChatId) -> Result<u32> {
        self.chat(chat)?
            .map(|s| s.chat.unread_count)
            .ok_or(StoreError::UnknownChat)
    }
}

pub(crate) fn chat_rid(conn: &Connection, chat: &ChatId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT rid FROM chats WHERE id = ?1")?
        .query_row([chat.as_str()], |r| r.get(0))
        .optional()?)
}

/// Up to `limit` items strictly older than `before`, newest first.
pub(crate) fn page(
    conn: &Connection,
    chat_rid: i64,
    chat: &ChatId,
    before: Option<TimelineKey>,
    limit: u32,
) -> Result<Vec<(TimelineKey, TimelineItem)>> {
    let b = before.unwrap_or(TimelineKey {
        at: i64::MAX,
        kind: u8::MAX,
        rid: i64::MAX,
    });
    // A message (kind 0) at the cursor's time is older than a note cursor
    // (kind 1) at that time whatever its row; the reverse for notes.
    let (msg_rid_bound, note_rid_bound) = match b.kind {
        0 => (b.rid, i64::MIN),
        _ => (i64::MAX, b.rid),
    };
    let msg_sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE chat_rid = ?1
           AND (at < ?2 OR (at = ?2 AND rid < ?3))
         ORDER BY at DESC, rid DESC LIMIT ?4"
    );
    let mut out: Vec<(TimelineKey, TimelineItem)> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&msg_sql)?;
        let mut rows = stmt.query(rusqlite::params![chat_rid, b.at, msg_rid_bound, limit])?;
        while let Some(row) = rows.next()? {
            out.push(message_item(row, chat)?);
        }
    }
    let note_sql = format!(
        "SELECT {NOTE_COLS} FROM notes WHERE chat_rid = ?1
           AND (created_at < ?2 OR (created_at = ?2 AND rid < ?3))
         ORDER BY created_at DESC, rid DESC LIMIT ?4"
    );
    {
        let mut stmt = conn.prepare_cached(&note_sql)?;
        let mut rows = stmt.query(rusqlite::params![chat_rid, b.at, note_rid_bound, limit])?;
        while let Some(row) = rows.next()? {
            out.push(note_item(row, chat)?);
        }
    }
    out.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
    out.truncate(limit as usize);
    Ok(out)
}

/// The current key and value of timeline items by id; absent ones are
/// skipped (deleted notes).
pub(crate) fn items_by_ids(
    conn: &Connection,
    chat: &ChatId,
    ids: &[TimelineItemId],
) -> Result<Vec<(TimelineKey, TimelineItem)>> {
    // Only items of this chat: an id of another chat's item is absent here.
    let msg_sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages
         WHERE id = ?1 AND chat_rid = (SELECT rid FROM chats WHERE id = ?2)"
    );
    let note_sql = format!(
        "SELECT {NOTE_COLS} FROM notes
         WHERE id = ?1 AND chat_rid = (SELECT rid FROM chats WHERE id = ?2)"
    );
    let mut out = Vec::new();
    for id in ids {
        match id {
            TimelineItemId::Message(mid) => {
                let mut stmt = conn.prepare_cached(&msg_sql)?;
                let mut rows = stmt.query([mid.as_str(), chat.as_str()])?;
                if let Some(row) = rows.next()? {
                    out.push(message_item(row, chat)?);
                }
            }
            TimelineItemId::Note(nid) => {
                let mut stmt = conn.prepare_cached(&note_sql)?;
                let mut rows = stmt.query([nid.as_str(), chat.as_str()])?;
                if let Some(row) = rows.next()? {
                    out.push(note_item(row, chat)?);
                }
            }
        }
    }
    Ok(out)
}

fn message_item(row: &rusqlite::Row<'_>, chat: &ChatId) -> Result<(TimelineKey, TimelineItem)> {
    let m = codec::message_from_row(row, chat)?;
    let key = TimelineKey {
        at: m.sent_at.0,
        kind: 0,
        rid: row.get(0)?,
    };
    Ok((key, TimelineItem::Message(m)))
}

fn note_item(row: &rusqlite::Row<'_>, chat: &ChatId) -> Result<(TimelineKey, TimelineItem)> {
    let n = codec::note_from_row(row, chat)?;
    let key = TimelineKey {
        at: n.created_at.0,
        kind: 1,
        rid: row.get(0)?,
    };
    Ok((key, TimelineItem::Note(n)))
}

/// A chat's messages sent at or after `since_ms`, oldest first (S4).
pub(crate) fn since(conn: &Connection, chat: &ChatId, since_ms: i64) -> Result<Vec<TimelineItem>> {
    let Some(rid) = chat_rid(conn, chat)? else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE chat_rid = ?1 AND at >= ?2 ORDER BY at, rid"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params![rid, since_ms])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(message_item(row, chat)?.1);
    }
    Ok(out)
}

/// Every note of a chat, oldest first.
pub(crate) fn notes(conn: &Connection, chat_rid: i64, chat: &ChatId) -> Result<Vec<Note>> {
    let sql = format!("SELECT {NOTE_COLS} FROM notes WHERE chat_rid = ?1 ORDER BY created_at, rid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([chat_rid])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(codec::note_from_row(row, chat)?);
    }
    Ok(out)
}
