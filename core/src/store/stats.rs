//! I1: messages sent and received, and subscribers, for all bots and per
//! bot. Sent and received come from the server (the client holds only the
//! latest history) and are advanced by each new message applied after;
//! subscribers are counted from the cards the store holds.

use super::{Changes, Result, Store, apply, meta_get};
use crate::model::{BotId, BotStats, Seq, StatsAt, ViberUse};
use crate::policy::viber::{self, QuotaState};
use rusqlite::{Connection, OptionalExtension};
use std::collections::BTreeMap;

impl Store {
    /// The figures now: the total first (`bot_id: None`), then each bot.
    pub fn stats(&self) -> Result<Vec<BotStats>> {
        self.read(kept)
    }

    /// E1-E6: what deciding about a message to `chat` at `now` needs (the
    /// app, the last subscriber message, Viber's quota). `None`: the store
    /// does not know the chat.
    pub fn send_context(
        &self,
        chat: &crate::model::ChatId,
        now: crate::model::Timestamp,
    ) -> Result<Option<crate::policy::SendContext>> {
        match self.chat(chat)? {
            Some(s) => Ok(Some(self.context_for(&s.chat, now)?)),
            None => Ok(None),
        }
    }

    /// [`Store::send_context`] for a chat the caller has read already.
    pub fn context_for(
        &self,
        c: &crate::model::Chat,
        now: crate::model::Timestamp,
    ) -> Result<crate::policy::SendContext> {
        let viber = if c.app == crate::model::App::Viber {
            self.viber_quota(&c.bot_id, now)?
        } else {
            None
        };
        Ok(crate::policy::SendContext {
            app: c.app,
            last_inbound_at: c.last_inbound_at,
            now,
            viber,
        })
    }

    /// E6: a Viber bot's quota now: whether it has the free monthly
    /// messages (created before 5 February 2024) and how many it used this
    /// UTC month. `None` if the store does not know the bot.
    pub fn viber_quota(
        &self,
        bot: &BotId,
        now: crate::model::Timestamp,
    ) -> Result<Option<QuotaState>> {
        self.read(|c| {
            let created: Option<i64> = c
                .prepare_cached("SELECT created_at FROM bots WHERE id = ?1")?
                .query_row([bot.as_str()], |r| r.get(0))
                .optional()?;
            let Some(created) = created else {
                return Ok(None);
            };
            let month = viber::month_key(now);
            let used: i64 = c
                .prepare_cached("SELECT used FROM viber_usage WHERE bot_id = ?1 AND month = ?2")?
                .query_row(rusqlite::params![bot.as_str(), month], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            Ok(Some(QuotaState {
                free_quota: viber::has_free_quota(crate::model::Timestamp(created)),
                used_this_month: u32::try_from(used).unwrap_or(u32::MAX),
            }))
        })
    }

    /// I1 recounted from the messages the store holds, at its last seq, in
    /// one transaction. The reference server answers `GET /v1/stats` with
    /// it (it holds every message); on a client it would undercount.
    pub fn recount_stats(&self) -> Result<StatsAt> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            recount(&tx)
        })
    }

    /// Takes the server's figures counted at `at.seq`, if the store is at
    /// exactly that seq (else they would miss or double events); returns
    /// whether it took them.
    pub fn set_stats(&self, at: &StatsAt) -> Result<(bool, Changes)> {
        let mut took = false;
        let changes = self.write(|tx, changes, _| {
            let last = meta_get(tx, "last_seq")?
                .and_then(|s| s.parse().ok())
                .map_or(Seq(0), Seq);
            if last == at.seq {
                apply::set_stats(tx, &at.bots, changes)?;
                took = true;
            }
            Ok(())
        })?;
        Ok((took, changes))
    }
}

/// The figures `apply` keeps (`bot_stats`, advanced by every new message),
/// with the subscribers counted: what [`Store::stats`] answers. On a store
/// that applied every message of its workspace (the reference server's) they
/// equal [`recount`], without its scan of every message (issue 18: the
/// recount made the first snapshot page of a 100k-chat workspace take
/// seconds).
pub(super) fn kept(c: &Connection) -> Result<Vec<BotStats>> {
    let mut per: BTreeMap<String, BotStats> = BTreeMap::new();
    let mut stmt = c.prepare_cached("SELECT bot_id, sent, received FROM bot_stats")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let e = per.entry(id.clone()).or_insert_with(|| BotStats {
            bot_id: Some(BotId(id)),
            ..Default::default()
        });
        e.sent = r.get::<_, i64>(1)?.unsigned_abs();
        e.received = r.get::<_, i64>(2)?.unsigned_abs();
    }
    subscribers(c, &mut per)?;
    Ok(with_total(per))
}

fn subscribers(c: &Connection, per: &mut BTreeMap<String, BotStats>) -> Result<()> {
    let mut stmt = c.prepare_cached("SELECT bot_id, count(*) FROM subscribers GROUP BY bot_id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        per.entry(id.clone())
            .or_insert_with(|| BotStats {
                bot_id: Some(BotId(id)),
                ..Default::default()
            })
            .subscribers = r.get::<_, i64>(1)?.unsigned_abs();
    }
    Ok(())
}

fn with_total(per: BTreeMap<String, BotStats>) -> Vec<BotStats> {
    let mut total = BotStats::default();
    for s in per.values() {
        total.sent += s.sent;
        total.received += s.received;
        total.subscribers += s.subscribers;
    }
    std::iter::once(total).chain(per.into_values()).collect()
}

pub(super) fn recount(c: &Connection) -> Result<StatsAt> {
    let seq = meta_get(c, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    let mut per: BTreeMap<String, BotStats> = BTreeMap::new();
    let mut stmt = c.prepare_cached(
        "SELECT c.bot_id, sum(m.sender <> 0), sum(m.sender = 0)
         FROM messages m JOIN chats c ON c.rid = m.chat_rid GROUP BY c.bot_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        per.insert(
            id.clone(),
            BotStats {
                bot_id: Some(BotId(id)),
                sent: r.get::<_, i64>(1)?.unsigned_abs(),
                received: r.get::<_, i64>(2)?.unsigned_abs(),
                subscribers: 0,
            },
        );
    }
    subscribers(c, &mut per)?;
    Ok(StatsAt {
        seq,
        bots: with_total(per),
    })
}

/// E6: every bot's Viber use by month, for a snapshot.
pub(super) fn viber_usage(c: &Connection) -> Result<Vec<ViberUse>> {
    let mut stmt = c.prepare_cached("SELECT bot_id, month, used FROM viber_usage")?;
    let rows = stmt.query_map([], |r| {
        Ok(ViberUse {
            bot_id: BotId(r.get(0)?),
            month: r.get(1)?,
            used: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
