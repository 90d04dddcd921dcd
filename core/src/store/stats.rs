//! I1: messages sent and received, and subscribers, for all bots and per
//! bot. Sent and received come from the server (the client holds only the
//! latest history) and are advanced by each new message applied after;
//! subscribers are counted from the cards the store holds.

use super::{Changes, Result, Store, apply, meta_get};
use crate::model::{BotId, BotStats, Seq, StatsAt};
use rusqlite::Connection;
use std::collections::BTreeMap;

impl Store {
    /// The figures now: the total first (`bot_id: None`), then each bot.
    pub fn stats(&self) -> Result<Vec<BotStats>> {
        self.read(|c| {
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
        })
    }

    /// I1 recounted from the messages the store holds, at its last seq, in
    /// one transaction. The reference server answers `GET /v1/stats` with
    /// it (it holds every message); on a client it would undercount.
    pub fn recount_stats(&self) -> Result<StatsAt> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let out = recount(c);
            c.execute_batch("COMMIT")?;
            out
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
