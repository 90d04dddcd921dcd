//! The chat list (A1–A6) and home (A7): pages by keyset, live counts.
//!
//! How a page is read, so that every filter combination costs about the
//! same (the figures in scripts/bench.sh hold this to account):
//! - the filter is a set of buckets whose sizes `chat_counts` knows;
//! - if few rows match (≤ [`SPARSE_ROWS`]), read exactly those through
//!   `chats_by_bucket` and sort them;
//! - otherwise walk `chats_by_activity` newest first, testing the bucket
//!   from the index itself: with at least [`SPARSE_ROWS`] matches, a page of
//!   50 is found within about `50 × total / matches` index entries;
//! - a name search (A6) first counts (up to [`SPARSE_ROWS`]) the names with
//!   a word starting with the longest typed word; if few, it reads just
//!   those chats; if many (one typed letter), matches are dense and the
//!   activity walk with a word test on the indexed `name_folded` finds a
//!   page quickly.

use super::codec::{self, ChatRow};
use super::filter::{ChatFilter, CompiledFilter, StatusCounts};
use super::{Result, Store, fold};
use crate::model::{Chat, ChatId, ChatSummary, MemberId};
use rusqlite::Connection;
use rusqlite::types::Value;
use std::fmt::Write as _;

/// At most this many matching rows are read and sorted; more, and the
/// activity index is walked instead.
pub(crate) const SPARSE_ROWS: u64 = 2000;

/// Buckets in all (6 apps × 2 kinds × 3 assignee × 3 status classes).
const BUCKETS: usize = 108;

/// A chat's place in the list: newest activity first, then newest row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ChatKey {
    pub last_activity: i64,
    pub rid: i64,
}

/// Where the next page of a list starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChatCursor {
    pub last_activity: i64,
    pub rid: i64,
}

impl From<ChatKey> for ChatCursor {
    fn from(k: ChatKey) -> Self {
        ChatCursor {
            last_activity: k.last_activity,
            rid: k.rid,
        }
    }
}

impl From<ChatCursor> for ChatKey {
    fn from(c: ChatCursor) -> Self {
        ChatKey {
            last_activity: c.last_activity,
            rid: c.rid,
        }
    }
}

/// One page of a chat list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatPage {
    pub rows: Vec<ChatSummary>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<ChatCursor>,
}

impl Store {
    /// A1–A6: a page of the chat list under `filter`, newest first, starting
    /// after `after` (the first page when `None`).
    pub fn chat_page(
        &self,
        filter: &ChatFilter,
        after: Option<ChatCursor>,
        limit: u32,
    ) -> Result<ChatPage> {
        let compiled = filter.compile();
        let rows = self.read(|c| page_rows(c, &compiled, after.map(Into::into), limit))?;
        let next = (rows.len() == limit as usize && limit > 0)
            .then(|| rows.last().map(|r| r.key.into()))
            .flatten();
        Ok(ChatPage {
            rows: rows.into_iter().map(ChatRow::into_summary).collect(),
            next,
        })
    }

    /// A5: the four live counts under the filter's app, type and assignee.
    pub fn status_counts(&self, filter: &ChatFilter) -> Result<StatusCounts> {
        self.read(|c| counts(c, filter))
    }

    /// One chat's list row.
    pub fn chat(&self, id: &ChatId) -> Result<Option<ChatSummary>> {
        self.read(|c| {
            Ok(rows_by_ids(c, std::slice::from_ref(id))?
                .pop()
                .map(ChatRow::into_summary))
        })
    }

    /// A7: home, the latest message of each chat with the chat's status,
    /// newest first.
    pub fn home(&self, limit: u32) -> Result<Vec<ChatSummary>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {} FROM chats INDEXED BY chats_by_activity WHERE preview_rid IS NOT NULL
                 ORDER BY last_activity DESC, rid DESC LIMIT ?1",
                codec::CHAT_COLS
            );
            collect(c, &sql, vec![Value::Integer(limit.into())])
                .map(|rows| rows.into_iter().map(ChatRow::into_summary).collect())
        })
    }
}

/// The rows of a query, with their previews.
fn collect(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Vec<ChatRow>> {
    let mut out = collect_chats(conn, sql, params)?;
    codec::fill_previews(conn, &mut out)?;
    Ok(out)
}

/// The rows of a query, without their previews (for callers that want the
/// chats only).
fn collect_chats(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Vec<ChatRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(codec::chat_from_row(row)?);
    }
    Ok(out)
}

/// Count per bucket, from the trigger-kept table.
fn bucket_counts(conn: &Connection) -> Result<[u64; BUCKETS]> {
    let mut out = [0u64; BUCKETS];
    let mut stmt = conn.prepare_cached("SELECT bucket, n FROM chat_counts")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (b, n): (i64, i64) = (r.get(0)?, r.get(1)?);
        if let (Ok(b), Ok(n)) = (usize::try_from(b), u64::try_from(n))
            && b < BUCKETS
        {
            out[b] = n;
        }
    }
    Ok(out)
}

pub(crate) fn counts(conn: &Connection, filter: &ChatFilter) -> Result<StatusCounts> {
    let per = bucket_counts(conn)?;
    let [read, unread, closed] = filter
        .buckets_by_status_class()
        .map(|bs| bs.iter().map(|&b| per[b as usize]).sum::<u64>());
    Ok(StatusCounts {
        open: read + unread,
        unread,
        closed,
        all: read + unread + closed,
    })
}

