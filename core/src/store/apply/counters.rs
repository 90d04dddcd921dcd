//! The aggregates `apply` maintains: the A5 status counts per bucket
//! (`chat_counts`), the I1 statistics per bot (`bot_stats`) and the E6
//! bot-initiated Viber messages per bot and month (`viber_usage`). A batch
//! adds up its changes in memory and writes each once, when it ends.

use crate::model::{App, BotStats, Chat, Message, ViberUse};
use crate::policy::{viber, window};
use crate::store::{Changes, Result};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// What one batch changed in the aggregates, not yet written.
#[derive(Default)]
pub(super) struct Counters {
    /// Change of `chat_counts` per bucket.
    counts: HashMap<i64, i64>,
    /// I1: new messages per bot (sent, received).
    stats: HashMap<String, (i64, i64)>,
    /// E6: new bot-initiated Viber messages per (bot, month).
    viber: HashMap<(String, u32), i64>,
}

impl Counters {
    /// A new chat in `bucket`.
    pub(super) fn chat_added(&mut self, bucket: i64) {
        *self.counts.entry(bucket).or_default() += 1;
    }

    /// A chat that moved from bucket `old` to `new`.
    pub(super) fn chat_moved(&mut self, old: i64, new: i64) {
        *self.counts.entry(old).or_default() -= 1;
        *self.counts.entry(new).or_default() += 1;
    }

    /// A new live message in `chat` (not an echo, not history).
    pub(super) fn new_message(&mut self, chat: &Chat, m: &Message, inbound: bool) {
        // E6: a Viber message outside the window the subscriber's last
        // message opened is bot-initiated.
        if !inbound
            && chat.app == App::Viber
            && !window::state(App::Viber, chat.last_inbound_at, m.sent_at).is_open()
        {
            let month = viber::month_key(m.sent_at);
            *self
                .viber
                .entry((chat.bot_id.0.clone(), month))
                .or_default() += 1;
        }
        let s = self.stats.entry(chat.bot_id.0.clone()).or_default();
        if inbound {
            s.1 += 1;
        } else {
            s.0 += 1;
        }
    }

    /// Adds what the batch counted to the stored aggregates.
    pub(super) fn flush(&mut self, conn: &Connection, changes: &mut Changes) -> Result<()> {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO chat_counts (bucket, n) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET n = n + excluded.n",
        )?;
        for (bucket, delta) in self.counts.drain().filter(|(_, d)| *d != 0) {
            stmt.execute(params![bucket, delta])?;
        }
        let mut stmt = conn.prepare_cached(
            "INSERT INTO bot_stats (bot_id, sent, received) VALUES (?1, ?2, ?3)
             ON CONFLICT (bot_id) DO UPDATE SET sent = sent + excluded.sent,
                 received = received + excluded.received",
        )?;
        for (bot, (sent, received)) in self.stats.drain() {
            stmt.execute(params![bot, sent, received])?;
            changes.stats = true;
        }
        let mut stmt = conn.prepare_cached(
            "INSERT INTO viber_usage (bot_id, month, used) VALUES (?1, ?2, ?3)
             ON CONFLICT (bot_id, month) DO UPDATE SET used = used + excluded.used",
        )?;
        for ((bot, month), used) in self.viber.drain() {
            stmt.execute(params![bot, month, used])?;
        }
        Ok(())
    }
}

/// Replaces the I1 figures with the server's (per bot; the total is summed).
pub(in crate::store) fn set_stats(
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

/// Replaces the E6 usage with the server's (a snapshot's).
pub(super) fn set_viber_usage(conn: &Connection, usage: &[ViberUse]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO viber_usage (bot_id, month, used) VALUES (?1, ?2, ?3)
         ON CONFLICT (bot_id, month) DO UPDATE SET used = excluded.used",
    )?;
    for u in usage {
        stmt.execute(params![u.bot_id.as_str(), u.month, u.used])?;
    }
    Ok(())
}

/// Counts every bucket again: after a change to many chats at once.
pub(in crate::store) fn recount(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DELETE FROM chat_counts;
         INSERT INTO chat_counts (bucket, n) SELECT bucket, count(*) FROM chats GROUP BY bucket;",
    )?;
    Ok(())
}
