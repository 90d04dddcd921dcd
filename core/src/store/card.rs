//! The subscriber card (F1–F8), team (D1), bots and deals (G1–G3), for
//! offline reading.

use super::codec::{self, decode_err};
use super::{Result, Store};
use crate::model::{
    App, Bot, BotId, Deal, Member, MemberId, Seq, Snapshot, Subscriber, SubscriberId, Timestamp,
};
use rusqlite::OptionalExtension;

impl Store {
    /// F1–F8: a subscriber's card.
    pub fn subscriber(&self, id: &SubscriberId) -> Result<Option<Subscriber>> {
        self.read(|c| {
            let row: Option<(i64, String)> = c
                .prepare_cached("SELECT rowid, card FROM subscribers WHERE id = ?1")?
                .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(rowid, card)| codec::json("subscribers", rowid, "card", &card))
                .transpose()
        })
    }

    pub fn bots(&self) -> Result<Vec<Bot>> {
        self.read(read_bots)
    }

    /// D1: the team; `assignable_only` keeps the members whose role grants
    /// "conversations and audience".
    pub fn members(&self, assignable_only: bool) -> Result<Vec<Member>> {
        self.read(|c| read_members(c, assignable_only))
    }

    /// G1–G3: a subscriber's deals, most recently updated first.
    pub fn deals(&self, subscriber: &SubscriberId) -> Result<Vec<Deal>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT rowid, deal FROM deals WHERE subscriber_id = ?1")?;
            let mut rows = stmt.query([subscriber.as_str()])?;
            let mut out: Vec<Deal> = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(codec::json(
                    "deals",
                    r.get(0)?,
                    "deal",
                    r.get_ref(1)?.as_str().unwrap_or(""),
                )?);
            }
            out.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
            Ok(out)
        })
    }

    /// The whole workspace as a [`Snapshot`] at the store's last seq, with
    /// the latest `messages_per_chat` messages of each chat, read in one
    /// transaction so that every part is of the same moment. (The reference
    /// server keeps its workspaces in stores and answers `since=0` with it.)
    pub fn snapshot(&self, messages_per_chat: u32) -> Result<Snapshot> {
        self.read(|c| {
            // One read transaction, rolled back on any exit.
            let tx = c.unchecked_transaction()?;
            read_snapshot(&tx, messages_per_chat)
        })
    }

    /// Issue 18: one page of a paged snapshot, read in one transaction at
    /// the store's last seq (the page's `seq`). `before: None` is the first
    /// page: the `n` chats of newest activity (the inbox's first screens),
    /// with the bots, members, statistics and Viber usage. `Some(rid)`: the
    /// `n` chats inserted before `rid`, newest first (a rid never moves, so
    /// no chat that existed at the first page is passed over however the
    /// activity order changes meanwhile; chats created later arrive in a
    /// page or through the feed). Each page carries its chats' subscribers,
    /// deals, notes and latest `per_chat` messages, chats in insertion
    /// order. The second value is the cursor of the next page, `None` after
    /// the last; the last page carries the statistics again.
    pub fn snapshot_page(
        &self,
        per_chat: u32,
        before: Option<i64>,
        n: u32,
    ) -> Result<(Snapshot, Option<i64>)> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            read_snapshot_page(&tx, per_chat, before, n)
        })
    }

    /// G3: one deal.
    pub fn deal(&self, id: &crate::model::DealId) -> Result<Option<Deal>> {
        self.read(|c| {
            let row: Option<(i64, String)> = c
                .prepare_cached("SELECT rowid, deal FROM deals WHERE id = ?1")?
                .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(rowid, d)| codec::json("deals", rowid, "deal", &d))
                .transpose()
        })
    }

    /// H2: a chat's notification state and whether the agent muted it.
    pub fn push_state(
        &self,
        chat: &crate::model::ChatId,
    ) -> Result<(crate::push::ChatPushState, bool)> {
        self.read(|c| {
            let state = c
                .prepare_cached(
                    "SELECT last_alert_at, last_seq, count FROM chat_push WHERE chat_id = ?1",
                )?
                .query_row([chat.as_str()], |r| {
                    Ok(crate::push::ChatPushState {
                        last_alert_at: r.get::<_, Option<i64>>(0)?.map(Timestamp),
                        last_seq: Seq(r.get::<_, i64>(1)?.unsigned_abs()),
                        count: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                    })
                })
                .optional()?
                .unwrap_or_default();
            let muted: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM chat_muted WHERE chat_id = ?1)")?
                .query_row([chat.as_str()], |r| r.get(0))?;
            Ok((state, muted))
        })
    }

    pub fn set_push_state(
        &self,
        chat: &crate::model::ChatId,
        s: crate::push::ChatPushState,
    ) -> Result<()> {
        self.write(|tx, _, _| {
            tx.prepare_cached(
                "INSERT INTO chat_push (chat_id, last_alert_at, last_seq, count) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (chat_id) DO UPDATE SET last_alert_at = excluded.last_alert_at,
                     last_seq = excluded.last_seq, count = excluded.count",
            )?
            .execute(rusqlite::params![
                chat.as_str(),
                s.last_alert_at.map(|t| t.0),
                i64::try_from(s.last_seq.0).unwrap_or(i64::MAX),
                s.count
            ])?;
            Ok(())
        })
        .map(|_| ())
    }

    /// H2: mutes or unmutes a chat's notifications (a setting of this
    /// device).
    pub fn set_muted(&self, chat: &crate::model::ChatId, muted: bool) -> Result<()> {
        self.write(|tx, _, _| {
            if muted {
                tx.execute(
                    "INSERT OR IGNORE INTO chat_muted (chat_id) VALUES (?1)",
                    [chat.as_str()],
                )?;
            } else {
                tx.execute("DELETE FROM chat_muted WHERE chat_id = ?1", [chat.as_str()])?;
            }
            Ok(())
        })
        .map(|_| ())
    }

    /// Events kept for a later version or awaiting their chat.
    pub fn kept_events(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM kept_events", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
    }
}

