//! Messages (B1-B8, E7): new and replaced messages, with what they do to
//! their chat (activity, unread, preview) and the counters; delivery ticks,
//! edits, deletions and reactions in place.

use super::Batch;
use crate::model::{ChatId, Content, Delivery, Direction, Event, Message, MessageId, Reaction};
use crate::store::codec::{self, PreviewRef, to_json};
use crate::store::{Changes, Result, StoreError, TimelineItemId};
use rusqlite::{OptionalExtension, params};

impl Batch<'_> {
    /// Inserts or replaces a message. `live`: it arrived on the change feed
    /// as new activity, so a new subscriber message counts as unread.
    pub(super) fn upsert_message(
        &mut self,
        m: &Message,
        live: bool,
        changes: &mut Changes,
    ) -> Result<()> {
        let rid = self.rid(&m.chat_id)?;
        let reactions = (!m.reactions.is_empty()).then(|| to_json(&m.reactions));
        let sender = codec::sender_columns(&m.sender);
        let content = to_json(&m.content);
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO messages (id, chat_rid, at, sender, sender_member, content,
                     delivery, quote, reactions, edited_at, deleted_at, ad)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                m.id.as_str(),
                rid,
                m.sent_at.0,
                sender.0,
                sender.1,
                content,
                m.delivery.map(Delivery::code),
                m.quote.as_ref().map(to_json),
                reactions,
                m.edited_at.map(|t| t.0),
                m.deleted_at.map(|t| t.0),
                m.in_reply_to_ad.as_ref().map(to_json),
            ])?
            == 1;
        // E7: the server's copy of a local echo (same id) replaces it, and
        // counts as the new message the echo did not count.
        let echo = m.delivery == Some(Delivery::Pending);
        let mut was_echo = false;
        let mut echo_at = None;
        let mut message_rid = self.conn.last_insert_rowid();
        // Whether what a list preview shows of the message (its sender,
        // content and time) changed: a new message, or a stored one
        // replaced by a different one.
        let mut shows_differently = true;
        if !inserted {
            type Stored = (i64, Option<i64>, i64, i64, Option<String>, String);
            let (found, stored, at, old_sender, old_member, old_content): Stored = self
                .conn
                .prepare_cached(
                    "SELECT rid, delivery, at, sender, sender_member, content
                     FROM messages WHERE id = ?1",
                )?
                .query_row([m.id.as_str()], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
            message_rid = found;
            shows_differently = at != m.sent_at.0
                || old_sender != sender.0
                || old_member.as_deref() != sender.1
                || old_content != content;
            was_echo = stored == Some(i64::from(Delivery::Pending.code()));
            echo_at = was_echo.then_some(crate::model::Timestamp(at));
            if echo && !was_echo {
                // A late local echo never hides the server's copy.
                return Ok(());
            }
            self.conn
                .prepare_cached(
                    "UPDATE messages SET at = ?2, sender = ?3, sender_member = ?4, content = ?5,
                         delivery = ?6, quote = ?7, reactions = ?8, edited_at = ?9,
                         deleted_at = ?10, ad = ?11
                     WHERE id = ?1",
                )?
                .execute(params![
                    m.id.as_str(),
                    m.sent_at.0,
                    sender.0,
                    sender.1,
                    content,
                    m.delivery.map(Delivery::code),
                    m.quote.as_ref().map(to_json),
                    reactions,
                    m.edited_at.map(|t| t.0),
                    m.deleted_at.map(|t| t.0),
                    m.in_reply_to_ad.as_ref().map(to_json),
                ])?;
        }
        changes.timeline(&m.chat_id, TimelineItemId::Message(m.id.clone()));
        let l = self
            .chats
            .get_mut(&m.chat_id)
            .ok_or(StoreError::UnknownChat)?;
        let inbound = m.direction() == Direction::Inbound;
        let counts = live && !echo && (inserted || was_echo) && self.count;
        if counts {
            self.counters.new_message(&l.chat, m, inbound);
        }
        if live && (inserted || was_echo) {
            if l.chat.last_activity < m.sent_at {
                l.chat.last_activity = m.sent_at;
            } else if let Some(at) =
                echo_at.filter(|at| *at == l.chat.last_activity && m.sent_at < *at)
            {
                // S2/E7: the echo's device time made the chat's activity;
                // the server's time for the message takes its place (or a
                // later message's), as the server's store has it.
                let later: Option<i64> = self
                    .conn
                    .prepare_cached(
                        "SELECT max(at) FROM messages WHERE chat_rid = ?1 AND id <> ?2 AND at <= ?3",
                    )?
                    .query_row(params![rid, m.id.as_str(), at.0], |r| r.get(0))?;
                l.chat.last_activity =
                    crate::model::Timestamp(later.map_or(m.sent_at.0, |t| t.max(m.sent_at.0)));
            }
            if inbound {
                l.chat.unread_count = l.chat.unread_count.saturating_add(1);
            }
        }
        if inbound && l.chat.last_inbound_at.is_none_or(|t| t < m.sent_at) {
            l.chat.last_inbound_at = Some(m.sent_at);
        }
        let newest = l
            .preview
            .is_none_or(|p| p.rid == message_rid || p.at <= m.sent_at);
        let shown = l.preview.is_some_and(|p| p.rid == message_rid);
        if newest && m.deleted_at.is_none() {
            l.preview = Some(PreviewRef {
                rid: message_rid,
                at: m.sent_at,
            });
            if shown && !inserted && shows_differently {
                // The row shows this message, which just changed (an edit,
                // the server's copy of an echo): the reference stays the
                // same, the row's preview does not.
                changes.chats.insert(m.chat_id.clone());
            }
        } else if shown && m.deleted_at.is_some() {
            // The list must not keep showing a deleted message.
            self.recompute_preview(&m.chat_id)?;
        }
        Ok(())
    }

    /// B5: ticks only move forward (sent -> delivered -> read); a failure
    /// always shows.
    pub(super) fn message_delivery(
        &mut self,
        ev: &Event,
        message_id: &MessageId,
        delivery: Delivery,
        changes: &mut Changes,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE messages SET delivery = ?2 WHERE id = ?1
                 AND (delivery IS NULL OR delivery < ?2 OR ?2 = ?3)",
            )?
            .execute(params![
                message_id.as_str(),
                delivery.code(),
                Delivery::Failed.code()
            ])?;
        self.touched_message(ev, message_id, changes)
    }

    /// B8: the words change; what the message is stays.
    pub(super) fn edit_message(
        &mut self,
        ev: &Event,
        chat_id: &ChatId,
        message_id: &MessageId,
        text: &str,
        changes: &mut Changes,
    ) -> Result<()> {
        if let Some(mut m) = self.message(chat_id, message_id)? {
            match &mut m.content {
                Content::Text { text: t } | Content::Template { text: t, .. } => {
                    text.clone_into(t);
                }
                Content::ButtonPress { label } => text.clone_into(label),
                Content::Attachment(a) => a.caption = Some(text.to_owned()),
                Content::AdClick { text: t, .. } => *t = Some(text.to_owned()),
                Content::StoryMention { .. } => {}
            }
            m.edited_at = Some(ev.at);
            self.upsert_message(&m, false, changes)?;
        }
        Ok(())
    }

    /// B8: the history keeps a tombstone; the preview moves off it.
    pub(super) fn delete_message(
        &mut self,
        ev: &Event,
        chat_id: &ChatId,
        message_id: &MessageId,
        changes: &mut Changes,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE messages SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            )?
            .execute(params![message_id.as_str(), ev.at.0])?;
        self.touched_message(ev, message_id, changes)?;
        let rid: Option<i64> = self
            .conn
            .prepare_cached("SELECT rid FROM messages WHERE id = ?1")?
            .query_row([message_id.as_str()], |r| r.get(0))
            .optional()?;
        let needs_new_preview = self
            .chat(chat_id)?
            .is_some_and(|l| l.preview.is_some_and(|p| Some(p.rid) == rid));
        if needs_new_preview {
            self.recompute_preview(chat_id)?;
        }
        Ok(())
    }

    /// B7: the message's reactions, whole.
    pub(super) fn set_reactions(
        &mut self,
        ev: &Event,
        message_id: &MessageId,
        reactions: &[Reaction],
        changes: &mut Changes,
    ) -> Result<()> {
        let json = (!reactions.is_empty()).then(|| to_json(&reactions));
        self.conn
            .prepare_cached("UPDATE messages SET reactions = ?2 WHERE id = ?1")?
            .execute(params![message_id.as_str(), json])?;
        self.touched_message(ev, message_id, changes)
    }

    fn message(&mut self, chat_id: &ChatId, id: &MessageId) -> Result<Option<Message>> {
        let sql = format!("SELECT {} FROM messages WHERE id = ?1", codec::MESSAGE_COLS);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([id.as_str()])?;
        match rows.next()? {
            Some(row) => Ok(Some(codec::message_from_row(row, chat_id)?)),
            None => Ok(None),
        }
    }

    /// Records that a message changed in place, if the store has it.
    fn touched_message(
        &mut self,
        ev: &Event,
        message_id: &MessageId,
        changes: &mut Changes,
    ) -> Result<()> {
        if self.conn.changes() > 0
            && let Some(chat_id) = ev.payload.chat_id()
        {
            changes.timeline(chat_id, TimelineItemId::Message(message_id.clone()));
        }
        Ok(())
    }
}
