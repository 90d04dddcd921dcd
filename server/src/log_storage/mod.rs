//! Where each workspace's event log is kept (issue 18 part 2,
//! docs/postgres.md): the seam between [`crate::event_log`], which turns
//! payloads into events, heals the derived store and feeds live streams,
//! and the rows the log is made of.
//!
//! - [`SqliteLog`]: the `workspaces` and `events` tables of `server.db`,
//!   the embedded default.
//! - [`PgLog`]: the same log in PostgreSQL, shared by several server
//!   instances, with a wake-up ([`PgLog::listen`]) for each append.
//!
//! The seam is blocking, as the rest of the server's storage (callers run
//! it on tokio's blocking pool). An event is kept as its wire JSON, by
//! workspace and seq; seqs start at 1 and have no gaps.

mod postgres;
mod sqlite;

pub use postgres::{PgLog, PgTx, Wakeup, Wakeups};
pub use sqlite::SqliteLog;

use crate::db::HubResult;
use rapport_core::model::Seq;

pub trait LogStorage: Send + Sync {
    /// An append's transaction, which the caller's `fill` extends with
    /// rows of its own (a command's first idempotency answer): they commit
    /// with the events, or vanish with them.
    type Tx<'t>;

    /// Adds a workspace, with an empty log; an existing one is kept as it
    /// is (its name too).
    fn create_workspace(&self, id: &str, name: &str) -> HubResult<()>;

    /// Every workspace's id.
    fn workspace_ids(&self) -> HubResult<Vec<String>>;

    /// Appends `count` events to `workspace`'s log in one transaction: the
    /// next `count` seqs are reserved, `fill(tx, first)` returns the
    /// events' JSON for `first ..= first + count - 1` (and may write its
    /// own rows in `tx`), and the events commit at those seqs. Returns
    /// `first` and the JSON `fill` gave. If `fill` fails, or returns
    /// another number of events, nothing is written and no seq is used.
    /// An unknown workspace is [`HubError::NoWorkspace`](crate::db::HubError::NoWorkspace).
    fn append<F>(&self, workspace: &str, count: usize, fill: F) -> HubResult<(Seq, Vec<String>)>
    where
        F: FnOnce(&Self::Tx<'_>, Seq) -> HubResult<Vec<String>>;

    /// Up to `limit` events after `since`, in seq order, as stored.
    fn events_after(&self, workspace: &str, since: Seq, limit: u32) -> HubResult<Vec<String>>;

    /// The event at `seq`, as stored.
    fn event(&self, workspace: &str, seq: Seq) -> HubResult<Option<String>>;

    /// The last seq of `workspace`'s log (0: empty, or no such workspace).
    fn head(&self, workspace: &str) -> HubResult<Seq>;
}

/// `fill`'s answer, checked: exactly `count` events.
pub(crate) fn check_filled(count: usize, jsons: &[String]) -> HubResult<()> {
    if jsons.len() == count {
        Ok(())
    } else {
        Err(crate::db::HubError::Invalid(format!(
            "an append of {count} events was given {}",
            jsons.len()
        )))
    }
}
