//! Rows to model values and back. Every decoding failure names the table,
//! row and column, and becomes [`StoreError::Decode`]: never a panic, never a
//! row silently skipped.

use super::{ChatKey, StoreError};
use crate::model::{
    App, BotId, Chat, ChatId, ChatKind, ChatState, ChatSummary, Content, Delivery, MemberId,
    Message, MessageId, Note, NoteId, Preview, Sender, SubscriberId, Timestamp,
};
use rusqlite::Row;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn decode_err(
    table: &'static str,
    rowid: i64,
    column: &'static str,
    reason: impl ToString,
) -> StoreError {
    StoreError::Decode {
        table,
        rowid,
        column,
        reason: reason.to_string(),
    }
}

pub(crate) fn json<T: DeserializeOwned>(
    table: &'static str,
    rowid: i64,
    column: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    // The reason names the kind of error and where, never the JSON itself:
    // serde's messages can quote values, and values may be message text.
    serde_json::from_str(text).map_err(|e| {
        let reason = format!(
            "{:?} JSON error at {}:{}",
            e.classify(),
            e.line(),
            e.column()
        );
        decode_err(table, rowid, column, reason)
    })
}

/// A nullable JSON column.
pub(crate) fn opt_json<T: DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
    table: &'static str,
    rowid: i64,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    match text(row, idx, table, rowid, column)? {
        Some(t) => Ok(Some(json(table, rowid, column, t)?)),
        None => Ok(None),
    }
}

/// A non-null JSON column.
pub(crate) fn req_json<T: DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
    table: &'static str,
    rowid: i64,
    column: &'static str,
) -> Result<T, StoreError> {
    opt_json(row, idx, table, rowid, column)?
        .ok_or_else(|| decode_err(table, rowid, column, "unexpected NULL"))
}

/// A nullable text column; a value of another type is a decode error.
fn text<'r>(
    row: &'r Row<'_>,
    idx: usize,
    table: &'static str,
    rowid: i64,
    column: &'static str,
) -> Result<Option<&'r str>, StoreError> {
    row.get_ref(idx)?
        .as_str_or_null()
        .map_err(|e| decode_err(table, rowid, column, e))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising our own plain data types to a String cannot fail: no maps
    // with non-string keys, no custom Serialize impls that error.
    serde_json::to_string(value).unwrap_or_default()
}

/// The columns [`chat_from_row`] reads, in order.
pub(crate) const CHAT_COLS: &str = "rid, id, bot_id, subscriber_id, app, kind, state, assignee, \
     title, avatar_url, last_activity, unread, last_inbound_at, paused_until, preview_rid, \
     preview_at";

/// The message a chat's list preview shows (schema step 5): its local key
/// and its time, which `apply` compares a new message's with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PreviewRef {
    pub rid: i64,
    pub at: Timestamp,
}

/// A chat row with its key and preview: the reference from the row, the
/// preview itself once [`fill_previews`] read its message.
pub(crate) struct ChatRow {
    pub key: ChatKey,
    pub chat: Chat,
    pub preview_ref: Option<PreviewRef>,
    pub preview: Option<Preview>,
}

impl ChatRow {
    pub fn into_summary(self) -> ChatSummary {
        ChatSummary {
            status: self.chat.status(),
            chat: self.chat,
            preview: self.preview,
        }
    }
}

pub(crate) fn chat_from_row(row: &Row<'_>) -> Result<ChatRow, StoreError> {
    const T: &str = "chats";
    let rid: i64 = row.get(0)?;
    let app_code: i64 = row.get(4)?;
    let app = App::from_code(app_code)
        .ok_or_else(|| decode_err(T, rid, "app", format!("unknown app code {app_code}")))?;
    let kind_code: i64 = row.get(5)?;
    let kind = ChatKind::from_code(kind_code)
        .ok_or_else(|| decode_err(T, rid, "kind", format!("unknown kind code {kind_code}")))?;
    let state = match row.get::<_, i64>(6)? {
        0 => ChatState::Open,
        1 => ChatState::Closed,
        other => {
            return Err(decode_err(
                T,
                rid,
                "state",
                format!("unknown state {other}"),
            ));
        }
    };
    let unread: i64 = row.get(11)?;
    let unread_count =
        u32::try_from(unread).map_err(|_| decode_err(T, rid, "unread", "out of range"))?;
    let last_activity = Timestamp(row.get(10)?);
    let preview_ref = match (
        row.get::<_, Option<i64>>(14)?,
        row.get::<_, Option<i64>>(15)?,
    ) {
        (Some(rid), Some(at)) => Some(PreviewRef {
            rid,
            at: Timestamp(at),
        }),
        _ => None,
    };
    Ok(ChatRow {
        key: ChatKey {
            last_activity: last_activity.0,
            rid,
        },
        chat: Chat {
            id: ChatId(row.get(1)?),
            bot_id: BotId(row.get(2)?),
            subscriber_id: SubscriberId(row.get(3)?),
            app,
            kind,
            state,
            assignee: row.get::<_, Option<String>>(7)?.map(MemberId),
            title: row.get(8)?,
            avatar_url: row.get(9)?,
            last_activity,
            unread_count,
            last_inbound_at: row.get::<_, Option<i64>>(12)?.map(Timestamp),
            paused_until: row.get::<_, Option<i64>>(13)?.map(Timestamp),
        },
        preview_ref,
        preview: None,
    })
}