fn all_json<T: serde::de::DeserializeOwned>(
    c: &rusqlite::Connection,
    table: &'static str,
    column: &'static str,
) -> Result<Vec<T>> {
    let sql = format!("SELECT rowid, {column} FROM {table} ORDER BY rowid");
    let mut stmt = c.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let text: String = r.get(1)?;
        out.push(codec::json(table, rowid, column, &text)?);
    }
    Ok(out)
}

fn read_snapshot(c: &rusqlite::Connection, per_chat: u32) -> Result<Snapshot> {
    use super::timeline::{self, TimelineItem};
    let seq = super::meta_get(c, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    // Chats and each chat's messages in this store's own insertion order,
    // so that a store built from the snapshot breaks ties (two chats or
    // messages in the same millisecond) the same way this one does.
    let chats = super::chat_list::all_in_insertion_order(c)?;
    let mut messages = Vec::new();
    let mut notes = Vec::new();
    for chat in &chats {
        let Some(rid) = timeline::chat_rid(c, &chat.id)? else {
            continue;
        };
        let page = timeline::page(c, rid, &chat.id, None, per_chat)?;
        for (_, item) in page.into_iter().rev() {
            if let TimelineItem::Message(m) = item {
                messages.push(m);
            }
        }
        notes.extend(timeline::notes(c, rid, &chat.id)?);
    }
    Ok(Snapshot {
        seq,
        bots: read_bots(c)?,
        members: read_members(c, false)?,
        subscribers: all_json(c, "subscribers", "card")?,
        chats,
        messages,
        notes,
        deals: all_json(c, "deals", "deal")?,
        stats: super::stats::kept(c)?,
        viber_usage: super::stats::viber_usage(c)?,
        at: super::meta_get(c, "last_at")?
            .and_then(|s| s.parse().ok())
            .map(crate::model::Timestamp),
    })
}

fn read_snapshot_page(
    c: &rusqlite::Connection,
    per_chat: u32,
    before: Option<i64>,
    n: u32,
) -> Result<(Snapshot, Option<i64>)> {
    use super::timeline::{self, TimelineItem};
    let seq = super::meta_get(c, "last_seq")?
        .and_then(|s| s.parse().ok())
        .map_or(Seq(0), Seq);
    let n = n.max(1);
    let (sql, bound) = match before {
        None => (
            format!(
                "SELECT {} FROM chats ORDER BY last_activity DESC, rid DESC LIMIT ?1",
                super::codec::CHAT_COLS
            ),
            None,
        ),
        Some(rid) => (
            format!(
                "SELECT {} FROM chats WHERE rid < ?2 ORDER BY rid DESC LIMIT ?1",
                super::codec::CHAT_COLS
            ),
            Some(rid),
        ),
    };
    let mut rows: Vec<(i64, crate::model::Chat)> = Vec::new();
    {
        let mut stmt = c.prepare_cached(&sql)?;
        let mut q = match bound {
            None => stmt.query(rusqlite::params![n])?,
            Some(b) => stmt.query(rusqlite::params![n, b])?,
        };
        while let Some(r) = q.next()? {
            let row = super::codec::chat_from_row(r)?;
            rows.push((row.key.rid, row.chat));
        }
    }
    let full = rows.len() >= n as usize;
    let next = match before {
        // More chats than the first page: the rest, from the newest rid.
        None => full.then_some(i64::MAX),
        Some(_) => full
            .then(|| rows.iter().map(|(rid, _)| *rid).min())
            .flatten(),
    };
    // Insertion order within the page (ties break as on this store).
    rows.sort_by_key(|(rid, _)| *rid);
    let mut messages = Vec::new();
    let mut notes = Vec::new();
    let mut subscribers = Vec::new();
    let mut deals = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (rid, chat) in &rows {
        let page = timeline::page(c, *rid, &chat.id, None, per_chat)?;
        for (_, item) in page.into_iter().rev() {
            if let TimelineItem::Message(m) = item {
                messages.push(m);
            }
        }
        notes.extend(timeline::notes(c, *rid, &chat.id)?);
        if seen.insert(chat.subscriber_id.clone()) {
            let card: Option<(i64, String)> = c
                .prepare_cached("SELECT rowid, card FROM subscribers WHERE id = ?1")?
                .query_row([chat.subscriber_id.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((rowid, card)) = card {
                subscribers.push(codec::json("subscribers", rowid, "card", &card)?);
            }
            let mut stmt = c.prepare_cached(
                "SELECT rowid, deal FROM deals WHERE subscriber_id = ?1 ORDER BY rowid",
            )?;
            let mut q = stmt.query([chat.subscriber_id.as_str()])?;
            while let Some(r) = q.next()? {
                let text: String = r.get(1)?;
                deals.push(codec::json("deals", r.get(0)?, "deal", &text)?);
            }
        }
    }
    let first = before.is_none();
    let last = next.is_none();
    Ok((
        Snapshot {
            seq,
            bots: if first { read_bots(c)? } else { Vec::new() },
            members: if first {
                read_members(c, false)?
            } else {
                Vec::new()
            },
            subscribers,
            chats: rows.into_iter().map(|(_, chat)| chat).collect(),
            messages,
            notes,
            deals,
            // The kept figures, not a recount: one row per bot instead of
            // a scan of every message (issue 18).
            stats: if first || last {
                super::stats::kept(c)?
            } else {
                Vec::new()
            },
            viber_usage: if first || last {
                super::stats::viber_usage(c)?
            } else {
                Vec::new()
            },
            at: super::meta_get(c, "last_at")?
                .and_then(|s| s.parse().ok())
                .map(crate::model::Timestamp),
        },
        next,
    ))
}

fn read_bots(c: &rusqlite::Connection) -> Result<Vec<Bot>> {
    let mut stmt =
        c.prepare_cached("SELECT rowid, id, app, name, created_at FROM bots ORDER BY name")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let code: i64 = r.get(2)?;
        out.push(Bot {
            id: BotId(r.get(1)?),
            app: App::from_code(code).ok_or_else(|| {
                decode_err("bots", rowid, "app", format!("unknown app code {code}"))
            })?,
            name: r.get(3)?,
            created_at: Timestamp(r.get(4)?),
        });
    }
    Ok(out)
}

fn read_members(c: &rusqlite::Connection, assignable_only: bool) -> Result<Vec<Member>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, name, avatar_url, role, conversations_access FROM members ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Member {
            id: MemberId(r.get(0)?),
            name: r.get(1)?,
            avatar_url: r.get(2)?,
            role: r.get(3)?,
            conversations_access: r.get(4)?,
        })
    })?;
    let mut all: Vec<Member> = rows.collect::<rusqlite::Result<_>>()?;
    if assignable_only {
        // D1: the rule, not the query, says who may be assigned.
        all.retain(crate::policy::access::has_conversations);
    }
    Ok(all)
}
