//! Writing server events into the store (the inbound flow).
//!
//! A batch is one transaction. Chats touched by the batch are loaded once,
//! changed in memory event by event, and written back once at the end, so a
//! burst of messages in one chat costs one chat update. Events are applied in
//! seq order; an event whose seq is not above the store's last seq is a
//! duplicate and changes nothing.

use super::codec::{self, ChatRow, preview_of, to_json};
use super::filter::{assignee_class, bucket_of};
use super::{Changes, Result, StoreError, TimelineItemId, fold, meta_get, meta_set};
use crate::model::App;
use crate::model::{
    BotStats, Chat, ChatId, ChatState, Content, Delivery, Direction, Event, EventPayload, MemberId,
    Message, MessageId, Preview, Seq, Snapshot, Timestamp,
};
use crate::policy::{viber, window};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// A chat loaded for this batch: changed in memory, compared with what is
/// stored when the batch ends, written only if it differs.
struct Loaded {
    rid: i64,
    chat: Chat,
    preview: Option<Preview>,
    stored: Chat,
    stored_preview: Option<Preview>,
}

impl Loaded {
    fn new(rid: i64, chat: Chat, preview: Option<Preview>) -> Loaded {
        Loaded {
            rid,
            stored: chat.clone(),
            stored_preview: preview.clone(),
            chat,
            preview,
        }
    }
}

struct Batch<'c> {
    conn: &'c Connection,
    me: Option<&'c MemberId>,
    chats: HashMap<ChatId, Loaded>,
    /// Change of `chat_counts` per bucket, written once at the end.
    counts: HashMap<i64, i64>,
    /// I1: new messages per bot (sent, received), written once at the end.
    stats: HashMap<String, (i64, i64)>,
    /// E6: new bot-initiated Viber messages per (bot, month).
    viber: HashMap<(String, u32), i64>,
}

impl<'c> Batch<'c> {
    fn new(conn: &'c Connection, me: Option<&'c MemberId>) -> Self {
        Batch {
            conn,
            me,
            chats: HashMap::new(),
            counts: HashMap::new(),
            stats: HashMap::new(),
            viber: HashMap::new(),
        }
    }
}

