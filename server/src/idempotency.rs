//! The answers given to commands, per idempotency key, so a command sent
//! again gets its first answer instead of running twice. Owns the
//! `idempotency` table.
//!
//! A key is scoped by the caller (the commands scope it to the member and
//! the route); to this module it is an opaque string and never parsed.

use crate::db::{Db, HubError, HubResult};
use rapport_core::model::{Seq, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;

pub(crate) struct Idempotency {
    db: Arc<Db>,
}

impl Idempotency {
    pub(crate) fn new(db: Arc<Db>) -> Idempotency {
        Idempotency { db }
    }

    /// The answer given to a key, if any.
    pub(crate) fn answer(&self, ws: &str, key: &str) -> HubResult<Option<(u16, String)>> {
        Ok(self
            .db
            .conn()
            .query_row(
                "SELECT status, body FROM idempotency WHERE workspace = ?1 AND key = ?2",
                params![ws, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Keeps the answer to a key (replacing the first answer logged with
    /// the command's events).
    pub(crate) fn remember(&self, ws: &str, key: &str, status: u16, body: &str) -> HubResult<()> {
        self.db.conn().execute(
            "INSERT OR REPLACE INTO idempotency (workspace, key, status, body)
             VALUES (?1, ?2, ?3, ?4)",
            params![ws, key, status, body],
        )?;
        Ok(())
    }
}

/// How long an answer is kept (issue 16 hole 4): a client retries a
/// command within minutes, or after days offline at most; an outbox older
/// than this has long been sent or failed.
pub(crate) const KEEP_ANSWERS_MS: i64 = 7 * 86_400_000;

impl Idempotency {
    /// Forgets answers older than [`KEEP_ANSWERS_MS`]. A row's age counts
    /// from the first run that saw it (`at` 0 until then: writing it needs
    /// no clock, and rows from before step 3 are not taken for ancient).
    /// Returns how many were forgotten.
    pub(crate) fn prune(&self, now: Timestamp) -> HubResult<usize> {
        let mut db = self.db.conn();
        let tx = db.transaction()?;
        tx.execute(
            "UPDATE idempotency SET at = ?1 WHERE at = 0",
            [now.0.max(1)],
        )?;
        let n = tx.execute(
            "DELETE FROM idempotency WHERE at <= ?1",
            [now.0 - KEEP_ANSWERS_MS],
        )?;
        tx.commit()?;
        Ok(n)
    }
}

/// A first answer for `key` (the command's last seq), written in the
/// transaction `tx` that logs the command's events: a command whose events
/// are in the log is never run again, even if the process dies before it
/// answers.
pub(crate) fn first_answer(tx: &Connection, ws: &str, key: &str, last: Seq) -> HubResult<()> {
    tx.execute(
        "INSERT OR IGNORE INTO idempotency (workspace, key, status, body)
         VALUES (?1, ?2, 200, ?3)",
        params![
            ws,
            key,
            serde_json::to_string(&rapport_core::wire::Committed { seq: last })
                .map_err(|e| HubError::Invalid(e.to_string()))?
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;
    use rapport_core::timers::ManualClock;

    /// E7 / issue 16 hole 4: an answer is kept a week from the first
    /// pruning run that saw it, then forgotten; a newer one stays.
    #[test]
    fn e7_answers_are_forgotten_a_week_after_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(1_000_000)));
        let hub = Hub::open_with_clock(dir.path().join("server.db"), clock.clone()).unwrap();
        hub.remember("w1", "old", 200, "{}").unwrap();
        assert_eq!(crate::prune::prune(&hub).unwrap().answers, 0);
        clock.advance_ms(KEEP_ANSWERS_MS - 1);
        hub.remember("w1", "new", 200, "{}").unwrap();
        assert_eq!(crate::prune::prune(&hub).unwrap().answers, 0);
        assert!(hub.idempotent("w1", "old").unwrap().is_some());
        clock.advance_ms(1);
        assert_eq!(crate::prune::prune(&hub).unwrap().answers, 1);
        assert_eq!(hub.idempotent("w1", "old").unwrap(), None);
        assert!(hub.idempotent("w1", "new").unwrap().is_some());
    }
}
