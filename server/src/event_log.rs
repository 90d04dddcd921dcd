//! Each workspace's **event log**, the source of truth, and the state
//! derived from it. Owns the `workspaces` and `events` tables.
//!
//! - The log is in `server.db` (the `--db` file).
//! - Each workspace's current state lives in a Rapport core store beside it
//!   (`<db>.ws-<id>.sqlite`): the same `apply` that clients run derives it
//!   from the log, so server and clients cannot disagree on what a
//!   sequence of events means, and the server answers `since=0` with the
//!   store's snapshot.
//!
//! The log's rows are kept behind [`LogStorage`] (`log_storage`): here, in
//! `server.db` ([`SqliteLog`]).
//!
//! Appending ([`EventLog::append`]): under the workspace's write lock, the
//! events get the next seqs, go into the log (one transaction, which the
//! caller may extend with its own rows), are applied to the store, then
//! broadcast to live streams. If the process dies between log and store,
//! opening the workspace replays the log's tail; if a power loss took the
//! log's tail but not the store's, the store is rebuilt from the log.

use crate::db::{Db, HubError, HubResult, lock};
use crate::log_storage::{LogStorage, SqliteLog};
use rapport_core::Store;
use rapport_core::model::{Cursor, Event, EventPayload, MemberId, Seq, Timestamp};
use rapport_core::timers::Clock;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// One workspace: its state, its write lock and its live feed.
pub struct Workspace {
    pub id: String,
    pub store: Arc<Store>,
    /// Serialises writers: seqs are given out and logged in order.
    write: Mutex<()>,
    pub feed: broadcast::Sender<Arc<FeedBatch>>,
}

/// One committed batch as live streams get it: the events, and their
/// `events` frame serialised once for every stream (issue 16 load: one
/// serialisation per batch, not one per stream and event).
pub struct FeedBatch {
    pub events: Vec<Event>,
    pub frame: axum::extract::ws::Utf8Bytes,
}

/// How every events frame starts, and ends ([`FeedBatch::joined`] relies
/// on it).
const FRAME_HEAD: &str = r#"{"kind":"events","events":["#;
const FRAME_TAIL: &str = "]}";

impl FeedBatch {
    /// The frame of several batches' events in one (a stream that fell a
    /// few batches behind sends them at once): their frames' event lists
    /// joined, without parsing them again.
    pub fn joined(batches: &[Arc<FeedBatch>]) -> axum::extract::ws::Utf8Bytes {
        let parts: Vec<&str> = batches
            .iter()
            .filter_map(|b| {
                b.frame
                    .as_str()
                    .strip_prefix(FRAME_HEAD)?
                    .strip_suffix(FRAME_TAIL)
            })
            .filter(|p| !p.is_empty())
            .collect();
        [FRAME_HEAD, &parts.join(","), FRAME_TAIL].concat().into()
    }

    /// Whether `next` starts at the seq after `prev`'s last: only such
    /// batches are [`joined`](Self::joined) into one frame.
    pub fn follows(prev: &FeedBatch, next: &FeedBatch) -> bool {
        match (prev.events.last(), next.events.first()) {
            (Some(a), Some(b)) => b.seq.0 == a.seq.0 + 1,
            _ => false,
        }
    }

    /// `jsons`: each event's wire JSON, in order (the log's own strings).
    fn new(events: Vec<Event>, jsons: &[String]) -> FeedBatch {
        let mut frame =
            String::with_capacity(jsons.iter().map(|j| j.len() + 1).sum::<usize>() + 32);
        frame.push_str(FRAME_HEAD);
        for (i, j) in jsons.iter().enumerate() {
            if i > 0 {
                frame.push(',');
            }
            frame.push_str(j);
        }
        frame.push_str(FRAME_TAIL);
        FeedBatch {
            events,
            frame: frame.into(),
        }
    }
}

impl Workspace {
    /// Holds off every other writer of the workspace.
    pub(crate) fn lock_writes(&self) -> MutexGuard<'_, ()> {
        lock(&self.write)
    }
}

/// A batch of events just committed to a workspace's log, and who caused
/// it: `actor` is the member whose command emitted them, `None` for the
/// messaging apps, the simulator and the server itself.
pub struct Committed<'a> {
    pub workspace: &'a Workspace,
    pub events: &'a [Event],
    pub actor: Option<&'a MemberId>,
}

pub(crate) struct EventLog {
    rows: SqliteLog,
    /// Server time, for the events' `at`.
    clock: Arc<dyn Clock>,
    /// `server.db`'s path: the workspace stores are named after it.
    path: PathBuf,
    workspaces: Mutex<HashMap<String, Arc<Workspace>>>,
}

impl EventLog {
    /// Loads every workspace, replaying into its store what the log has
    /// beyond it.
    pub(crate) fn open(db: Arc<Db>, path: &Path, clock: Arc<dyn Clock>) -> HubResult<EventLog> {
        let log = EventLog {
            rows: SqliteLog::new(db),
            clock,
            path: path.to_path_buf(),
            workspaces: Mutex::new(HashMap::new()),
        };
        for id in log.rows.workspace_ids()? {
            log.load_workspace(&id)?;
        }
        Ok(log)
    }

