//! The server's storage behind one handle, [`Hub`]: it holds the server's
//! clock and the table owners, and runs a command's write path across
//! them. It runs no SQL itself.
//!
//! - `db`: the `server.db` connection and its schema steps.
//! - `event_log`: workspaces, their event log and their state.
//! - `accounts`: credentials and sessions.
//! - `idempotency`: the answers per idempotency key.
//! - uploads and notifications own their tables in `uploads` and
//!   `notify`, which take the connection through [`Hub::db`].
//!
//! Writing ([`Hub::emit`]): under the workspace's write lock the events
//! are logged (with a command's first answer, in one transaction), applied
//! and broadcast; then every hook registered with [`Hub::on_commit`] hears
//! of the [`Committed`] batch and who caused it.

pub use crate::accounts::{Issued, REFRESH_GRACE_MS, Session};
pub use crate::db::{HubError, HubResult};
pub use crate::event_log::{Committed, Workspace};

use crate::accounts::{Accounts, Lifetimes};
use crate::db::{Db, lock};
use crate::event_log::EventLog;
use crate::idempotency::{self, Idempotency};
use rapport_core::model::{Cursor, Event, EventPayload, Member, MemberId, Seq, Timestamp};
use rapport_core::timers::Clock;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Told of every batch committed to a log, after the commit, with the
/// workspace's write lock still held (so batches arrive in log order).
/// Best effort: a hook must not fail the write, and must not emit.
pub type CommitHook = Arc<dyn Fn(&Hub, &Committed<'_>) + Send + Sync>;

/// The command running under a workspace's write lock.
struct Running {
    actor: Option<MemberId>,
    key: Option<String>,
}

pub struct Hub {
    /// Server time: the system clock, or a test's manual clock.
    clock: Arc<dyn Clock>,
    db: Arc<Db>,
    log: EventLog,
    accounts: Accounts,
    idempotency: Idempotency,
    /// Per workspace id, the command inside [`Hub::exclusive_as`].
    running: Mutex<HashMap<String, Running>>,
    hooks: RwLock<Vec<CommitHook>>,
    /// Access-token lifetime (ms); tests shorten it.
    pub token_ttl_ms: AtomicI64,
    pub refresh_ttl_ms: i64,
}

/// The system clock's time (the default server clock).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

/// Server time from the system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
    fn sleep_until(&self, t: Timestamp) -> rapport_core::timers::clock::BoxFuture {
        let wait = (t.0 - now().0).max(0) as u64;
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(wait)))
    }
}

/// Clears the running command when `exclusive_as` ends, even by a panic.
struct Finish<'a>(&'a Mutex<HashMap<String, Running>>, &'a str);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(self.1);
    }
}

impl Hub {
    pub fn open(path: impl AsRef<Path>) -> HubResult<Hub> {
        Hub::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Server time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Opens `server.db` (bringing its schema to the latest version, see
    /// `db`) and every workspace in it.
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> HubResult<Hub> {
        let path = path.as_ref();
        let db = Arc::new(Db::open(path)?);
        Ok(Hub {
            log: EventLog::open(db.clone(), path, clock.clone())?,
            accounts: Accounts::new(db.clone()),
            idempotency: Idempotency::new(db.clone()),
            clock,
            db,
            running: Mutex::new(HashMap::new()),
            hooks: RwLock::new(Vec::new()),
            token_ttl_ms: AtomicI64::new(3_600_000),
            refresh_ttl_ms: 30 * 86_400_000,
        })
    }

    /// Registers a hook told of every committed batch (notifications).
    pub fn on_commit(&self, hook: impl Fn(&Hub, &Committed<'_>) + Send + Sync + 'static) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(hook));
    }

    /// The `server.db` connection, for the modules that own tables in it
    /// (uploads, notify); see `db`.
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.conn()
    }

