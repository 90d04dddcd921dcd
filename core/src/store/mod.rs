//! The offline store (S1): one SQLite file per logged-in member.
//!
//! Connections and locking (see also docs/store.md):
//! - one **writer** connection behind a mutex: every write is one
//!   `BEGIN IMMEDIATE` transaction (`apply`, `store_history`, `set_me`), and
//!   after it commits, the commit listeners (`observe`) run on the same
//!   connection, still holding the lock, so they see exactly that commit and
//!   diffs leave in commit order;
//! - a small pool of **read-only** connections for queries (list pages,
//!   counts, search, timelines): in WAL mode they never block the writer and
//!   each query sees one consistent snapshot;
//! - another process (the notification extension) may open the same file:
//!   SQLite's locks and a 5 s busy timeout serialise the writers.

pub(crate) mod apply;
mod card;
mod changes;
pub(crate) mod chat_list;
mod codec;
mod error;
pub(crate) mod filter;
pub mod fold;
pub mod inspect;
mod schema;
mod sendpulse;
mod stats;
pub(crate) mod timeline;

pub use apply::SnapshotPart;
pub use changes::{Changes, TimelineItemId};
pub use chat_list::{ChatCursor, ChatPage};
pub use error::{Result, StoreError};
pub use filter::{AssigneeFilter, ChatFilter, StatusCounts, StatusFilter};
pub use sendpulse::LostSend;
pub use timeline::{TimelineCursor, TimelineItem, TimelinePage};

pub(crate) use chat_list::ChatKey;
pub(crate) use timeline::TimelineKey;

use crate::model::{Event, MemberId, Seq};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// `PRAGMA application_id` of a Rapport store ("RPRT"): a SQLite file of
/// another program is refused as [`StoreError::Corrupt`] rather than altered.
const APPLICATION_ID: i64 = 0x5250_5254;

/// Read connections kept open when idle.
const MAX_IDLE_READERS: usize = 4;

/// The writer's page cache between catch-up pages, in KiB.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// Issue 18: a write of at least this many events is a catch-up page (the
/// live stream applies a few at a time)...
const CATCH_UP_EVENTS: usize = 1000;

/// ...and raises the writer's page cache to this until catch-up ends (the
/// next smaller batch, or a checkpoint): a 20,000-event page at 100k chats
/// dirties some 50 MB of chat, index and timeline pages, and what does not
/// fit the cache spills to the WAL before the commit, to be read back and
/// written again; kept from page to page, the cache also keeps the chat
/// rows and index pages the next page reads again.
const CATCH_UP_CACHE_KIB: i64 = 64 * 1024;

/// The automatic checkpoint's threshold (WAL pages) outside catch-up:
/// SQLite's default.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// ...and during catch-up: 128 MiB of 4 KiB pages. A 20,000-event page at
/// 100k chats writes some 14,000 pages (57 MB) to the WAL, so the default
/// checkpointed after every page, each time copying the page's writes into
/// the database and syncing both files; every second or third page now
/// does, and a page written again by the next catch-up page is copied once.
/// The WAL peaks near this plus one page's writes (about 185 MB at 100k
/// chats); the checkpoint at the end of a sync (`Store::checkpoint`) or the
/// first live batch brings it back.
const CATCH_UP_AUTOCHECKPOINT_PAGES: i64 = 32 * 1024;

/// `journal_size_limit` outside catch-up (bytes): after a checkpoint the WAL
/// is cut back to this. During catch-up it is not cut (-1): cut to 4 MiB
/// after every checkpoint, the file grew again by the next page's writes.
const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// Something that wants to hear about every committed write.
///
/// Called on the writer connection with the write lock held: it may read
/// through `conn`, must not block for long, and must not write.
pub(crate) trait CommitListener: Send + Sync {
    fn committed(&self, conn: &Connection, changes: &Changes);
}

pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// Whether the writer's cache is at `CATCH_UP_CACHE_KIB` (changed only
    /// with the writer locked).
    catch_up_cache: AtomicBool,
    readers: Mutex<Vec<Connection>>,
    me: RwLock<Option<MemberId>>,
    listeners: RwLock<Vec<Arc<dyn CommitListener>>>,
}