/// Reads the preview of each row from the message it refers to: one
/// lookup by key per row, for the rows a read returns (after its LIMIT).
/// A message no longer stored (an echo discarded in this very write) shows
/// no preview.
pub(crate) fn fill_previews(
    conn: &rusqlite::Connection,
    rows: &mut [ChatRow],
) -> Result<(), StoreError> {
    let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE rid = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    for r in rows.iter_mut() {
        let Some(p) = r.preview_ref else { continue };
        let mut q = stmt.query([p.rid])?;
        r.preview = match q.next()? {
            Some(m) => Some(preview_of(&message_from_row(m, &r.chat.id)?)),
            None => None,
        };
    }
    Ok(())
}

/// The columns [`message_from_row`] reads, in order (the chat id comes from
/// a join or is passed in).
pub(crate) const MESSAGE_COLS: &str = "rid, id, at, sender, sender_member, content, delivery, quote, reactions, edited_at, \
     deleted_at, ad";

pub(crate) fn message_from_row(row: &Row<'_>, chat_id: &ChatId) -> Result<Message, StoreError> {
    const T: &str = "messages";
    let rid: i64 = row.get(0)?;
    let sender = match (row.get::<_, i64>(3)?, row.get::<_, Option<String>>(4)?) {
        (0, _) => Sender::Subscriber,
        (1, _) => Sender::Bot,
        (2, _) => Sender::ThirdPartyApp,
        (3, Some(m)) => Sender::Member(MemberId(m)),
        (code, _) => return Err(decode_err(T, rid, "sender", format!("bad sender {code}"))),
    };
    let delivery = match row.get::<_, Option<i64>>(6)? {
        None => None,
        Some(code) => Some(
            Delivery::from_code(code)
                .ok_or_else(|| decode_err(T, rid, "delivery", format!("unknown code {code}")))?,
        ),
    };
    let content: Content = req_json(row, 5, T, rid, "content")?;
    Ok(Message {
        id: MessageId(row.get(1)?),
        chat_id: chat_id.clone(),
        sent_at: Timestamp(row.get(2)?),
        sender,
        content,
        delivery,
        quote: opt_json(row, 7, T, rid, "quote")?,
        reactions: opt_json(row, 8, T, rid, "reactions")?.unwrap_or_default(),
        edited_at: row.get::<_, Option<i64>>(9)?.map(Timestamp),
        deleted_at: row.get::<_, Option<i64>>(10)?.map(Timestamp),
        in_reply_to_ad: opt_json(row, 11, T, rid, "ad")?,
    })
}

pub(crate) const NOTE_COLS: &str = "rid, id, author, text, created_at, edited_at";

pub(crate) fn note_from_row(row: &Row<'_>, chat_id: &ChatId) -> Result<Note, StoreError> {
    Ok(Note {
        id: NoteId(row.get(1)?),
        chat_id: chat_id.clone(),
        author: MemberId(row.get(2)?),
        text: row.get(3)?,
        created_at: Timestamp(row.get(4)?),
        edited_at: row.get::<_, Option<i64>>(5)?.map(Timestamp),
    })
}

/// `messages.sender` and `messages.sender_member` of a sender.
pub(crate) fn sender_columns(s: &Sender) -> (i64, Option<&str>) {
    match s {
        Sender::Subscriber => (0, None),
        Sender::Bot => (1, None),
        Sender::ThirdPartyApp => (2, None),
        Sender::Member(m) => (3, Some(m.as_str())),
    }
}

/// The list-row preview of a message.
pub(crate) fn preview_of(m: &Message) -> Preview {
    let text: String = m
        .content
        .summary()
        .chars()
        .take(Preview::MAX_CHARS)
        .collect();
    Preview {
        message_id: m.id.clone(),
        direction: m.direction(),
        kind: m.content.kind(),
        text,
        at: m.sent_at,
    }
}
