//! Members of the workspace (D1): the member record, whole.

use super::Batch;
use crate::model::Member;
use crate::store::{Changes, Result};
use rusqlite::params;

impl Batch<'_> {
    pub(super) fn upsert_member(&mut self, m: &Member, changes: &mut Changes) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO members (id, name, avatar_url, role, conversations_access)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                     avatar_url = excluded.avatar_url, role = excluded.role,
                     conversations_access = excluded.conversations_access",
            )?
            .execute(params![
                m.id.as_str(),
                m.name,
                m.avatar_url,
                m.role,
                m.conversations_access
            ])?;
        changes.members.insert(m.id.clone());
        Ok(())
    }
}
