//! The subscriber card (F1–F8), team (D1), bots and deals (G1–G3), for
//! offline reading.

use super::codec::{self, decode_err};
use super::{Result, Store};
use crate::model::{App, Bot, BotId, Deal, Member, MemberId, Subscriber, SubscriberId, Timestamp};
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
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT rowid, id, app, name, created_at FROM bots ORDER BY name",
            )?;
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
        })
    }

    /// D1: the team; `assignable_only` keeps the members whose role grants
    /// "conversations and audience".
    pub fn members(&self, assignable_only: bool) -> Result<Vec<Member>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, avatar_url, role, conversations_access FROM members
                 WHERE conversations_access OR NOT ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map([assignable_only], |r| {
                Ok(Member {
                    id: MemberId(r.get(0)?),
                    name: r.get(1)?,
                    avatar_url: r.get(2)?,
                    role: r.get(3)?,
                    conversations_access: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
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

    /// Events kept for a later version or awaiting their chat.
    pub fn kept_events(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM kept_events", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
    }
}