    /// A read-only `server.db` connection that does not queue behind the
    /// writer, for the same modules' reads (downloads, settings); see `db`.
    pub(crate) fn reader(&self) -> HubResult<crate::db::Reader<'_>> {
        self.db.read()
    }

    pub fn create_workspace(&self, id: &str, name: &str) -> HubResult<Arc<Workspace>> {
        self.log.create_workspace(id, name)
    }

    pub fn workspace(&self, id: &str) -> Option<Arc<Workspace>> {
        self.log.workspace(id)
    }

    /// The ids of the workspaces loaded.
    pub fn workspace_ids(&self) -> Vec<String> {
        self.log.workspace_ids()
    }

    /// Adds a member with login credentials (and announces the member).
    pub fn add_account(
        &self,
        ws: &Workspace,
        email: &str,
        password: &str,
        member: Member,
    ) -> HubResult<()> {
        self.accounts
            .set_password(email, password, &ws.id, member.id.as_str())?;
        self.emit(ws, vec![EventPayload::MemberUpserted(member)])?;
        Ok(())
    }

    fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            access_ms: self.token_ttl_ms.load(Ordering::Relaxed),
            refresh_ms: self.refresh_ttl_ms,
        }
    }

    /// Checks credentials and issues a token.
    pub fn login(&self, email: &str, password: &str) -> HubResult<Option<Issued>> {
        match self.accounts.check_password(email, password)? {
            Some((ws, member)) => Ok(Some(self.issue(&ws, &member)?)),
            None => Ok(None),
        }
    }

    pub fn issue(&self, workspace: &str, member_id: &str) -> HubResult<Issued> {
        self.accounts
            .issue(workspace, member_id, self.now(), self.lifetimes())
    }

    /// The session of a valid, unexpired access token.
    pub fn session(&self, token: &str) -> HubResult<Option<Session>> {
        self.accounts.session(token, self.now())
    }

    /// A new pair for a valid refresh token; the old pair is revoked (of
    /// two refreshes racing with one token, the other gets another pair of
    /// the same family within [`REFRESH_GRACE_MS`]; after it, the token
    /// revokes its family).
    pub fn refresh(&self, refresh_token: &str) -> HubResult<Option<Issued>> {
        self.accounts
            .refresh(refresh_token, self.now(), self.lifetimes())
    }

    /// Ends the session of an access token, with its whole family.
    pub fn revoke(&self, token: &str) -> HubResult<()> {
        self.accounts.revoke(token)
    }

    /// The answer given to an idempotency key, if any.
    pub fn idempotent(&self, ws: &str, key: &str) -> HubResult<Option<(u16, String)>> {
        self.idempotency.answer(ws, key)
    }

    /// Keeps the answer to a key (replacing the first answer logged with
    /// the command's events).
    pub fn remember(&self, ws: &str, key: &str, status: u16, body: &str) -> HubResult<()> {
        self.idempotency.remember(ws, key, status, body)
    }

    /// Issue 16 hole 4 ([`crate::prune`]): the hub's own owners' share of
    /// the pruning: answers older than a week, then dead sessions and
    /// exchanged refresh tokens, as (answers, sessions) removed.
    pub(crate) fn prune_own(&self, now: Timestamp) -> HubResult<(usize, usize)> {
        Ok((self.idempotency.prune(now)?, self.accounts.prune(now)?))
    }

    /// [`Hub::exclusive_as`] for a write no member asked for: its events
    /// have no actor.
    pub fn exclusive<R>(&self, ws: &Workspace, key: Option<&str>, f: impl FnOnce() -> R) -> R {
        self.run_exclusive(ws, None, key, f)
    }

    /// Runs `f` holding the workspace's write lock: a command of `actor`
    /// checks and emits without another writer in between. With `key`, the
    /// events `f` emits are logged together with a first answer for that
    /// key, so a command whose events are in the log is never run again,
    /// even if the process dies before it answers. The events are
    /// [`Committed`] with `actor` (nobody is notified of their own doing).
    pub fn exclusive_as<R>(
        &self,
        ws: &Workspace,
        actor: &MemberId,
        key: Option<&str>,
        f: impl FnOnce() -> R,
    ) -> R {
        self.run_exclusive(ws, Some(actor), key, f)
    }

    fn run_exclusive<R>(
        &self,
        ws: &Workspace,
        actor: Option<&MemberId>,
        key: Option<&str>,
        f: impl FnOnce() -> R,
    ) -> R {
        let _guard = ws.lock_writes();
        lock(&self.running).insert(
            ws.id.clone(),
            Running {
                actor: actor.cloned(),
                key: key.map(str::to_owned),
            },
        );
        let _finish = Finish(&self.running, &ws.id);
        f()
    }

    /// Appends events to the workspace's log, applies them, broadcasts them.
    /// Callers that already hold [`Hub::exclusive`] use [`Hub::emit_locked`].
    pub fn emit(&self, ws: &Workspace, payloads: Vec<EventPayload>) -> HubResult<Vec<Event>> {
        let _guard = ws.lock_writes();
        self.emit_locked(ws, payloads)
    }

    pub fn emit_locked(
        &self,
        ws: &Workspace,
        payloads: Vec<EventPayload>,
    ) -> HubResult<Vec<Event>> {
        let (actor, key) = lock(&self.running)
            .get(&ws.id)
            .map(|r| (r.actor.clone(), r.key.clone()))
            .unwrap_or_default();
        let events = self.log.append(ws, payloads, |tx, events| {
            match (key.as_deref(), events.last()) {
                (Some(key), Some(last)) => idempotency::first_answer(tx, &ws.id, key, last.seq),
                _ => Ok(()),
            }
        })?;
        if !events.is_empty() {
            let committed = Committed {
                workspace: ws,
                events: &events,
                actor: actor.as_ref(),
            };
            let hooks = self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone();
            for hook in hooks {
                hook(self, &committed);
            }
        }
        Ok(events)
    }

    /// Appends an event given as raw JSON, as a later version of the server
    /// might send (tests of forward compatibility): an unknown type, or a
    /// known type whose data this version cannot decode. Live streams get
    /// it through their catch-up (the heartbeat's head moves on).
    pub fn emit_raw(
        &self,
        ws: &Workspace,
        type_name: &str,
        data: serde_json::Value,
    ) -> HubResult<Seq> {
        let _guard = ws.lock_writes();
        self.log.append_raw(ws, type_name, data)
    }

    /// The workspace's last seq.
    pub fn head(&self, ws: &Workspace) -> HubResult<Seq> {
        self.log.head(ws)
    }

    /// The head, if a client at `cursor` can resume from the log; `None`
    /// when it needs a fresh snapshot (issue 16 hole 7).
    pub fn resumes(&self, ws: &Workspace, cursor: Cursor) -> HubResult<Option<Seq>> {
        self.log.resumes(ws, cursor)
    }

    /// The time of the logged event at `seq`.
    pub fn event_at(&self, ws: &Workspace, seq: Seq) -> HubResult<Option<Timestamp>> {
        self.log.event_at(ws, seq)
    }

    /// Up to `limit` events after `since`, in order, as the log holds them
    /// (their wire JSON).
    pub fn events_after_raw(
        &self,
        ws: &Workspace,
        since: Seq,
        limit: u32,
    ) -> HubResult<Vec<String>> {
        self.log.events_after_raw(ws, since, limit)
    }

    /// Up to `limit` events after `since`, in order.
    pub fn events_after(&self, ws: &Workspace, since: Seq, limit: u32) -> HubResult<Vec<Event>> {
        self.events_after_raw(ws, since, limit)?
            .iter()
            .map(|json| Event::from_json(json).map_err(|e| HubError::Invalid(e.to_string())))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rapport_core::model::{ChatId, ChatState};

    /// `n` chats opened (c0, c1, ...): a batch of `n` events.
    pub(crate) fn opened(n: usize) -> Vec<EventPayload> {
        (0..n)
            .map(|i| EventPayload::ChatStateChanged {
                chat_id: ChatId::from(format!("c{i}").as_str()),
                state: ChatState::Open,
            })
            .collect()
    }

    type Heard = Arc<Mutex<Vec<(String, Vec<u64>, Option<String>)>>>;

    fn hub_with_ear() -> (tempfile::TempDir, Hub, Arc<Workspace>, Heard) {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(dir.path().join("server.db")).unwrap();
        let ws = hub.create_workspace("w1", "One").unwrap();
        let heard: Heard = Arc::default();
        let ear = heard.clone();
        hub.on_commit(move |_, c| {
            lock(&ear).push((
                c.workspace.id.clone(),
                c.events.iter().map(|e| e.seq.0).collect(),
                c.actor.map(|m| m.0.clone()),
            ));
        });
        (dir, hub, ws, heard)
    }

    /// Committed batches carry who caused them: the member of a command,
    /// nobody for other writes, and nothing is published for no events.
    #[test]
    fn commit_hooks_hear_each_batch_with_its_actor() {
        let (_dir, hub, ws, heard) = hub_with_ear();
        hub.emit(&ws, opened(2)).unwrap();
        let me = MemberId("u1".into());
        hub.exclusive_as(&ws, &me, Some("u1\nPOST /x\nk1"), || {
            hub.emit_locked(&ws, opened(1)).unwrap();
            hub.emit_locked(&ws, Vec::new()).unwrap();
        });
        hub.exclusive(&ws, Some("k2"), || hub.emit_locked(&ws, opened(1)).unwrap());
        hub.emit(&ws, opened(1)).unwrap();
        assert_eq!(
            *lock(&heard),
            vec![
                ("w1".into(), vec![1, 2], None),
                ("w1".into(), vec![3], Some("u1".into())),
                ("w1".into(), vec![4], None),
                ("w1".into(), vec![5], None),
            ]
        );
    }

    /// A command's events and its first answer are one transaction; writes
    /// outside a command log no answer.
    #[test]
    fn a_commands_first_answer_is_logged_with_its_events() {
        let (_dir, hub, ws, _) = hub_with_ear();
        let me = MemberId("u1".into());
        hub.exclusive_as(&ws, &me, Some("key-a"), || {
            hub.emit_locked(&ws, opened(2)).unwrap();
        });
        assert_eq!(
            hub.idempotent("w1", "key-a").unwrap(),
            Some((200, r#"{"seq":2}"#.to_owned()))
        );
        // The command's own answer replaces it.
        hub.remember("w1", "key-a", 422, "{}").unwrap();
        assert_eq!(
            hub.idempotent("w1", "key-a").unwrap(),
            Some((422, "{}".to_owned()))
        );
        // No events, no answer.
        hub.exclusive_as(&ws, &me, Some("key-b"), || ());
        assert_eq!(hub.idempotent("w1", "key-b").unwrap(), None);
    }

    /// A command that panics leaves no actor or key behind for the next
    /// writer.
    #[test]
    fn a_panicking_command_leaves_nothing_running() {
        let (_dir, hub, ws, heard) = hub_with_ear();
        let me = MemberId("u1".into());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hub.exclusive_as(&ws, &me, Some("key-p"), || panic!("a bug"))
        }));
        assert!(r.is_err());
        hub.emit(&ws, opened(1)).unwrap();
        assert_eq!(*lock(&heard), vec![("w1".into(), vec![1], None)]);
        assert_eq!(hub.idempotent("w1", "key-p").unwrap(), None);
    }

    /// Reopening keeps the log, the accounts' sessions and the answers.
    #[test]
    fn reopening_keeps_log_sessions_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let token = {
            let hub = Hub::open(&path).unwrap();
            let ws = hub.create_workspace("w1", "One").unwrap();
            hub.emit(&ws, opened(3)).unwrap();
            hub.remember("w1", "k", 200, "{}").unwrap();
            hub.issue("w1", "u1").unwrap().session.token
        };
        let hub = Hub::open(&path).unwrap();
        let ws = hub.workspace("w1").expect("loaded on open");
        assert_eq!(hub.head(&ws).unwrap(), Seq(3));
        assert_eq!(ws.store.last_seq().unwrap(), Seq(3));
        assert_eq!(hub.events_after(&ws, Seq(1), 10).unwrap().len(), 2);
        assert_eq!(hub.session(&token).unwrap().unwrap().member_id, "u1");
        assert!(hub.idempotent("w1", "k").unwrap().is_some());
    }
}
