//! Writing server events into the store (the inbound flow).
//!
//! A batch is one transaction. Chats touched by the batch are loaded once,
//! changed in memory event by event, and written back once at the end, so a
//! burst of messages in one chat costs one chat update. Events are applied in
//! seq order; an event whose seq is not above the store's last seq is a
//! duplicate and changes nothing.
//!
//! This module holds the entry points, seq skipping, the dispatch of an
//! event to its entity, and the events kept for later. The SQL of each
//! entity is in its own module (`bots`, `members`, `subscribers`, `chats`,
//! `messages`, `notes`, `deals`); the aggregates a batch maintains (the A5
//! bucket counts, the I1 statistics, the E6 Viber usage) are in `counters`.

mod bots;
mod chats;
mod counters;
mod deals;
mod members;
mod messages;
mod notes;
mod subscribers;

pub(super) use counters::{recount, set_stats};

use super::codec::{self, PreviewRef};
use super::{Changes, Result, StoreError, meta_get, meta_set};
use crate::model::{
    Chat, ChatId, Event, EventPayload, MemberId, Message, Seq, Snapshot, Timestamp,
};
use counters::Counters;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// A chat loaded for this batch: changed in memory, compared with what is
/// stored when the batch ends, written only if it differs.
struct Loaded {
    rid: i64,
    chat: Chat,
    /// The message the list row shows (schema step 5).
    preview: Option<PreviewRef>,
    stored: Chat,
    stored_preview: Option<PreviewRef>,
}

impl Loaded {
    fn new(rid: i64, chat: Chat, preview: Option<PreviewRef>) -> Loaded {
        Loaded {
            rid,
            stored: chat.clone(),
            stored_preview: preview,
            chat,
            preview,
        }
    }
}

struct Batch<'c> {
    conn: &'c Connection,
    me: Option<&'c MemberId>,
    chats: HashMap<ChatId, Loaded>,
    /// The aggregates this batch moved, written once at the end.
    counters: Counters,
    /// Issue 18: whether the event being applied counts in the I1/E6
    /// figures (false at or below a paged snapshot's `counters_seq`).
    count: bool,
}