pub(super) fn apply_events(
    conn: &Connection,
    me: Option<&MemberId>,
    events: &[Event],
    changes: &mut Changes,
) -> Result<()> {
    let last = meta_get(conn, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by_key(|e| e.seq);
    let mut batch = Batch::new(conn, me);
    let mut high = last;
    for ev in order {
        if ev.seq <= high {
            changes.duplicates += 1;
            continue;
        }
        batch.apply(ev, changes)?;
        high = ev.seq;
        changes.applied += 1;
    }
    batch.flush(changes)?;
    if high > last {
        meta_set(conn, "last_seq", &high.0.to_string())?;
        changes.last_seq = Some(high);
    }
    Ok(())
}

/// Applies a snapshot taken at `snapshot.seq`: every record as the server
/// has it now; its messages never count as unread.
pub(super) fn apply_snapshot(
    conn: &Connection,
    me: Option<&MemberId>,
    snapshot: &Snapshot,
    changes: &mut Changes,
) -> Result<()> {
    let mut batch = Batch::new(conn, me);
    let wrap = |payload| Event {
        seq: snapshot.seq,
        at: Timestamp(0),
        payload,
    };
    let records = (snapshot.bots.iter().cloned().map(EventPayload::BotUpserted))
        .chain(
            snapshot
                .members
                .iter()
                .cloned()
                .map(EventPayload::MemberUpserted),
        )
        .chain(
            snapshot
                .subscribers
                .iter()
                .cloned()
                .map(EventPayload::SubscriberUpserted),
        )
        .chain(
            snapshot
                .chats
                .iter()
                .cloned()
                .map(EventPayload::ChatUpserted),
        );
    for payload in records {
        batch.apply(&wrap(payload), changes)?;
    }
    for m in &snapshot.messages {
        if batch.load(&m.chat_id)? {
            batch.upsert_message(m, false, changes)?;
        } else {
            // A message of a chat the snapshot lacks: kept, not a reason to
            // refuse the whole snapshot.
            let ev = wrap(EventPayload::MessageUpserted(m.clone()));
            batch.keep(&ev, Some(&m.chat_id), "orphan", changes)?;
        }
    }
    let rest = (snapshot
        .notes
        .iter()
        .cloned()
        .map(EventPayload::NoteUpserted))
    .chain(
        snapshot
            .deals
            .iter()
            .cloned()
            .map(EventPayload::DealUpserted),
    );
    for payload in rest {
        batch.apply(&wrap(payload), changes)?;
    }
    batch.flush(changes)?;
    set_stats(conn, &snapshot.stats, changes)?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO viber_usage (bot_id, month, used) VALUES (?1, ?2, ?3)
         ON CONFLICT (bot_id, month) DO UPDATE SET used = excluded.used",
    )?;
    for u in &snapshot.viber_usage {
        stmt.execute(params![u.bot_id.as_str(), u.month, u.used])?;
    }
    let last = meta_get(conn, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    if snapshot.seq > last {
        meta_set(conn, "last_seq", &snapshot.seq.0.to_string())?;
        changes.last_seq = Some(snapshot.seq);
    }
    changes.applied += 1;
    Ok(())
}

pub(super) fn keep_malformed(
    conn: &Connection,
    malformed: &[(Option<Seq>, String, String)],
    changes: &mut Changes,
) -> Result<()> {
    if malformed.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kept_events (seq, type, chat_id, reason, detail, event)
         SELECT ?1, 'malformed', NULL, 'malformed', ?3, ?2
         WHERE ?1 IS NULL OR NOT EXISTS
             (SELECT 1 FROM kept_events WHERE seq = ?1 AND reason = 'malformed')",
    )?;
    for (seq, raw, reason) in malformed {
        tracing::debug!(?seq, reason = %reason, "malformed event kept");
        let seq = seq.map(|s| i64::try_from(s.0).unwrap_or(i64::MAX));
        changes.kept += stmt.execute(params![seq, raw, reason])? as u32;
    }
    let last = meta_get(conn, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    if let Some(high) = malformed.iter().filter_map(|(s, _, _)| *s).max()
        && high > last
    {
        meta_set(conn, "last_seq", &high.0.to_string())?;
        changes.last_seq = Some(high);
    }
    Ok(())
}

pub(super) fn store_history(
    conn: &Connection,
    me: Option<&MemberId>,
    chat_id: &ChatId,
    messages: &[Message],
    changes: &mut Changes,
) -> Result<()> {
    let mut batch = Batch::new(conn, me);
    if !batch.load(chat_id)? {
        return Err(StoreError::UnknownChat);
    }
    for m in messages {
        batch.upsert_message(m, false, changes)?;
    }
    batch.flush(changes)
}

impl Batch<'_> {
    /// Loads a chat into the batch; false if the store has no such chat.
    fn load(&mut self, id: &ChatId) -> Result<bool> {
        if self.chats.contains_key(id) {
            return Ok(true);
        }
        let sql = format!("SELECT {} FROM chats WHERE id = ?1", codec::CHAT_COLS);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([id.as_str()])?;
        let Some(row) = rows.next()? else {
            return Ok(false);
        };
        let ChatRow { key, chat, preview } = codec::chat_from_row(row)?;
        self.chats
            .insert(id.clone(), Loaded::new(key.rid, chat, preview));
        Ok(true)
    }

    /// The loaded chat an event is about; `None` if the store lacks it.
    fn chat(&mut self, id: &ChatId) -> Result<Option<&mut Loaded>> {
        Ok(if self.load(id)? {
            self.chats.get_mut(id)
        } else {
            None
        })
    }

    fn apply(&mut self, ev: &Event, changes: &mut Changes) -> Result<()> {
        // Events about a chat the store has not seen are kept, not dropped,
        // and replayed when the chat arrives.
        if let Some(chat_id) = ev.payload.chat_id()
            && !matches!(ev.payload, EventPayload::ChatUpserted(_))
            && !self.load(chat_id)?
        {
            return self.keep(ev, Some(chat_id), "orphan", changes);
        }
        match &ev.payload {
            EventPayload::BotUpserted(b) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO bots (id, app, name, created_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (id) DO UPDATE SET app = excluded.app,
                             name = excluded.name, created_at = excluded.created_at",
                    )?
                    .execute(params![b.id.as_str(), b.app.code(), b.name, b.created_at.0])?;
                changes.bots.insert(b.id.clone());
            }
            EventPayload::MemberUpserted(m) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO members (id, name, avatar_url, role, conversations_access)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                             avatar_url = excluded.avatar_url, role = excluded.role,
                             conversations_access = excluded.conversations_access",
                    )?
                    .execute(params![
                        m.id.as_str(),
                        m.name,
                        m.avatar_url,
                        m.role,
                        m.conversations_access
                    ])?;
                changes.members.insert(m.id.clone());
            }
            EventPayload::SubscriberUpserted(s) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO subscribers (id, bot_id, card) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET bot_id = excluded.bot_id,
                             card = excluded.card",
                    )?
                    .execute(params![s.id.as_str(), s.bot_id.as_str(), to_json(s)])?;
                changes.subscribers.insert(s.id.clone());
                // The chat rows show the subscriber's name and avatar.
                let ids: Vec<String> = self
                    .conn
                    .prepare_cached("SELECT id FROM chats WHERE subscriber_id = ?1")?
                    .query_map([s.id.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for id in ids {
                    if let Some(l) = self.chat(&ChatId(id))?
                        && (l.chat.title != s.name || l.chat.avatar_url != s.avatar_url)
                    {
                        l.chat.title = s.name.clone();
                        l.chat.avatar_url = s.avatar_url.clone();
                    }
                }
            }
            EventPayload::ChatUpserted(c) => self.upsert_chat(c, changes)?,
            EventPayload::MessageUpserted(m) => self.upsert_message(m, true, changes)?,
            EventPayload::MessageDelivery {
                message_id,
                delivery,
                ..
            } => {
                // Ticks only move forward (sent -> delivered -> read); a
                // failure always shows.
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
                self.touched_message(ev, message_id, changes)?;
            }
            EventPayload::MessageEdited {
                chat_id,
                message_id,
                text,
            } => {
                if let Some(mut m) = self.message(chat_id, message_id)? {
                    // The words change; what the message is stays.
                    match &mut m.content {
                        Content::Text { text: t } | Content::Template { text: t, .. } => {
                            t.clone_from(text);
                        }
                        Content::ButtonPress { label } => label.clone_from(text),
                        Content::Attachment(a) => a.caption = Some(text.clone()),
                        Content::AdClick { text: t, .. } => *t = Some(text.clone()),
                        Content::StoryMention { .. } => {}
                    }
                    m.edited_at = Some(ev.at);
                    self.upsert_message(&m, false, changes)?;
                }
            }
            EventPayload::MessageDeleted {
                chat_id,
                message_id,
            } => {
                self.conn
                    .prepare_cached(
                        "UPDATE messages SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                    )?
                    .execute(params![message_id.as_str(), ev.at.0])?;
                self.touched_message(ev, message_id, changes)?;
                let needs_new_preview = self.chat(chat_id)?.is_some_and(|l| {
                    l.preview
                        .as_ref()
                        .is_some_and(|p| &p.message_id == message_id)
                });
                if needs_new_preview {
                    self.recompute_preview(chat_id)?;
                }
            }
            EventPayload::ReactionsChanged {
                message_id,
                reactions,
                ..
            } => {
                let json = (!reactions.is_empty()).then(|| to_json(reactions));
                self.conn
                    .prepare_cached("UPDATE messages SET reactions = ?2 WHERE id = ?1")?
                    .execute(params![message_id.as_str(), json])?;
                self.touched_message(ev, message_id, changes)?;
            }
            EventPayload::ChatStateChanged { chat_id, state } => {
                self.edit_chat(chat_id, |c| c.state = *state)?;
            }
            EventPayload::ChatAssigned { chat_id, assignee } => {
                self.edit_chat(chat_id, |c| c.assignee.clone_from(assignee))?;
            }
            EventPayload::ChatRead { chat_id } => {
                self.edit_chat(chat_id, |c| c.unread_count = 0)?;
                // H2: the chat's notification starts counting afresh.
                self.conn
                    .prepare_cached(
                        "UPDATE chat_push SET count = 0, last_alert_at = NULL WHERE chat_id = ?1",
                    )?
                    .execute([chat_id.as_str()])?;
            }
            EventPayload::PauseChanged { chat_id, until } => {
                self.edit_chat(chat_id, |c| c.paused_until = *until)?;
            }
            EventPayload::NoteUpserted(n) => {
                let rid = self.rid(&n.chat_id)?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO notes (id, chat_rid, author, text, created_at, edited_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (id) DO UPDATE SET author = excluded.author,
                             text = excluded.text, edited_at = excluded.edited_at",
                    )?
                    .execute(params![
                        n.id.as_str(),
                        rid,
                        n.author.as_str(),
                        n.text,
                        n.created_at.0,
                        n.edited_at.map(|t| t.0)
                    ])?;
                changes.timeline(&n.chat_id, TimelineItemId::Note(n.id.clone()));
            }
            EventPayload::NoteDeleted { chat_id, note_id } => {
                let n = self
                    .conn
                    .prepare_cached("DELETE FROM notes WHERE id = ?1")?
                    .execute([note_id.as_str()])?;
                if n > 0 {
                    changes.timeline(chat_id, TimelineItemId::Note(note_id.clone()));
                }
            }
            EventPayload::DealUpserted(d) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO deals (id, subscriber_id, deal) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET subscriber_id = excluded.subscriber_id,
                             deal = excluded.deal",
                    )?
                    .execute(params![d.id.as_str(), d.subscriber_id.as_str(), to_json(d)])?;
                changes.deals.insert(d.id.clone());
            }
            EventPayload::DealDeleted { deal_id } => {
                self.conn
                    .prepare_cached("DELETE FROM deals WHERE id = ?1")?
                    .execute([deal_id.as_str()])?;
                changes.deals.insert(deal_id.clone());
            }
            EventPayload::Unknown { .. } => {
                return self.keep(ev, None, "unknown", changes);
            }
        }
        Ok(())
    }

    /// Keeps an event the store cannot apply now.
    fn keep(
        &mut self,
        ev: &Event,
        chat_id: Option<&ChatId>,
        reason: &str,
        changes: &mut Changes,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO kept_events (seq, type, chat_id, reason, event)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                i64::try_from(ev.seq.0).unwrap_or(i64::MAX),
                ev.payload.type_name(),
                chat_id.map(ChatId::as_str),
                reason,
                ev.to_json()
            ])?;
        tracing::debug!(
            seq = ev.seq.0,
            kind = ev.payload.type_name(),
            reason,
            "event kept"
        );
        changes.kept += 1;
        Ok(())
    }

    fn rid(&mut self, chat_id: &ChatId) -> Result<i64> {
        self.chat(chat_id)?
            .map(|l| l.rid)
            .ok_or(StoreError::UnknownChat)
    }

    fn edit_chat(&mut self, id: &ChatId, f: impl FnOnce(&mut Chat)) -> Result<()> {
        if let Some(l) = self.chat(id)? {
            f(&mut l.chat);
        }
        Ok(())
    }

    fn upsert_chat(&mut self, c: &Chat, changes: &mut Changes) -> Result<()> {
        if let Some(l) = self.chat(&c.id)? {
            l.chat = c.clone();
            return Ok(());
        }
        let aclass = assignee_class(c.assignee.as_ref(), self.me);
        self.conn
            .prepare_cached(
                "INSERT INTO chats (id, bot_id, subscriber_id, app, kind, state, assignee,
                     aclass, title, avatar_url, last_activity, unread, last_inbound_at,
                     paused_until, preview, name_folded)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL, ?15)",
            )?
            .execute(params![
                c.id.as_str(),
                c.bot_id.as_str(),
                c.subscriber_id.as_str(),
                c.app.code(),
                c.kind.code(),
                state_code(c.state),
                c.assignee.as_ref().map(MemberId::as_str),
                aclass,
                c.title,
                c.avatar_url,
                c.last_activity.0,
                c.unread_count,
                c.last_inbound_at.map(|t| t.0),
                c.paused_until.map(|t| t.0),
                fold::folded_name(&c.title),
            ])?;
        let rid = self.conn.last_insert_rowid();
        write_words(self.conn, rid, &c.title)?;
        self.chats
            .insert(c.id.clone(), Loaded::new(rid, c.clone(), None));
        changes.chats.insert(c.id.clone());
        changes.counts = true;
        *self.counts.entry(bucket_of(c, self.me)).or_default() += 1;
        self.replay_kept(&c.id, changes)
    }

    /// Applies the events kept while this chat was unknown.
    /// Applies the events kept while this chat was unknown. They are all
    /// older than the chat record just stored, which already reflects them:
    /// chat-level changes (state, assignee, read, pause) are superseded, and
    /// messages go in as history (their unread count and activity are in
    /// the record). Message-level changes and notes still apply.
    fn replay_kept(&mut self, chat_id: &ChatId, changes: &mut Changes) -> Result<()> {
        let kept: Vec<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, event FROM kept_events WHERE chat_id = ?1 AND reason = 'orphan'
                 ORDER BY seq, id",
            )?
            .query_map([chat_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, json) in kept {
            let ev = Event::from_json(&json)
                .map_err(|e| codec::decode_err("kept_events", id, "event", e))?;
            self.conn
                .prepare_cached("DELETE FROM kept_events WHERE id = ?1")?
                .execute([id])?;
            changes.kept = changes.kept.saturating_sub(1);
            match &ev.payload {
                EventPayload::MessageUpserted(m) => self.upsert_message(m, false, changes)?,
                EventPayload::ChatStateChanged { .. }
                | EventPayload::ChatAssigned { .. }
                | EventPayload::ChatRead { .. }
                | EventPayload::PauseChanged { .. } => {}
                _ => self.apply(&ev, changes)?,
            }
        }
        Ok(())
    }

    /// Inserts or replaces a message. `live`: it arrived on the change feed
    /// as new activity, so a new subscriber message counts as unread.
    fn upsert_message(&mut self, m: &Message, live: bool, changes: &mut Changes) -> Result<()> {
        let rid = self.rid(&m.chat_id)?;
        let reactions = (!m.reactions.is_empty()).then(|| to_json(&m.reactions));
        let sender = codec::sender_columns(&m.sender);
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
                to_json(&m.content),
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
        if !inserted {
            let stored: Option<i64> = self
                .conn
                .prepare_cached("SELECT delivery FROM messages WHERE id = ?1")?
                .query_row([m.id.as_str()], |r| r.get(0))?;
            was_echo = stored == Some(i64::from(Delivery::Pending.code()));
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
                    to_json(&m.content),
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
        let counts = live && !echo && (inserted || was_echo);
        if counts {
            // E6: a Viber message outside the window the subscriber's last
            // message opened is bot-initiated.
            if !inbound
                && l.chat.app == App::Viber
                && !window::state(App::Viber, l.chat.last_inbound_at, m.sent_at).is_open()
            {
                let month = viber::month_key(m.sent_at);
                *self
                    .viber
                    .entry((l.chat.bot_id.0.clone(), month))
                    .or_default() += 1;
            }
            let s = self.stats.entry(l.chat.bot_id.0.clone()).or_default();
            if inbound {
                s.1 += 1;
            } else {
                s.0 += 1;
            }
        }
        if live && (inserted || was_echo) {
            if l.chat.last_activity < m.sent_at {
                l.chat.last_activity = m.sent_at;
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
            .as_ref()
            .is_none_or(|p| p.message_id == m.id || p.at <= m.sent_at);
        let shown = l.preview.as_ref().is_some_and(|p| p.message_id == m.id);
        if newest && m.deleted_at.is_none() {
            l.preview = Some(preview_of(m));
        } else if shown && m.deleted_at.is_some() {
            // The list must not keep showing a deleted message.
            self.recompute_preview(&m.chat_id)?;
        }
        Ok(())
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

    fn recompute_preview(&mut self, chat_id: &ChatId) -> Result<()> {
        let rid = self.rid(chat_id)?;
        let sql = format!(
            "SELECT {} FROM messages WHERE chat_rid = ?1 AND deleted_at IS NULL
             ORDER BY at DESC, rid DESC LIMIT 1",
            codec::MESSAGE_COLS
        );
        let latest = {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query([rid])?;
            match rows.next()? {
                Some(row) => Some(codec::message_from_row(row, chat_id)?),
                None => None,
            }
        };
        if let Some(l) = self.chats.get_mut(chat_id) {
            l.preview = latest.as_ref().map(preview_of);
        }
        Ok(())
    }

    /// Writes every chat that differs from what is stored, once.
    fn flush(&mut self, changes: &mut Changes) -> Result<()> {
        let changed = self
            .chats
            .iter_mut()
            .filter(|(_, l)| l.chat != l.stored || l.preview != l.stored_preview);
        for (id, l) in changed {
            let c = &l.chat;
            self.conn
                .prepare_cached(
                    "UPDATE chats SET bot_id = ?2, subscriber_id = ?3, app = ?4, kind = ?5,
                         state = ?6, assignee = ?7, aclass = ?8, title = ?9, avatar_url = ?10,
                         last_activity = ?11, unread = ?12, last_inbound_at = ?13,
                         paused_until = ?14, preview = ?15, name_folded = ?16
                     WHERE rid = ?1",
                )?
                .execute(params![
                    l.rid,
                    c.bot_id.as_str(),
                    c.subscriber_id.as_str(),
                    c.app.code(),
                    c.kind.code(),
                    state_code(c.state),
                    c.assignee.as_ref().map(MemberId::as_str),
                    assignee_class(c.assignee.as_ref(), self.me),
                    c.title,
                    c.avatar_url,
                    c.last_activity.0,
                    c.unread_count,
                    c.last_inbound_at.map(|t| t.0),
                    c.paused_until.map(|t| t.0),
                    l.preview.as_ref().map(to_json),
                    fold::folded_name(&c.title),
                ])?;
            if c.title != l.stored.title {
                self.conn
                    .prepare_cached("DELETE FROM chat_words WHERE rid = ?1")?
                    .execute([l.rid])?;
                write_words(self.conn, l.rid, &c.title)?;
            }
            let (old, new) = (bucket_of(&l.stored, self.me), bucket_of(c, self.me));
            if old != new {
                *self.counts.entry(old).or_default() -= 1;
                *self.counts.entry(new).or_default() += 1;
                changes.counts = true;
            }
            l.stored = c.clone();
            l.stored_preview = l.preview.clone();
            changes.chats.insert(id.clone());
        }
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO chat_counts (bucket, n) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET n = n + excluded.n",
        )?;
        for (bucket, delta) in self.counts.drain().filter(|(_, d)| *d != 0) {
            stmt.execute(params![bucket, delta])?;
        }
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO bot_stats (bot_id, sent, received) VALUES (?1, ?2, ?3)
             ON CONFLICT (bot_id) DO UPDATE SET sent = sent + excluded.sent,
                 received = received + excluded.received",
        )?;
        for (bot, (sent, received)) in self.stats.drain() {
            stmt.execute(params![bot, sent, received])?;
            changes.stats = true;
        }
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO viber_usage (bot_id, month, used) VALUES (?1, ?2, ?3)
             ON CONFLICT (bot_id, month) DO UPDATE SET used = used + excluded.used",
        )?;
        for ((bot, month), used) in self.viber.drain() {
            stmt.execute(params![bot, month, used])?;
        }
        Ok(())
    }
}