thread_local! {
    /// Set while listeners run under the write lock on this thread.
    static INSIDE_LISTENER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running listeners until dropped.
struct InsideListener(bool);

impl InsideListener {
    fn enter() -> InsideListener {
        InsideListener(INSIDE_LISTENER.with(|f| f.replace(true)))
    }
}

impl Drop for InsideListener {
    fn drop(&mut self) {
        INSIDE_LISTENER.with(|f| f.set(self.0));
    }
}

/// A listener that writes, subscribes or resizes a window from inside its
/// callback would lock the writer it already holds: refuse instead of
/// deadlocking.
fn reentrancy_check() -> Result<()> {
    if INSIDE_LISTENER.with(|f| f.get()) {
        return Err(StoreError::Reentrant);
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the connection usable: any open
    // transaction was rolled back when it was dropped.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Issue 16, disk faults: SQLite tells a store it cannot write (a
/// read-only mount or file) as "unable to open" when its WAL cannot be
/// made; the file itself says which it is.
fn read_only_or(e: StoreError, path: &Path) -> StoreError {
    let StoreError::Sqlite(inner) = &e else {
        return e;
    };
    if inner.sqlite_error_code() != Some(rusqlite::ErrorCode::CannotOpen) {
        return e;
    }
    match std::fs::OpenOptions::new().append(true).open(path) {
        Err(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            StoreError::ReadOnly(format!("{inner} ({io})"))
        }
        _ => e,
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date. A damaged file gives [`StoreError::Corrupt`]; then
    /// [`Store::rebuild`] starts afresh and sync refills it from the server.
    /// A file that cannot be written (a read-only mount) gives
    /// [`StoreError::ReadOnly`]; a full disk on a write [`StoreError::Full`].
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        Self::open_writable(path.clone()).map_err(|e| read_only_or(e, &path))
    }

    fn open_writable(path: PathBuf) -> Result<Store> {
        let mut conn = Connection::open(&path)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::configure(&conn)?;
        // The writer's cache is larger: a catch-up batch touches index pages
        // all over the file, and pages that do not fit spill to the WAL
        // before the commit and are read back. 16 MiB (negative = KiB),
        // allocated only as it fills; catch-up pages raise it while they
        // last (`CATCH_UP_CACHE_KIB`).
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let app_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        if version > 0 && app_id != APPLICATION_ID {
            return Err(StoreError::Corrupt {
                detail: "not a Rapport store".into(),
            });
        }
        if version > schema::LATEST {
            return Err(StoreError::TooNew {
                found: version,
                known: schema::LATEST,
            });
        }
        if version < schema::LATEST {
            schema::migrations().to_latest(&mut conn)?;
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        let me = meta_get(&conn, "me")?.map(MemberId);
        Ok(Store {
            path,
            writer: Mutex::new(conn),
            catch_up_cache: AtomicBool::new(false),
            readers: Mutex::new(Vec::new()),
            me: RwLock::new(me),
            listeners: RwLock::new(Vec::new()),
        })
    }

    /// Deletes the store's files (S5 logout). Close every `Store` on the
    /// file first.
    pub fn wipe(path: &Path) -> Result<()> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::remove_file(PathBuf::from(p)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The logged-in member, whom "mine" (A4) means.
    pub fn me(&self) -> Option<MemberId> {
        self.me.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets who "me" is and reclassifies every chat's assignee (A4).
    pub fn set_me(&self, me: MemberId) -> Result<Changes> {
        // "me" changes in memory with the commit, under the write lock, so
        // no flush ever computes buckets with one "me" against rows of the
        // other.
        self.write(|tx, changes, _| {
            meta_set(tx, "me", me.as_str())?;
            tx.execute(
                "UPDATE chats SET aclass = CASE WHEN assignee IS NULL THEN 0
                     WHEN assignee = ?1 THEN 1 ELSE 2 END",
                [me.as_str()],
            )?;
            apply::recount(tx)?;
            changes.counts = true;
            changes.all_chats = true;
            changes.me = Some(me.clone());
            Ok(())
        })
    }

    /// The seq of the last event applied: where the change feed resumes.
    pub fn last_seq(&self) -> Result<Seq> {
        self.read(|c| {
            Ok(Seq(meta_get(c, "last_seq")?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)))
        })
    }

    /// Where the change feed resumes, with the time of the event there: the
    /// server checks both (issue 16 hole 7, [`crate::model::Cursor`]).
    pub fn cursor(&self) -> Result<crate::model::Cursor> {
        self.read(|c| {
            let seq = Seq(meta_get(c, "last_seq")?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0));
            let at = meta_get(c, "last_at")?
                .and_then(|s| s.parse().ok())
                .map(crate::model::Timestamp);
            Ok(crate::model::Cursor { seq, at })
        })
    }

    /// Writes a batch of server events in one transaction and reports what
    /// changed. Events whose seq was already applied change nothing.
    #[tracing::instrument(level = "debug", skip_all, fields(events = events.len()))]
    pub fn apply(&self, events: &[Event]) -> Result<Changes> {
        self.write_cached(Some(events.len() >= CATCH_UP_EVENTS), |tx, changes, me| {
            apply::apply_events(tx, me, events, changes)
        })
    }

    /// Like [`Store::apply`], plus events that could not be decoded
    /// (`(seq, raw JSON, reason)`): they are kept in `kept_events` (reason
    /// `malformed`), not dropped, and the last seq moves past them so the
    /// feed goes on. One transaction.
    pub fn apply_with_malformed(
        &self,
        events: &[Event],
        malformed: &[(Option<Seq>, String, String)],
    ) -> Result<Changes> {
        let catch_up = events.len() + malformed.len() >= CATCH_UP_EVENTS;
        self.write_cached(Some(catch_up), |tx, changes, me| {
            apply::apply_events(tx, me, events, changes)?;
            apply::keep_malformed(tx, malformed, changes)
        })
    }

    /// Applies a snapshot (the feed's `since=0`) in one transaction; the
    /// store's last seq becomes the snapshot's.
    #[tracing::instrument(level = "debug", skip_all, fields(chats = snapshot.chats.len()))]
    pub fn apply_snapshot(&self, snapshot: &crate::model::Snapshot) -> Result<Changes> {
        self.write(|tx, changes, me| apply::apply_snapshot(tx, me, snapshot, changes))
    }

    /// Issue 18: applies one page of a paged snapshot in one transaction
    /// (see [`SnapshotPart`]) and remembers the next page's cursor (`None`
    /// after the last), so that a killed app goes on with the pages.
    #[tracing::instrument(level = "debug", skip_all, fields(chats = page.chats.len()))]
    pub fn apply_snapshot_page(
        &self,
        page: &crate::model::Snapshot,
        part: SnapshotPart,
        next: Option<&str>,
    ) -> Result<Changes> {
        self.write_cached(Some(true), |tx, changes, me| {
            apply::apply_snapshot_page(tx, me, page, part, next, changes)
        })
    }

    /// Issue 18: the cursor of the next page of a paged snapshot not yet
    /// applied (`None`: no snapshot under way).
    pub fn snapshot_next(&self) -> Result<Option<String>> {
        self.read(|c| meta_get(c, "snapshot_next"))
    }

    /// Issue 16 hole 7: the feed answered a snapshot to a `since` ahead of
    /// its head (the server lost its log's tail). Replaces everything
    /// derived from the feed with the snapshot in one transaction, keeping
    /// the outbox, its files, the local settings and the echoes of queued
    /// commands; the last seq becomes the snapshot's (even below the old
    /// one). Observers get every window again whole ([`Changes::resync`]).
    #[tracing::instrument(level = "debug", skip_all, fields(chats = snapshot.chats.len()))]
    pub fn resync(&self, snapshot: &crate::model::Snapshot) -> Result<Changes> {
        self.write(|tx, changes, me| apply::resync(tx, me, snapshot, changes))
    }

    /// Stores messages fetched outside the change feed (older history, B1;
    /// a snapshot's latest messages). They never count as unread.
    #[tracing::instrument(level = "debug", skip_all, fields(messages = messages.len()))]
    pub fn store_history(
        &self,
        chat: &crate::model::ChatId,
        messages: &[crate::model::Message],
    ) -> Result<Changes> {
        self.write(|tx, changes, me| apply::store_history(tx, me, chat, messages, changes))
    }

    /// Runs a checkpoint that moves the WAL into the database and truncates
    /// the WAL file. Call after a large sync.
    pub fn checkpoint(&self) -> Result<()> {
        reentrancy_check()?;
        let conn = lock(&self.writer);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        // The sync that called this is over: the cache goes back too.
        self.set_catch_up_cache(&conn, false)
    }

    /// Bytes of the database file and of its WAL.
    pub fn file_sizes(&self) -> (u64, u64) {
        let size = |suffix: &str| {
            let mut p = self.path.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(PathBuf::from(p)).map_or(0, |m| m.len())
        };
        (size(""), size("-wal"))
    }

    /// Runs `f` on a read-only connection from the pool.
    ///
    /// With no idle reader, an idle writer serves the read instead of a new
    /// connection being opened: on a cold start the first page is read on
    /// the connection `open` already made (the writer is idle exactly when
    /// its lock is free, so it has no transaction open).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                if let Ok(writer) = self.writer.try_lock() {
                    return f(&writer);
                }
                self.open_reader()?
            }
        };
        let out = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }

    fn open_reader(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -4096;")?;
        Ok(conn)
    }

    /// One write transaction; on commit, the listeners hear what changed.
    pub(crate) fn write(
        &self,
        f: impl FnOnce(&Transaction<'_>, &mut Changes, Option<&MemberId>) -> Result<()>,
    ) -> Result<Changes> {
        self.write_cached(None, f)
    }

    /// [`Store::write`] after setting the writer's page cache: `Some(true)`
    /// a catch-up page (the larger cache, kept for the next page), `Some(false)`
    /// a live batch (back to the usual size: catch-up is over), `None` as it
    /// is.
    fn write_cached(
        &self,
        catch_up: Option<bool>,
        f: impl FnOnce(&Transaction<'_>, &mut Changes, Option<&MemberId>) -> Result<()>,
    ) -> Result<Changes> {
        reentrancy_check()?;
        let mut conn = lock(&self.writer);
        if let Some(big) = catch_up {
            self.set_catch_up_cache(&conn, big)?;
        }
        self.write_locked(&mut conn, f)
    }

    /// Sets the writer's cache and WAL thresholds for catch-up or back (the
    /// writer locked). Lowering the size frees the pages above it; the next
    /// commit after catch-up checkpoints and cuts the WAL back.
    fn set_catch_up_cache(&self, conn: &Connection, big: bool) -> Result<()> {
        if self.catch_up_cache.load(Ordering::Relaxed) != big {
            let kib = if big {
                CATCH_UP_CACHE_KIB
            } else {
                WRITER_CACHE_KIB
            };
            conn.pragma_update(None, "cache_size", -kib)?;
            let (autocheckpoint, size_limit) = if big {
                (CATCH_UP_AUTOCHECKPOINT_PAGES, -1)
            } else {
                (WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT)
            };
            // Both pragmas answer with their new value: read, not executed.
            conn.query_row(
                &format!("PRAGMA wal_autocheckpoint = {autocheckpoint}"),
                [],
                |_| Ok(()),
            )?;
            conn.query_row(
                &format!("PRAGMA journal_size_limit = {size_limit}"),
                [],
                |_| Ok(()),
            )?;
            self.catch_up_cache.store(big, Ordering::Relaxed);
        }
        Ok(())
    }

    fn write_locked(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&Transaction<'_>, &mut Changes, Option<&MemberId>) -> Result<()>,
    ) -> Result<Changes> {
        let me = self.me();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changes = Changes::default();
        f(&tx, &mut changes, me.as_ref())?;
        tx.commit()?;
        if let Some(me) = changes.me.clone() {
            *self.me.write().unwrap_or_else(|e| e.into_inner()) = Some(me);
        }
        if !changes.is_empty() {
            let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
            let _inside = InsideListener::enter();
            for l in listeners.iter() {
                l.committed(conn, &changes);
            }
        }
        Ok(changes)
    }

    /// Runs `f` with the writer connection locked: no write can commit
    /// meanwhile. `observe` uses it to take a window's first value and start
    /// listening at the same instant.
    pub(crate) fn with_writer<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        reentrancy_check()?;
        let conn = lock(&self.writer);
        let _inside = InsideListener::enter();
        f(&conn)
    }

    pub(crate) fn add_listener(&self, l: Arc<dyn CommitListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(l);
    }
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        schema::migrations().validate().unwrap();
    }

    /// Issue 18: a catch-up page raises the writer's cache and checkpoint
    /// threshold and stops cutting the WAL back; a live batch, or the
    /// checkpoint after a sync, puts all three back (the checkpoint also
    /// empties the WAL).
    #[test]
    fn catch_up_pages_checkpoint_less_often_until_catch_up_ends() {
        use crate::generate::{GenConfig, Generator};
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        let settings = |s: &Store| -> (i64, i64, i64) {
            let conn = lock(&s.writer);
            let get = |p: &str| conn.pragma_query_value(None, p, |r| r.get(0)).unwrap();
            (
                get("cache_size"),
                get("wal_autocheckpoint"),
                get("journal_size_limit"),
            )
        };
        let usual = (-WRITER_CACHE_KIB, WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT);
        let catch_up = (-CATCH_UP_CACHE_KIB, CATCH_UP_AUTOCHECKPOINT_PAGES, -1);
        assert_eq!(settings(&s), usual);
        let mut generator = Generator::new(GenConfig::new(50, 20_000));
        for _ in 0..3 {
            s.apply(&generator.batch(CATCH_UP_EVENTS)).unwrap();
            assert_eq!(settings(&s), catch_up);
        }
        s.apply(&generator.batch(10)).unwrap();
        assert_eq!(settings(&s), usual);
        s.apply(&generator.batch(CATCH_UP_EVENTS)).unwrap();
        assert_eq!(settings(&s), catch_up);
        s.checkpoint().unwrap();
        assert_eq!(settings(&s), usual);
        assert_eq!(s.file_sizes().1, 0);
    }

    /// Issue 16 hole 7: the cursor the client resumes from is the last
    /// event's seq and time; an undecodable last event has no known time, a
    /// snapshot brings its own.
    #[test]
    fn s2_the_cursor_is_the_last_events_seq_and_time() {
        use crate::model::{Bot, BotId, Cursor, EventPayload, Snapshot, Timestamp};
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        assert_eq!(s.cursor().unwrap(), Cursor::default());
        let bot = |seq: u64, at: i64| Event {
            seq: Seq(seq),
            at: Timestamp(at),
            payload: EventPayload::BotUpserted(Bot {
                id: BotId::from("b1"),
                app: crate::model::App::Telegram,
                name: "Bot".into(),
                created_at: Timestamp(0),
            }),
        };
        s.apply(&[bot(2, 20), bot(1, 10)]).unwrap();
        let c = s.cursor().unwrap();
        assert_eq!((c.seq, c.at), (Seq(2), Some(Timestamp(20))));
        // A duplicate below the cursor moves nothing.
        s.apply(&[bot(1, 99)]).unwrap();
        assert_eq!(s.cursor().unwrap().at, Some(Timestamp(20)));
        s.apply_with_malformed(&[], &[(Some(Seq(3)), "{}".into(), "bad".into())])
            .unwrap();
        assert_eq!(s.cursor().unwrap(), Cursor::from(Seq(3)));
        let snap = Snapshot {
            seq: Seq(9),
            at: Some(Timestamp(90)),
            ..Snapshot::default()
        };
        s.resync(&snap).unwrap();
        let c = s.cursor().unwrap();
        assert_eq!((c.seq, c.at), (Seq(9), Some(Timestamp(90))));
    }

    #[test]
    fn s1_reopening_keeps_schema_and_me() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = Store::open(&path).unwrap();
        s.set_me(MemberId::from("m1")).unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.me(), Some(MemberId::from("m1")));
        assert_eq!(s.last_seq().unwrap(), Seq(0));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_corrupt_and_can_be_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Store::open(&path).err().expect("must refuse");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.needs_rebuild());
        let s = Store::rebuild(&path).unwrap();
        assert_eq!(s.last_seq().unwrap(), Seq(0));
    }

    #[test]
    fn another_programs_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t(x); PRAGMA user_version = 3;")
            .unwrap();
        drop(c);
        let err = Store::open(&path).err().expect("must refuse");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let c = Connection::open(&path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    /// Issue 16 hole 7: a store ahead of the server's feed takes a fresh
    /// snapshot in place of everything it derived, keeps its outbox, the
    /// queued reply's echo, its mutes and "me", moves its last seq back to
    /// the snapshot's, and an open timeline is read again whole.
    #[test]
    fn s2_resync_replaces_the_derived_state_and_keeps_the_outbox() {
        use crate::generate::{GenConfig, Generator};
        use crate::model::{MessageId, Timestamp};
        let dir = tempfile::tempdir().unwrap();
        let server = Store::open(dir.path().join("server.db")).unwrap();
        let client = Store::open(dir.path().join("client.db")).unwrap();
        let mut generator = Generator::new(GenConfig::new(5, 60));
        let common = generator.batch(40);
        server.apply(&common).unwrap();
        client.apply(&common).unwrap();
        // The tail the server then lost.
        client.apply(&generator.batch(20)).unwrap();
        assert!(client.last_seq().unwrap() > server.last_seq().unwrap());
        client.set_me(MemberId::from("m1")).unwrap();
        let chat = server
            .chat_page(&ChatFilter::default(), None, 1)
            .unwrap()
            .rows[0]
            .chat
            .id
            .clone();
        client.set_muted(&chat, true).unwrap();
        let echo_id = MessageId::from("echo-1");
        let action = crate::sync::Action::SendText {
            chat_id: chat.clone(),
            text: "queued".into(),
            message_id: Some(echo_id.clone()),
        };
        let echo = crate::outbox::echo(
            echo_id.clone(),
            &chat,
            MemberId::from("m1"),
            crate::model::Content::Text {
                text: "queued".into(),
            },
            Timestamp(4_000_000_000_000),
        );
        client
            .enqueue(&action, "k1", Some(&echo), Timestamp(1))
            .unwrap();
        let client = Arc::new(client);
        let observer = crate::observe::Observer::new(client.clone());
        let resets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let _sub = observer
            .subscribe_timeline(chat.clone(), 50, {
                let resets = resets.clone();
                move |diffs| {
                    for d in diffs {
                        if matches!(d, crate::observe::ListDiff::Reset { .. }) {
                            resets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            })
            .unwrap();
        let before = resets.load(std::sync::atomic::Ordering::SeqCst);

        let changes = client.resync(&server.snapshot(20).unwrap()).unwrap();
        assert!(changes.resync);
        assert_eq!(client.last_seq().unwrap(), server.last_seq().unwrap());
        assert_eq!(client.me(), Some(MemberId::from("m1")));
        assert_eq!(client.unsent_commands().unwrap(), 1, "the outbox kept");
        assert!(client.has_message(&echo_id).unwrap(), "the echo kept");
        let muted: bool = client
            .read(|c| {
                Ok(c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM chat_muted WHERE chat_id = ?1)",
                    [chat.as_str()],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert!(muted, "the mute kept");
        assert!(
            resets.load(std::sync::atomic::Ordering::SeqCst) > before,
            "the timeline read again whole"
        );
        // Every other chat is the server's, row for row.
        let rows = |s: &Store| -> Vec<_> {
            s.chat_page(&ChatFilter::default(), None, u32::MAX)
                .unwrap()
                .rows
                .into_iter()
                .filter(|r| r.chat.id != chat)
                .collect()
        };
        assert_eq!(rows(&client), rows(&server));
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let err = Store::open(&path).err().expect("must refuse");
        assert!(
            matches!(err, StoreError::TooNew { found: 99, .. }),
            "{err:?}"
        );
    }
}