    fn store_path(&self, id: &str) -> PathBuf {
        let mut p = self.path.as_os_str().to_owned();
        p.push(format!(".ws-{id}.sqlite"));
        PathBuf::from(p)
    }

    fn load_workspace(&self, id: &str) -> HubResult<Arc<Workspace>> {
        let path = self.store_path(id);
        let mut store = Store::open(&path)?;
        // Both files commit with `synchronous = NORMAL`: after a power loss
        // the log may have lost a tail the store kept. The log is the
        // truth, so a store ahead of it is rebuilt from it; left as it
        // was, new events would reuse seqs the store (and clients) have.
        let head = self.rows.head(id)?;
        let derived = store.last_seq()?;
        if derived > head {
            tracing::warn!(
                workspace = id,
                store = derived.0,
                log = head.0,
                "the workspace store is ahead of its log: rebuilt from the log"
            );
            drop(store);
            store = Store::rebuild(&path)?;
        }
        let store = Arc::new(store);
        let ws = Arc::new(Workspace {
            id: id.to_owned(),
            store,
            write: Mutex::new(()),
            feed: broadcast::channel(1024).0,
        });
        // Replay what the log has and the store does not (a crash between
        // the two writes).
        self.heal(&ws)?;
        lock(&self.workspaces).insert(id.to_owned(), ws.clone());
        Ok(ws)
    }

    /// Applies to the store what the log has beyond it (after a crash, or
    /// an apply that failed after its events were logged). Events this
    /// version cannot decode are kept as the clients keep them.
    fn heal(&self, ws: &Workspace) -> HubResult<()> {
        let mut since = ws.store.last_seq()?;
        loop {
            let tail = self.events_after_raw(ws, since, 10_000)?;
            if tail.is_empty() {
                return Ok(());
            }
            let mut events = Vec::new();
            let mut malformed = Vec::new();
            for json in tail {
                match Event::from_json(&json) {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        let seq = serde_json::from_str::<serde_json::Value>(&json)
                            .ok()
                            .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64))
                            .map(Seq);
                        malformed.push((seq, json, e.to_string()));
                    }
                }
            }
            let before = since;
            ws.store.apply_with_malformed(&events, &malformed)?;
            since = ws.store.last_seq()?;
            if since <= before {
                return Err(HubError::Invalid(format!(
                    "the log does not advance past {before:?}"
                )));
            }
        }
    }

    pub(crate) fn create_workspace(&self, id: &str, name: &str) -> HubResult<Arc<Workspace>> {
        if let Some(ws) = self.workspace(id) {
            return Ok(ws);
        }
        self.rows.create_workspace(id, name)?;
        self.load_workspace(id)
    }

    pub(crate) fn workspace(&self, id: &str) -> Option<Arc<Workspace>> {
        lock(&self.workspaces).get(id).cloned()
    }

    pub(crate) fn workspace_ids(&self) -> Vec<String> {
        lock(&self.workspaces).keys().cloned().collect()
    }

    /// Logs `payloads` as the next events, applies them and
    /// broadcasts them. The caller holds [`Workspace::lock_writes`].
    /// `also` runs inside the log's transaction with the events, so rows
    /// another owner keeps about them commit or vanish with them.
    pub(crate) fn append(
        &self,
        ws: &Workspace,
        payloads: Vec<EventPayload>,
        also: impl FnOnce(&Connection, &[Event]) -> HubResult<()>,
    ) -> HubResult<Vec<Event>> {
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let head = self.head(ws)?;
        if ws.store.last_seq()? < head {
            self.heal(ws)?;
        }
        let at = self.clock.now();
        let count = payloads.len();
        let mut events: Vec<Event> = Vec::with_capacity(count);
        let (_, jsons) = self.rows.append(&ws.id, count, |tx, first| {
            events.extend(payloads.into_iter().enumerate().map(|(i, payload)| Event {
                seq: Seq(first.0 + i as u64),
                at,
                payload,
            }));
            also(tx, &events)?;
            Ok(events.iter().map(Event::to_json).collect())
        })?;
        // The log is the truth from here on, and live streams read the
        // log: they get the batch now, before the store applies it (which
        // only adds to their latency). No stream listening is fine: they
        // read the log when they come.
        if ws.feed.receiver_count() > 0 {
            let _ = ws
                .feed
                .send(Arc::new(FeedBatch::new(events.clone(), &jsons)));
        }
        // The caller still holds the workspace's write lock, so no command
        // checks its rules before the store has the batch. If the store
        // cannot take the events now, the next emit (or a restart) applies
        // them from the log.
        if let Err(e) = ws.store.apply(&events) {
            tracing::error!(error = %e, "workspace store behind its log; it heals on the next write");
        }
        Ok(events)
    }

    /// Appends an event given as raw JSON (`Hub::emit_raw`: forward
    /// compatibility tests).
    /// The caller holds [`Workspace::lock_writes`].
    pub(crate) fn append_raw(
        &self,
        ws: &Workspace,
        type_name: &str,
        data: serde_json::Value,
    ) -> HubResult<Seq> {
        let at = self.clock.now();
        let (seq, mut jsons) = self.rows.append(&ws.id, 1, |_, seq| {
            Ok(vec![
                serde_json::json!({"seq": seq, "at": at, "type": type_name, "data": data})
                    .to_string(),
            ])
        })?;
        let json = jsons.pop().unwrap_or_default();
        match Event::from_json(&json) {
            Ok(e) => {
                ws.store.apply(std::slice::from_ref(&e))?;
                let _ = ws.feed.send(Arc::new(FeedBatch::new(
                    vec![e],
                    std::slice::from_ref(&json),
                )));
            }
            Err(e) => {
                ws.store
                    .apply_with_malformed(&[], &[(Some(seq), json, e.to_string())])?;
            }
        }
        Ok(seq)
    }

    /// The workspace's last seq.
    pub(crate) fn head(&self, ws: &Workspace) -> HubResult<Seq> {
        self.rows.head(&ws.id)
    }

    /// The head, if a client at `cursor` can resume from the log: its seq is
    /// not past the head and, when it says, the log's event there has its
    /// time. `None`: the log lost the client's tail in a crash (and may have
    /// given its seqs to new events), so it needs a fresh snapshot (issue 16
    /// hole 7).
    pub(crate) fn resumes(&self, ws: &Workspace, cursor: Cursor) -> HubResult<Option<Seq>> {
        let head = self.head(ws)?;
        if cursor.seq > head {
            return Ok(None);
        }
        let Some(at) = cursor.at.filter(|_| cursor.seq > Seq(0)) else {
            return Ok(Some(head));
        };
        Ok((self.event_at(ws, cursor.seq)? == Some(at)).then_some(head))
    }

    /// The time of the event at `seq`, as the log holds it.
    pub(crate) fn event_at(&self, ws: &Workspace, seq: Seq) -> HubResult<Option<Timestamp>> {
        #[derive(serde::Deserialize)]
        struct AtOnly {
            at: Timestamp,
        }
        let logged = self.rows.event(&ws.id, seq)?;
        Ok(logged.and_then(|j| serde_json::from_str::<AtOnly>(&j).ok().map(|a| a.at)))
    }

    /// Up to `limit` events after `since`, in order, as the log holds them
    /// (their wire JSON).
    pub(crate) fn events_after_raw(
        &self,
        ws: &Workspace,
        since: Seq,
        limit: u32,
    ) -> HubResult<Vec<String>> {
        self.rows.events_after(&ws.id, since, limit)
    }
}