impl<'c> Batch<'c> {
    fn new(conn: &'c Connection, me: Option<&'c MemberId>) -> Self {
        Batch {
            conn,
            me,
            chats: HashMap::new(),
            counters: Counters::default(),
            count: true,
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
    let mut high_at = None;
    let mut held = Held::load(conn, last)?;
    for ev in order {
        if ev.seq <= high {
            changes.duplicates += 1;
            continue;
        }
        if held.holds(conn, ev)? {
            // Issue 18: a later page of the snapshot already has this
            // chat as it was after this event.
            changes.duplicates += 1;
            high = ev.seq;
            high_at = Some(ev.at);
            continue;
        }
        batch.count = ev.seq > held.counted;
        batch.apply(ev, changes)?;
        high = ev.seq;
        high_at = Some(ev.at);
        changes.applied += 1;
    }
    batch.flush(changes)?;
    held.release(conn, high)?;
    if high > last {
        meta_set(conn, "last_seq", &high.0.to_string())?;
        set_last_at(conn, high_at)?;
        changes.last_seq = Some(high);
    }
    Ok(())
}

/// The `at` of the event at `last_seq` ([`crate::model::Cursor`]), or
/// none when it is unknown.
fn set_last_at(conn: &Connection, at: Option<Timestamp>) -> Result<()> {
    match at {
        Some(at) => meta_set(conn, "last_at", &at.0.to_string()),
        None => {
            conn.execute("DELETE FROM meta WHERE key = 'last_at'", [])?;
            Ok(())
        }
    }
}

/// Applies a snapshot taken at `snapshot.seq`: every record as the server
/// has it now; its messages never count as unread.
pub(super) fn apply_snapshot(
    conn: &Connection,
    me: Option<&MemberId>,
    snapshot: &Snapshot,
    changes: &mut Changes,
) -> Result<()> {
    apply_records(conn, me, snapshot, changes)?;
    set_stats(conn, &snapshot.stats, changes)?;
    counters::set_viber_usage(conn, &snapshot.viber_usage)?;
    let last = meta_get(conn, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    if snapshot.seq > last {
        meta_set(conn, "last_seq", &snapshot.seq.0.to_string())?;
        set_last_at(conn, snapshot.at)?;
        changes.last_seq = Some(snapshot.seq);
    }
    changes.applied += 1;
    Ok(())
}

/// The records of a snapshot (or of one page of it) as they are at its
/// seq: bots, members, subscribers, chats, messages (never unread), notes
/// and deals. Not the figures, not the last seq.
fn apply_records(
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
    batch.flush(changes)
}

// ---- issue 18: paged snapshots ----------------------------------------------

/// Which page of a paged snapshot (docs/protocol.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotPart {
    /// The first page into an empty store: its seq becomes the last seq.
    First,
    /// The first page of a fresh snapshot over a store that has state (far
    /// behind, or ahead of the log's head): replaces what was derived from
    /// the feed, keeping the outbox and local state (as `Store::resync`).
    Fresh,
    /// A later page: its chats are held at the page's seq, which catch-up
    /// (from the first page's seq) skips their events up to.
    Rest,
}

pub(super) fn apply_snapshot_page(
    conn: &Connection,
    me: Option<&MemberId>,
    page: &Snapshot,
    part: SnapshotPart,
    next: Option<&str>,
    changes: &mut Changes,
) -> Result<()> {
    match part {
        SnapshotPart::First => {
            conn.execute_batch(
                "DELETE FROM snapshot_held; DELETE FROM meta WHERE key = 'counters_seq';",
            )?;
            apply_snapshot(conn, me, page, changes)?;
        }
        SnapshotPart::Fresh => resync(conn, me, page, changes)?,
        SnapshotPart::Rest => {
            let last = meta_get(conn, "last_seq")?
                .and_then(|s| s.parse().ok())
                .map_or(Seq(0), Seq);
            apply_records(conn, me, page, changes)?;
            if page.seq > last {
                let seq = i64::try_from(page.seq.0).unwrap_or(i64::MAX);
                let mut stmt = conn.prepare_cached(
                    "INSERT INTO snapshot_held (chat_id, seq) VALUES (?1, ?2)
                     ON CONFLICT (chat_id) DO UPDATE SET seq = max(seq, excluded.seq)",
                )?;
                for c in &page.chats {
                    stmt.execute(params![c.id.as_str(), seq])?;
                }
            }
            changes.applied += 1;
            if next.is_none() {
                set_stats(conn, &page.stats, changes)?;
                counters::set_viber_usage(conn, &page.viber_usage)?;
            }
        }
    }
    match next {
        Some(n) => meta_set(conn, "snapshot_next", n)?,
        None => {
            conn.execute("DELETE FROM meta WHERE key = 'snapshot_next'", [])?;
            // The figures are those of the last page's seq: events at or
            // below it are in them already.
            if part == SnapshotPart::Rest {
                meta_set(conn, "counters_seq", &page.seq.0.to_string())?;
            }
        }
    }
    Ok(())
}

/// The chats later pages of a paged snapshot brought, at their page's seq,
/// while catch-up has not yet passed it.
struct Held {
    /// The highest held seq (0: nothing held).
    max: i64,
    /// Events at or below this seq are already in the I1/E6 figures.
    counted: Seq,
    cache: HashMap<String, Option<i64>>,
}

impl Held {
    fn load(conn: &Connection, last: Seq) -> Result<Held> {
        let max: Option<i64> =
            conn.query_row("SELECT max(seq) FROM snapshot_held", [], |r| r.get(0))?;
        let counted = meta_get(conn, "counters_seq")?
            .and_then(|s| s.parse().ok())
            .map_or(Seq(0), Seq);
        let last = i64::try_from(last.0).unwrap_or(i64::MAX);
        Ok(Held {
            max: max.filter(|m| *m > last).unwrap_or(0),
            counted,
            cache: HashMap::new(),
        })
    }

    fn holds(&mut self, conn: &Connection, ev: &Event) -> Result<bool> {
        let seq = i64::try_from(ev.seq.0).unwrap_or(i64::MAX);
        if seq > self.max {
            return Ok(false);
        }
        let Some(chat) = ev.payload.chat_id() else {
            return Ok(false);
        };
        let held = match self.cache.get(chat.as_str()) {
            Some(h) => *h,
            None => {
                let h: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM snapshot_held WHERE chat_id = ?1")?
                    .query_row([chat.as_str()], |r| r.get(0))
                    .optional()?;
                self.cache.insert(chat.as_str().to_owned(), h);
                h
            }
        };
        Ok(held.is_some_and(|h| seq <= h))
    }

    /// Once catch-up passed every held seq, nothing is held any more.
    fn release(&self, conn: &Connection, high: Seq) -> Result<()> {
        if self.max > 0 && i64::try_from(high.0).unwrap_or(i64::MAX) >= self.max {
            conn.execute("DELETE FROM snapshot_held", [])?;
        }
        Ok(())
    }
}

/// Issue 16 hole 7: replaces everything derived from the feed with a
/// fresh snapshot (the server lost the log's tail this store applied, so
/// its seqs now mean other events). Kept: the outbox and its files, the
/// local settings (mutes, notification state, "me" and the other meta
/// facts), the malformed events at or below the snapshot's seq; and the
/// pending echoes of queued commands, stored again over the snapshot unless
/// the server already has their message.
pub(super) fn resync(
    conn: &Connection,
    me: Option<&MemberId>,
    snapshot: &Snapshot,
    changes: &mut Changes,
) -> Result<()> {
    let echoes: Vec<Message> = {
        let cols = codec::MESSAGE_COLS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = conn.prepare(&format!(
            "SELECT {cols}, c.id FROM messages m JOIN chats c ON c.rid = m.chat_rid
             WHERE m.delivery = ?1 AND m.id IN (SELECT echo_id FROM outbox)
             ORDER BY m.rid"
        ))?;
        let mut rows = stmt.query([crate::model::Delivery::Pending.code()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let chat = ChatId(row.get(12)?);
            out.push(codec::message_from_row(row, &chat)?);
        }
        out
    };
    {
        let mut stmt = conn.prepare("SELECT id FROM chats")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for id in ids {
            changes.chats.insert(ChatId(id?));
        }
    }
    let seq = i64::try_from(snapshot.seq.0).unwrap_or(i64::MAX);
    conn.execute_batch(
        "DELETE FROM bots; DELETE FROM members; DELETE FROM subscribers;
         DELETE FROM chats; DELETE FROM chat_counts; DELETE FROM chat_words;
         DELETE FROM bot_stats; DELETE FROM viber_usage; DELETE FROM messages;
         DELETE FROM notes; DELETE FROM deals; DELETE FROM snapshot_held;
         DELETE FROM meta WHERE key IN ('last_seq', 'last_at', 'counters_seq', 'snapshot_next');",
    )?;
    conn.execute(
        "DELETE FROM kept_events WHERE reason <> 'malformed' OR seq > ?1",
        [seq],
    )?;
    apply_snapshot(conn, me, snapshot, changes)?;
    meta_set(conn, "last_seq", &snapshot.seq.0.to_string())?;
    set_last_at(conn, snapshot.at)?;
    changes.last_seq = Some(snapshot.seq);
    let mut batch = Batch::new(conn, me);
    for echo in &echoes {
        let taken: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)")?
            .query_row([echo.id.as_str()], |r| r.get(0))?;
        if !taken && batch.load(&echo.chat_id)? {
            batch.upsert_message(echo, true, changes)?;
        }
    }
    batch.flush(changes)?;
    recount(conn)?;
    changes.resync = true;
    changes.all_chats = true;
    changes.counts = true;
    changes.stats = true;
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
        // An event this version cannot read: its time is unknown.
        meta_set(conn, "last_seq", &high.0.to_string())?;
        set_last_at(conn, None)?;
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

impl Batch<'_> {
    /// Loads a chat into the batch; false if the store has no such chat.
    fn load(&mut self, id: &ChatId) -> Result<bool> {
        if self.chats.contains_key(id) {
            return Ok(true);
        }
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("SELECT {} FROM chats WHERE id = ?1", codec::CHAT_COLS)
        });
        let mut stmt = self.conn.prepare_cached(&SQL)?;
        let mut rows = stmt.query([id.as_str()])?;
        let Some(row) = rows.next()? else {
            return Ok(false);
        };
        let codec::ChatRow {
            key,
            chat,
            preview_ref,
            ..
        } = codec::chat_from_row(row)?;
        self.chats
            .insert(id.clone(), Loaded::new(key.rid, chat, preview_ref));
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

    fn rid(&mut self, chat_id: &ChatId) -> Result<i64> {
        self.chat(chat_id)?
            .map(|l| l.rid)
            .ok_or(StoreError::UnknownChat)
    }

    /// Applies one event: to the entity it is about.
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
            EventPayload::BotUpserted(b) => self.upsert_bot(b, changes)?,
            EventPayload::MemberUpserted(m) => self.upsert_member(m, changes)?,
            EventPayload::SubscriberUpserted(s) => self.upsert_subscriber(s, changes)?,
            EventPayload::ChatUpserted(c) => self.upsert_chat(c, changes)?,
            EventPayload::MessageUpserted(m) => self.upsert_message(m, true, changes)?,
            EventPayload::MessageDelivery {
                message_id,
                delivery,
                ..
            } => self.message_delivery(ev, message_id, *delivery, changes)?,
            EventPayload::MessageEdited {
                chat_id,
                message_id,
                text,
            } => self.edit_message(ev, chat_id, message_id, text, changes)?,
            EventPayload::MessageDeleted {
                chat_id,
                message_id,
            } => self.delete_message(ev, chat_id, message_id, changes)?,
            EventPayload::ReactionsChanged {
                message_id,
                reactions,
                ..
            } => self.set_reactions(ev, message_id, reactions, changes)?,
            EventPayload::ChatStateChanged { chat_id, state } => {
                self.edit_chat(chat_id, |c| c.state = *state)?;
            }
            EventPayload::ChatAssigned { chat_id, assignee } => {
                self.edit_chat(chat_id, |c| c.assignee.clone_from(assignee))?;
            }
            EventPayload::ChatRead { chat_id } => self.read_chat(chat_id)?,
            EventPayload::PauseChanged { chat_id, until } => {
                self.edit_chat(chat_id, |c| c.paused_until = *until)?;
            }
            EventPayload::NoteUpserted(n) => self.upsert_note(n, changes)?,
            EventPayload::NoteDeleted { chat_id, note_id } => {
                self.delete_note(chat_id, note_id, changes)?;
            }
            EventPayload::DealUpserted(d) => self.upsert_deal(d, changes)?,
            EventPayload::DealDeleted { deal_id } => self.delete_deal(deal_id, changes)?,
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

    /// Ends the batch: every chat that differs from what is stored is
    /// written once, then the counters.
    fn flush(&mut self, changes: &mut Changes) -> Result<()> {
        self.write_chats(changes)?;
        self.counters.flush(self.conn, changes)
    }
}
