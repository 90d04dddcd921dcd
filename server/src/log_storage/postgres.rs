//! The event log in PostgreSQL (docs/postgres.md): shared by any number of
//! server instances.
//!
//! - Seqs: each workspace row keeps its `head`; an append raises it by its
//!   count in its transaction (`UPDATE ... RETURNING`), which locks the
//!   row until commit. Appends to one workspace from every instance are
//!   serialised there, so seqs are unique, have no gaps (a rollback takes
//!   its seqs back) and commit in seq order: a reader of "events after N"
//!   never misses one that commits later below it.
//! - Wake-ups: the append notifies `rapport_log` with `<head> <workspace>`
//!   in its transaction; PostgreSQL delivers it after the commit, and only
//!   then. [`PgLog::listen`] hears them on a connection of its own; the
//!   listener reads the events from the log by seq (the payload carries
//!   none).
//!
//! The client is async (tokio-postgres, pooled by deadpool-postgres, no
//! TLS); the seam is blocking, as the rest of the server's storage, so each
//! call runs on the caller's thread with [`Handle::block_on`]. Callers are
//! on tokio's blocking pool (or a plain thread), never on an async worker.

use super::{LogStorage, check_filled};
use crate::db::{HubError, HubResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rapport_core::model::Seq;
use std::future::Future;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel appends notify on.
pub const CHANNEL: &str = "rapport_log";

/// The schema's steps, in order; `rapport_schema` holds how many ran.
/// Never edit a released step: add one at the end.
const STEPS: &[&str] = &["
CREATE TABLE rapport_workspaces (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, head BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE rapport_events (
    workspace TEXT NOT NULL REFERENCES rapport_workspaces (id),
    seq BIGINT NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (workspace, seq)
);
"];

/// Held while the schema is brought up to date, so instances starting
/// together do not both create it (any fixed number: the key of the
/// advisory lock).
const SCHEMA_LOCK: i64 = 0x7261_7070_6f72_7401;

pub struct PgLog {
    pool: Pool,
    config: tokio_postgres::Config,
    rt: Handle,
}

/// An append's transaction, for the rows a caller's `fill` writes with
/// the events.
pub struct PgTx<'t> {
    tx: &'t deadpool_postgres::Transaction<'t>,
    rt: &'t Handle,
}

impl PgTx<'_> {
    /// Runs one statement in the append's transaction; the rows it
    /// changed.
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> HubResult<u64> {
        Ok(self.rt.block_on(self.tx.execute(sql, params))?)
    }
}

impl PgLog {
    /// Connects to the database at `url` (`postgresql://user@host:port/db`
    /// or libpq's `key=value` form) with a pool of up to `connections`,
    /// and brings the log's schema up to date. `rt` runs the client's
    /// connections; call from outside its async workers.
    pub fn connect(url: &str, connections: usize, rt: Handle) -> HubResult<PgLog> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(connections.max(1))
            .build()
            .map_err(|e| HubError::Invalid(format!("postgres pool: {e}")))?;
        let log = PgLog { pool, config, rt };
        log.migrate()?;
        Ok(log)
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn migrate(&self) -> HubResult<()> {
        self.block_on(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS rapport_schema (version BIGINT NOT NULL)")
                .await?;
            let found: i64 = match tx
                .query_opt("SELECT version FROM rapport_schema", &[])
                .await?
            {
                Some(row) => row.get(0),
                None => {
                    tx.execute("INSERT INTO rapport_schema (version) VALUES (0)", &[])
                        .await?;
                    0
                }
            };
            let known = STEPS.len() as i64;
            if found > known {
                return Err(HubError::PgTooNew { found, known });
            }
            for step in &STEPS[found as usize..] {
                tx.batch_execute(step).await?;
            }
            tx.execute("UPDATE rapport_schema SET version = $1", &[&known])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Starts hearing every append's wake-up, on a connection of its own:
    /// appends committed after this returns are all heard (while the
    /// connection lasts: when it drops, [`Wakeups::recv`] ends, and the
    /// listener catches up by reading heads).
    pub fn listen(&self) -> HubResult<Wakeups> {
        let config = self.config.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let (client, task) = self.block_on(async move {
            let (client, mut conn) = config.connect(NoTls).await?;
            let task = tokio::spawn(async move {
                loop {
                    match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(n))) => {
                            match Wakeup::parse(n.payload()) {
                                Some(w) => {
                                    if tx.send(w).is_err() {
                                        return;
                                    }
                                }
                                None => tracing::warn!(
                                    channel = n.channel(),
                                    "a wake-up not of this log's form: ignored"
                                ),
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "the wake-up connection failed");
                            return;
                        }
                        None => return,
                    }
                }
            });
            client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
            Ok::<_, HubError>((client, task))
        })?;
        Ok(Wakeups {
            rx,
            _client: client,
            task,
            rt: self.rt.clone(),
        })
    }
}

/// One committed append, as a listener hears of it: the workspace's head
/// after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wakeup {
    pub workspace: String,
    pub head: Seq,
}

impl Wakeup {
    fn payload(workspace: &str, head: Seq) -> String {
        format!("{} {workspace}", head.0)
    }

    fn parse(payload: &str) -> Option<Wakeup> {
        let (head, workspace) = payload.split_once(' ')?;
        Some(Wakeup {
            workspace: workspace.to_owned(),
            head: Seq(head.parse().ok()?),
        })
    }
}

