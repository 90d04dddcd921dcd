//! Bots: the bot record, whole.

use super::Batch;
use crate::model::Bot;
use crate::store::{Changes, Result};
use rusqlite::params;

impl Batch<'_> {
    pub(super) fn upsert_bot(&mut self, b: &Bot, changes: &mut Changes) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO bots (id, app, name, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET app = excluded.app,
                     name = excluded.name, created_at = excluded.created_at",
            )?
            .execute(params![b.id.as_str(), b.app.code(), b.name, b.created_at.0])?;
        changes.bots.insert(b.id.clone());
        Ok(())
    }
}