#[cfg(test)]
mod tests {
    use crate::hub::Hub;
    use crate::hub::tests::opened;

    /// S3 (issue 16 load): live batches joined into one frame are the
    /// stream frame of all their events, in order, as the client decodes
    /// it; an empty batch adds nothing.
    #[test]
    fn s3_joined_batches_are_one_frame_of_all_their_events() {
        use super::FeedBatch;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(dir.path().join("server.db")).unwrap();
        let ws = hub.create_workspace("w1", "One").unwrap();
        let mut live = ws.feed.subscribe();
        hub.emit(&ws, opened(2)).unwrap();
        hub.emit(&ws, opened(1)).unwrap();
        hub.emit(&ws, opened(3)).unwrap();
        let mut batches: Vec<Arc<FeedBatch>> = (0..3).map(|_| live.try_recv().unwrap()).collect();
        batches.insert(1, Arc::new(FeedBatch::new(Vec::new(), &[])));
        let frame = FeedBatch::joined(&batches);
        let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(frame["kind"], "events");
        let seqs: Vec<u64> = frame["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                rapport_core::model::Event::from_json(&e.to_string())
                    .unwrap()
                    .seq
                    .0
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    }

    /// S2 (issue 16 load): only batches that follow each other are joined:
    /// an event logged but not broadcast (one this server cannot decode)
    /// leaves a hole between two batches, and a frame with a hole inside
    /// would let the client skip that event (it catches up only on a frame
    /// that starts above its last seq).
    #[test]
    fn s2_only_consecutive_batches_are_joined() {
        use super::FeedBatch;
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(dir.path().join("server.db")).unwrap();
        let ws = hub.create_workspace("w1", "One").unwrap();
        let mut live = ws.feed.subscribe();
        hub.emit(&ws, opened(2)).unwrap();
        hub.emit(&ws, opened(1)).unwrap();
        hub.emit_raw(&ws, "chat_read", serde_json::json!({"chat": 7}))
            .unwrap();
        hub.emit(&ws, opened(1)).unwrap();
        let batches: Vec<_> = std::iter::from_fn(|| live.try_recv().ok()).collect();
        let runs: Vec<Vec<u64>> = batches
            .chunk_by(|a, b| FeedBatch::follows(a, b))
            .map(|run| {
                run.iter()
                    .flat_map(|b| b.events.iter().map(|e| e.seq.0))
                    .collect()
            })
            .collect();
        assert_eq!(runs, [vec![1, 2, 3], vec![5]], "seq 4 is not broadcast");
    }
}
