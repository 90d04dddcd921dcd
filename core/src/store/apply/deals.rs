//! Deals (G1-G3): the deal record, whole, keyed by its subscriber.

use super::Batch;
use crate::model::{Deal, DealId};
use crate::store::codec::to_json;
use crate::store::{Changes, Result};
use rusqlite::params;

impl Batch<'_> {
    pub(super) fn upsert_deal(&mut self, d: &Deal, changes: &mut Changes) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO deals (id, subscriber_id, deal) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET subscriber_id = excluded.subscriber_id,
                     deal = excluded.deal",
            )?
            .execute(params![d.id.as_str(), d.subscriber_id.as_str(), to_json(d)])?;
        changes.deals.insert(d.id.clone());
        Ok(())
    }

    pub(super) fn delete_deal(&mut self, deal_id: &DealId, changes: &mut Changes) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM deals WHERE id = ?1")?
            .execute([deal_id.as_str()])?;
        changes.deals.insert(deal_id.clone());
        Ok(())
    }
}
