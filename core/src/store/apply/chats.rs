//! Chats: the record the server sends, the chat-level events (state,
//! assignee, read, pause), the preview, and writing changed chats back once
//! per batch with their name-search words.

use super::{Batch, Loaded};
use crate::model::{Chat, ChatId, ChatState, MemberId, Timestamp};
use crate::store::codec::PreviewRef;
use crate::store::filter::{assignee_class, bucket_of};
use crate::store::{Changes, Result, fold};
use rusqlite::{Connection, OptionalExtension, params};

impl Batch<'_> {
    pub(super) fn upsert_chat(&mut self, c: &Chat, changes: &mut Changes) -> Result<()> {
        if let Some(l) = self.chat(&c.id)? {
            l.chat = c.clone();
            return Ok(());
        }
        let aclass = assignee_class(c.assignee.as_ref(), self.me);
        self.conn
            .prepare_cached(
                "INSERT INTO chats (id, bot_id, subscriber_id, app, kind, state, assignee,
                     aclass, title, avatar_url, last_activity, unread, last_inbound_at,
                     paused_until, name_folded)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
        self.counters.chat_added(bucket_of(c, self.me));
        self.replay_kept(&c.id, changes)
    }

    /// Changes a loaded chat in memory; written back at the end of the batch.
    pub(super) fn edit_chat(&mut self, id: &ChatId, f: impl FnOnce(&mut Chat)) -> Result<()> {
        if let Some(l) = self.chat(id)? {
            f(&mut l.chat);
        }
        Ok(())
    }

    /// B10: the chat was read.
    pub(super) fn read_chat(&mut self, chat_id: &ChatId) -> Result<()> {
        self.edit_chat(chat_id, |c| c.unread_count = 0)?;
        // H2: the chat's notification starts counting afresh.
        self.conn
            .prepare_cached(
                "UPDATE chat_push SET count = 0, last_alert_at = NULL WHERE chat_id = ?1",
            )?
            .execute([chat_id.as_str()])?;
        Ok(())
    }

    /// The preview becomes the chat's latest message that is not deleted.
    pub(super) fn recompute_preview(&mut self, chat_id: &ChatId) -> Result<()> {
        let rid = self.rid(chat_id)?;
        let latest = self
            .conn
            .prepare_cached(
                "SELECT rid, at FROM messages WHERE chat_rid = ?1 AND deleted_at IS NULL
                 ORDER BY at DESC, rid DESC LIMIT 1",
            )?
            .query_row([rid], |r| {
                Ok(PreviewRef {
                    rid: r.get(0)?,
                    at: Timestamp(r.get(1)?),
                })
            })
            .optional()?;
        if let Some(l) = self.chats.get_mut(chat_id) {
            l.preview = latest;
        }
        Ok(())
    }

    /// Writes every chat that differs from what is stored, once, and notes
    /// the chats that moved between buckets in the counters.
    /// The batch ends here: its chats leave it.
    pub(super) fn write_chats(&mut self, changes: &mut Changes) -> Result<()> {
        let mut changed: Vec<_> = self
            .chats
            .drain()
            .filter(|(_, l)| l.chat != l.stored || l.preview != l.stored_preview)
            .collect();
        // In row order: consecutive updates land on the same table pages.
        changed.sort_unstable_by_key(|(_, l)| l.rid);
        for (id, l) in changed {
            let c = &l.chat;
            let (preview_rid, preview_at) = (l.preview.map(|p| p.rid), l.preview.map(|p| p.at.0));
            if cold_changed(c, &l.stored) {
                self.conn
                    .prepare_cached(
                        "UPDATE chats SET bot_id = ?2, subscriber_id = ?3, app = ?4, kind = ?5,
                             state = ?6, assignee = ?7, aclass = ?8, title = ?9, avatar_url = ?10,
                             last_activity = ?11, unread = ?12, last_inbound_at = ?13,
                             paused_until = ?14, preview_rid = ?15, preview_at = ?16,
                             name_folded = ?17
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
                        preview_rid,
                        preview_at,
                        fold::folded_name(&c.title),
                    ])?;
            } else {
                // Issue 18: what a message, a read, a state change or an
                // assignment moves. SQLite rewrites every index on a column
                // an UPDATE names, changed or not: leaving the rest out spares
                // `chats_by_subscriber` and `chats_paused` an entry deleted and
                // inserted again, and the name its folding, on every batch.
                self.conn
                    .prepare_cached(
                        "UPDATE chats SET state = ?2, assignee = ?3, aclass = ?4,
                             last_activity = ?5, unread = ?6, last_inbound_at = ?7,
                             preview_rid = ?8, preview_at = ?9
                         WHERE rid = ?1",
                    )?
                    .execute(params![
                        l.rid,
                        state_code(c.state),
                        c.assignee.as_ref().map(MemberId::as_str),
                        assignee_class(c.assignee.as_ref(), self.me),
                        c.last_activity.0,
                        c.unread_count,
                        c.last_inbound_at.map(|t| t.0),
                        preview_rid,
                        preview_at,
                    ])?;
            }
            if c.title != l.stored.title {
                self.conn
                    .prepare_cached("DELETE FROM chat_words WHERE rid = ?1")?
                    .execute([l.rid])?;
                write_words(self.conn, l.rid, &c.title)?;
            }
            let (old, new) = (bucket_of(&l.stored, self.me), bucket_of(c, self.me));
            if old != new {
                self.counters.chat_moved(old, new);
                changes.counts = true;
            }
            changes.chats.insert(id);
        }
        Ok(())
    }
}

/// Whether a chat changed in a column the hot update leaves alone.
fn cold_changed(c: &Chat, stored: &Chat) -> bool {
    c.bot_id != stored.bot_id
        || c.subscriber_id != stored.subscriber_id
        || c.app != stored.app
        || c.kind != stored.kind
        || c.title != stored.title
        || c.avatar_url != stored.avatar_url
        || c.paused_until != stored.paused_until
}

fn state_code(s: ChatState) -> i64 {
    match s {
        ChatState::Open => 0,
        ChatState::Closed => 1,
    }
}

/// A6: the folded words of a chat's name, for search.
fn write_words(conn: &Connection, rid: i64, title: &str) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO chat_words (word, rid) VALUES (?1, ?2)")?;
    for w in fold::words(title) {
        stmt.execute(params![w, rid])?;
    }
    Ok(())
}