/// The wake-ups of a [`PgLog::listen`]; dropping it closes its connection.
pub struct Wakeups {
    rx: mpsc::UnboundedReceiver<Wakeup>,
    _client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
    rt: Handle,
}

impl Wakeups {
    /// The next wake-up; `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<Wakeup> {
        self.rx.recv().await
    }

    /// [`Wakeups::recv`] for a blocking caller, waiting at most `wait`:
    /// `Ok(None)` when nothing came in time, an error when the connection
    /// is gone.
    pub fn recv_timeout(&mut self, wait: Duration) -> HubResult<Option<Wakeup>> {
        let rt = self.rt.clone();
        // The timer is made inside the runtime (it needs its clock).
        match rt.block_on(async { tokio::time::timeout(wait, self.rx.recv()).await }) {
            Ok(Some(w)) => Ok(Some(w)),
            Ok(None) => Err(HubError::Invalid(
                "the wake-up connection is closed".to_owned(),
            )),
            Err(_) => Ok(None),
        }
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogStorage for PgLog {
    type Tx<'t> = PgTx<'t>;

    fn create_workspace(&self, id: &str, name: &str) -> HubResult<()> {
        self.block_on(async {
            self.pool
                .get()
                .await?
                .execute(
                    "INSERT INTO rapport_workspaces (id, name) VALUES ($1, $2)
                     ON CONFLICT (id) DO NOTHING",
                    &[&id, &name],
                )
                .await?;
            Ok(())
        })
    }

    fn workspace_ids(&self) -> HubResult<Vec<String>> {
        self.block_on(async {
            let rows = self
                .pool
                .get()
                .await?
                .query("SELECT id FROM rapport_workspaces ORDER BY id", &[])
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn append<F>(&self, workspace: &str, count: usize, fill: F) -> HubResult<(Seq, Vec<String>)>
    where
        F: FnOnce(&PgTx<'_>, Seq) -> HubResult<Vec<String>>,
    {
        let mut client = self.block_on(self.pool.get())?;
        let tx = self.block_on(client.transaction())?;
        // Reserves the seqs and holds the workspace's row until commit.
        let head: i64 = self
            .block_on(async {
                let reserve = tx
                    .prepare_cached(
                        "UPDATE rapport_workspaces SET head = head + $2 WHERE id = $1 RETURNING head",
                    )
                    .await?;
                tx.query_opt(&reserve, &[&workspace, &(count as i64)]).await
            })?
            .ok_or_else(|| HubError::NoWorkspace(workspace.to_owned()))?
            .get(0);
        let first = Seq((head - count as i64 + 1) as u64);
        let jsons = fill(
            &PgTx {
                tx: &tx,
                rt: &self.rt,
            },
            first,
        )?;
        check_filled(count, &jsons)?;
        self.block_on(async {
            if count > 0 {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rapport_events (workspace, seq, event)
                         SELECT $1, $2 + n - 1, event
                         FROM unnest($3::text[]) WITH ORDINALITY AS e (event, n)",
                    )
                    .await?;
                let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
                let payload = Wakeup::payload(workspace, Seq(head as u64));
                // Pipelined: one round trip for both.
                futures_util::future::try_join(
                    tx.execute(&insert, &[&workspace, &(first.0 as i64), &jsons]),
                    tx.execute(&notify, &[&CHANNEL, &payload]),
                )
                .await?;
            }
            tx.commit().await
        })?;
        Ok((first, jsons))
    }

    fn events_after(&self, workspace: &str, since: Seq, limit: u32) -> HubResult<Vec<String>> {
        self.block_on(async {
            let client = self.pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT event FROM rapport_events WHERE workspace = $1 AND seq > $2
                     ORDER BY seq LIMIT $3",
                )
                .await?;
            let rows = client
                .query(&stmt, &[&workspace, &(since.0 as i64), &i64::from(limit)])
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn event(&self, workspace: &str, seq: Seq) -> HubResult<Option<String>> {
        self.block_on(async {
            let client = self.pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT event FROM rapport_events WHERE workspace = $1 AND seq = $2",
                )
                .await?;
            Ok(client
                .query_opt(&stmt, &[&workspace, &(seq.0 as i64)])
                .await?
                .map(|r| r.get(0)))
        })
    }

    /// The committed head: an append still open does not count.
    fn head(&self, workspace: &str) -> HubResult<Seq> {
        self.block_on(async {
            let client = self.pool.get().await?;
            let stmt = client
                .prepare_cached("SELECT head FROM rapport_workspaces WHERE id = $1")
                .await?;
            let head: Option<i64> = client
                .query_opt(&stmt, &[&workspace])
                .await?
                .map(|r| r.get(0));
            Ok(Seq(head.unwrap_or(0) as u64))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeup_payloads_round_trip() {
        for ws in ["w1", "a workspace with spaces", ""] {
            let p = Wakeup::payload(ws, Seq(42));
            assert_eq!(
                Wakeup::parse(&p),
                Some(Wakeup {
                    workspace: ws.to_owned(),
                    head: Seq(42)
                })
            );
        }
        assert_eq!(Wakeup::parse("x w1"), None);
        assert_eq!(Wakeup::parse("12"), None);
    }
}
