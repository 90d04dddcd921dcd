//! The answers given to commands, per idempotency key, so a command sent
//! again gets its first answer instead of running twice. Owns the
//! `idempotency` table.
//!
//! A key is scoped by the caller (the commands scope it to the member and
//! the route); to this module it is an opaque string and never parsed.

use crate::db::{Db, HubError, HubResult};
use rapport_core::model::Seq;
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