/// The rows of these chats (any order; missing ids are skipped).
pub(crate) fn rows_by_ids(conn: &Connection, ids: &[ChatId]) -> Result<Vec<ChatRow>> {
    let sql = format!("SELECT {} FROM chats WHERE id = ?1", codec::CHAT_COLS);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut rows = stmt.query([id.as_str()])?;
        if let Some(row) = rows.next()? {
            out.push(codec::chat_from_row(row)?);
        }
    }
    codec::fill_previews(conn, &mut out)?;
    Ok(out)
}

/// A page of rows under a compiled filter, after `after`.
pub(crate) fn page_rows(
    conn: &Connection,
    f: &CompiledFilter,
    after: Option<ChatKey>,
    limit: u32,
) -> Result<Vec<ChatRow>> {
    if limit == 0 || f.buckets.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT {} FROM chats ", codec::CHAT_COLS);
    let mut params: Vec<Value> = Vec::new();
    let mut conds: Vec<String> = Vec::new();

    let mut words = f.words.clone();
    let mut driven_by_words = false;
    if let Some(longest) = words.iter().max_by_key(|w| w.len()).cloned() {
        let upper = fold::prefix_upper_bound(&longest);
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM chat_words
                 WHERE word >= ?1 AND word < ?2 LIMIT ?3)",
            )?
            .query_row(rusqlite::params![longest, upper, SPARSE_ROWS as i64], |r| {
                r.get(0)
            })?;
        if (n as u64) < SPARSE_ROWS {
            driven_by_words = true;
            params.push(Value::Text(longest.clone()));
            params.push(Value::Text(upper));
            conds.push(format!(
                "rid IN (SELECT rid FROM chat_words WHERE word >= ?{} AND word < ?{})",
                params.len() - 1,
                params.len()
            ));
            words.retain(|w| *w != longest);
        }
    }
    if !driven_by_words {
        let per = bucket_counts(conn)?;
        let matching: u64 = f.buckets.iter().map(|&b| per[b as usize]).sum();
        sql.push_str(if matching <= SPARSE_ROWS && f.buckets.len() < BUCKETS {
            "INDEXED BY chats_by_bucket "
        } else {
            "INDEXED BY chats_by_activity "
        });
    }
    if f.buckets.len() < BUCKETS {
        let mut list = String::new();
        for (i, b) in f.buckets.iter().enumerate() {
            let _ = write!(list, "{}{b}", if i > 0 { "," } else { "" });
        }
        conds.push(format!("bucket IN ({list})"));
    }
    for w in words {
        params.push(Value::Text(format!(" {w}")));
        conds.push(format!("instr(name_folded, ?{}) > 0", params.len()));
    }
    if let Some(k) = after {
        params.push(Value::Integer(k.last_activity));
        params.push(Value::Integer(k.rid));
        conds.push(format!(
            "(last_activity, rid) < (?{}, ?{})",
            params.len() - 1,
            params.len()
        ));
    }
    if !conds.is_empty() {
        sql.push_str("WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    params.push(Value::Integer(limit.into()));
    let _ = write!(
        sql,
        " ORDER BY last_activity DESC, rid DESC LIMIT ?{}",
        params.len()
    );
    collect(conn, &sql, params)
}

/// Up to `n` rows of the list after `after`, with their keys (for `observe`).
pub(crate) fn window(
    conn: &Connection,
    filter: &ChatFilter,
    after: Option<ChatKey>,
    n: usize,
) -> Result<Vec<(ChatKey, ChatSummary)>> {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    Ok(page_rows(conn, &filter.compile(), after, n)?
        .into_iter()
        .map(|r| (r.key, r.into_summary()))
        .collect())
}

/// The current rows of `ids` that pass `filter`, with their keys.
pub(crate) fn changed(
    conn: &Connection,
    filter: &ChatFilter,
    me: Option<&MemberId>,
    ids: &[ChatId],
) -> Result<Vec<(ChatKey, ChatSummary)>> {
    let compiled = filter.compile();
    Ok(rows_by_ids(conn, ids)?
        .into_iter()
        .filter(|r| compiled.matches(&r.chat, me))
        .map(|r| (r.key, r.into_summary()))
        .collect())
}

/// Chats with activity at or after `since_ms` (S4: only they can have a
/// window or a 48-hour deadline ahead), through the activity index.
pub(crate) fn active_since(conn: &Connection, since_ms: i64) -> Result<Vec<Chat>> {
    let sql = format!(
        "SELECT {} FROM chats INDEXED BY chats_by_activity WHERE last_activity >= ?1",
        codec::CHAT_COLS
    );
    Ok(collect_chats(conn, &sql, vec![Value::Integer(since_ms)])?
        .into_iter()
        .map(|r| r.chat)
        .collect())
}

/// Chats whose bot pause ends after `now_ms` (S4).
pub(crate) fn paused_after(conn: &Connection, now_ms: i64) -> Result<Vec<Chat>> {
    let sql = format!(
        "SELECT {} FROM chats INDEXED BY chats_paused WHERE paused_until > ?1",
        codec::CHAT_COLS
    );
    Ok(collect_chats(conn, &sql, vec![Value::Integer(now_ms)])?
        .into_iter()
        .map(|r| r.chat)
        .collect())
}

/// Every chat, in the order this store inserted them.
pub(crate) fn all_in_insertion_order(conn: &Connection) -> Result<Vec<Chat>> {
    let sql = format!("SELECT {} FROM chats ORDER BY rid", codec::CHAT_COLS);
    Ok(collect_chats(conn, &sql, Vec::new())?
        .into_iter()
        .map(|r| r.chat)
        .collect())
}