/// E7 + E3: an agent's reply queued in the outbox: its echo goes in as new
/// activity, and the bot's pause starts or extends at once (as the server
/// will do when the reply arrives), so the pause banner and its timer do
/// not wait for the network.
pub(crate) fn local_reply(
    conn: &Connection,
    me: Option<&MemberId>,
    echo: &Message,
    changes: &mut Changes,
) -> Result<()> {
    let mut batch = Batch::new(conn, me);
    batch.upsert_message(echo, true, changes)?;
    batch.edit_chat(&echo.chat_id, |c| {
        c.paused_until = Some(crate::policy::pause::after_manual_reply(
            c.paused_until,
            echo.sent_at,
        ));
    })?;
    batch.flush(changes)
}

/// Recomputes a chat's preview from its messages (after a local message
/// went away).
pub(crate) fn refresh_preview(
    conn: &Connection,
    me: Option<&MemberId>,
    chat: &ChatId,
    changes: &mut Changes,
) -> Result<()> {
    let mut batch = Batch::new(conn, me);
    if batch.load(chat)? {
        batch.recompute_preview(chat)?;
    }
    batch.flush(changes)
}

/// Replaces the I1 figures with the server's (per bot; the total is summed).
pub(super) fn set_stats(
    conn: &Connection,
    stats: &[BotStats],
    changes: &mut Changes,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO bot_stats (bot_id, sent, received) VALUES (?1, ?2, ?3)
         ON CONFLICT (bot_id) DO UPDATE SET sent = excluded.sent, received = excluded.received",
    )?;
    for s in stats {
        if let Some(bot) = &s.bot_id {
            stmt.execute(params![bot.as_str(), s.sent as i64, s.received as i64])?;
            changes.stats = true;
        }
    }
    Ok(())
}

/// Counts every bucket again: after a change to many chats at once.
pub(super) fn recount(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DELETE FROM chat_counts;
         INSERT INTO chat_counts (bucket, n) SELECT bucket, count(*) FROM chats GROUP BY bucket;",
    )?;
    Ok(())
}

fn state_code(s: ChatState) -> i64 {
    match s {
        ChatState::Open => 0,
        ChatState::Closed => 1,
    }
}

fn write_words(conn: &Connection, rid: i64, title: &str) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO chat_words (word, rid) VALUES (?1, ?2)")?;
    for w in fold::words(title) {
        stmt.execute(params![w, rid])?;
    }
    Ok(())
}
