//! The event log in `server.db`: the `workspaces` and `events` tables, on
//! the writer connection the table owners share (see `db`).

use super::{LogStorage, check_filled};
use crate::db::{Db, HubError, HubResult};
use rapport_core::model::Seq;
use rusqlite::{OptionalExtension, Transaction, params};
use std::path::Path;
use std::sync::Arc;

pub struct SqliteLog {
    db: Arc<Db>,
}

impl SqliteLog {
    pub(crate) fn new(db: Arc<Db>) -> SqliteLog {
        SqliteLog { db }
    }

    /// Opens (or creates) a `server.db` for its log alone.
    pub fn open(path: &Path) -> HubResult<SqliteLog> {
        Ok(SqliteLog::new(Arc::new(Db::open(path)?)))
    }
}

impl LogStorage for SqliteLog {
    type Tx<'t> = Transaction<'t>;

    fn create_workspace(&self, id: &str, name: &str) -> HubResult<()> {
        self.db.conn().execute(
            "INSERT OR IGNORE INTO workspaces (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
        Ok(())
    }

    fn workspace_ids(&self) -> HubResult<Vec<String>> {
        let db = self.db.conn();
        let mut stmt = db.prepare("SELECT id FROM workspaces")?;
        Ok(stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The writer connection is the one writer of `server.db`, so the head
    /// read in the transaction stays the head until it commits.
    fn append<F>(&self, workspace: &str, count: usize, fill: F) -> HubResult<(Seq, Vec<String>)>
    where
        F: FnOnce(&Transaction<'_>, Seq) -> HubResult<Vec<String>>,
    {
        let mut db = self.db.conn();
        let tx = db.transaction()?;
        let (known, head): (bool, Option<i64>) = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = ?1),
                        (SELECT max(seq) FROM events WHERE workspace = ?1)",
            )?
            .query_row([workspace], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if !known {
            return Err(HubError::NoWorkspace(workspace.to_owned()));
        }
        let first = Seq(head.unwrap_or(0) as u64 + 1);
        let jsons = fill(&tx, first)?;
        check_filled(count, &jsons)?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO events (workspace, seq, event) VALUES (?1, ?2, ?3)")?;
            for (i, json) in jsons.iter().enumerate() {
                stmt.execute(params![workspace, (first.0 + i as u64) as i64, json])?;
            }
        }
        tx.commit()?;
        Ok((first, jsons))
    }

    fn events_after(&self, workspace: &str, since: Seq, limit: u32) -> HubResult<Vec<String>> {
        let db = self.db.conn();
        let mut stmt = db.prepare_cached(
            "SELECT event FROM events WHERE workspace = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![workspace, since.0 as i64, limit], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn event(&self, workspace: &str, seq: Seq) -> HubResult<Option<String>> {
        Ok(self
            .db
            .conn()
            .prepare_cached("SELECT event FROM events WHERE workspace = ?1 AND seq = ?2")?
            .query_row(params![workspace, seq.0 as i64], |r| r.get(0))
            .optional()?)
    }

    fn head(&self, workspace: &str) -> HubResult<Seq> {
        let n: Option<i64> = self.db.conn().query_row(
            "SELECT max(seq) FROM events WHERE workspace = ?1",
            [workspace],
            |r| r.get(0),
        )?;
        Ok(Seq(n.unwrap_or(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    use crate::hub::Hub;
    use crate::hub::tests::opened;
    use rapport_core::model::Seq;
    use rusqlite::Connection;

    /// Issue 16, hole 7: a power loss took the log's tail but not the
    /// workspace store's. Reopening rebuilds the store from the log, so the
    /// next event takes the seq after the log's head and the store holds
    /// exactly what the log says.
    #[test]
    fn s2_a_store_ahead_of_its_log_is_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        {
            let hub = Hub::open(&path).unwrap();
            let ws = hub.create_workspace("w1", "One").unwrap();
            hub.emit(&ws, opened(5)).unwrap();
        }
        Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM events WHERE seq > 3", [])
            .unwrap();
        let hub = Hub::open(&path).unwrap();
        let ws = hub.workspace("w1").unwrap();
        assert_eq!(ws.store.last_seq().unwrap(), Seq(3), "back to the log");
        assert_eq!(hub.emit(&ws, opened(1)).unwrap()[0].seq, Seq(4));
        assert_eq!(ws.store.last_seq().unwrap(), Seq(4));
    }
}
