//! The one object an app holds (through `rapport-ffi`): the offline store,
//! its live windows, the sync engine, the timers and the session, on a tokio
//! runtime the core owns (UniFFI polls exported futures on the caller's
//! thread: work is spawned here and only awaited there).

use crate::model::{ChatId, MemberId, MessageId, Timestamp};
use crate::observe::Observer;
use crate::policy::{self, Decision, Outgoing, SendContext};
use crate::session::{SecretStore, Session};
use crate::store::{Store, StoreError};
use crate::sync::{RapportBackend, SyncEngine, SyncError, SyncState};
use crate::timers::{Clock, ServerClock, TimerEvent, Timers};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct ClientConfig {
    /// The SQLite file of the logged-in member's data.
    pub store_path: PathBuf,
    /// The server, e.g. `https://rapport.example`.
    pub server_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("not logged in")]
    NotLoggedIn,
    #[error("no such chat")]
    UnknownChat,
    /// An idempotency key must be 1-62 of A-Z a-z 0-9 - _.
    #[error("invalid idempotency key")]
    InvalidKey,
    /// The rules refuse it (nothing was queued): the code says why.
    #[error("refused: {0}")]
    Refused(crate::policy::Refusal),
    #[error("the core's runtime: {0}")]
    Runtime(String),
}

pub type ClientResult<T> = Result<T, ClientError>;

/// Who is logged in (no secrets: the tokens stay in the secret store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInfo {
    pub member_id: MemberId,
    pub workspace_id: String,
    /// When the access token expires (it is refreshed before).
    pub expires_at: Timestamp,
}

impl From<crate::sync::wire::LoginResponse> for LoginInfo {
    fn from(r: crate::sync::wire::LoginResponse) -> Self {
        LoginInfo {
            member_id: r.member_id,
            workspace_id: r.workspace_id,
            expires_at: r.expires_at,
        }
    }
}

/// A fresh idempotency key: 128 random bits.
fn new_key() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Client {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    config: ClientConfig,
    store: Arc<Store>,
    observer: Observer,
    clock: Arc<ServerClock>,
    backend: Arc<RapportBackend>,
    engine: Arc<SyncEngine<RapportBackend>>,
    secrets: Arc<dyn SecretStore>,
    session: Mutex<Option<Session>>,
    sync_task: Mutex<Option<JoinHandle<SyncError>>>,
    outbox_task: Mutex<Option<JoinHandle<SyncError>>>,
    outbox_wake: Arc<tokio::sync::Notify>,
    timers: Mutex<Option<Timers>>,
}

impl Client {
    /// Opens the store (offline: the inbox is readable at once) and restores
    /// a saved session, if any. No network.
    pub fn open(config: ClientConfig, secrets: Arc<dyn SecretStore>) -> ClientResult<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rapport")
            .enable_all()
            .build()
            .map_err(|e| ClientError::Runtime(e.to_string()))?;
        let handle = runtime.handle().clone();
        let store = Arc::new(Store::open(&config.store_path)?);
        let observer = Observer::new(store.clone());
        let clock = Arc::new(ServerClock::default());
        let backend = Arc::new(RapportBackend::new(&config.server_url, clock.clone())?);
        let session = Session::restore(backend.clone(), secrets.clone(), &config.server_url)
            .map_err(|e| ClientError::Sync(SyncError::Network(e.to_string())))?;
        let engine = Arc::new(SyncEngine::new(store.clone(), backend.clone()));
        Ok(Client {
            runtime: Some(runtime),
            handle,
            config,
            store,
            observer,
            clock,
            backend,
            engine,
            secrets,
            session: Mutex::new(session),
            sync_task: Mutex::new(None),
            outbox_task: Mutex::new(None),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            timers: Mutex::new(None),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    pub fn backend(&self) -> &Arc<RapportBackend> {
        &self.backend
    }

    /// The member logged in, if any (restored sessions included).
    pub fn login_info(&self) -> Option<LoginInfo> {
        lock(&self.session).as_ref().map(|s| s.info().into())
    }

    /// Server time now (S4).
    pub fn server_now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` on the core's runtime and waits for it (from any thread or
    /// executor).
    async fn on_runtime<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> ClientResult<T> {
        self.handle
            .spawn(f)
            .await
            .map_err(|e| ClientError::Runtime(e.to_string()))
    }

    /// S5: logs in, saves the session, and makes the member "me" (A4).
    pub async fn login(&self, email: &str, password: &str) -> ClientResult<LoginInfo> {
        let (backend, secrets, server) = (
            self.backend.clone(),
            self.secrets.clone(),
            self.config.server_url.clone(),
        );
        let (email, password) = (email.to_owned(), password.to_owned());
        let session = self
            .on_runtime(async move {
                Session::login(backend, secrets, &server, &email, &password).await
            })
            .await??;
        let info: LoginInfo = session.info().into();
        self.store.set_me(info.member_id.clone())?;
        *lock(&self.session) = Some(session);
        Ok(info)
    }

    /// S2, E7: keeps the store in sync (snapshot, catch-up, live) and sends
    /// the outbox, until [`Client::stop_sync`]. A no-op while running.
    pub fn start_sync(&self) -> ClientResult<()> {
        if lock(&self.session).is_none() {
            return Err(ClientError::NotLoggedIn);
        }
        let mut task = lock(&self.sync_task);
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            let engine = self.engine.clone();
            *task = Some(self.handle.spawn(async move { engine.run().await }));
        }
        let mut outbox = lock(&self.outbox_task);
        if outbox.as_ref().is_none_or(|t| t.is_finished()) {
            let (store, backend, wake) = (
                self.store.clone(),
                self.backend.clone(),
                self.outbox_wake.clone(),
            );
            *outbox = Some(self.handle.spawn(crate::outbox::run(store, backend, wake)));
        }
        Ok(())
    }

    pub fn stop_sync(&self) {
        for task in [&self.sync_task, &self.outbox_task] {
            if let Some(t) = lock(task).take() {
                t.abort();
            }
        }
    }

    /// E1/E5/E7: checks the rules on server time (a refusal queues
    /// nothing), then stores the reply with its local echo; the outbox sends
    /// it. Returns the message's id (the echo's, and later the server's).
    pub fn send_text(&self, chat: &ChatId, text: &str) -> ClientResult<MessageId> {
        self.send_text_keyed(chat, text, &new_key())
    }

    /// [`Client::send_text`] with a given idempotency key (an app makes a
    /// fresh key per tap; the same key twice is one message).
    pub fn send_text_keyed(&self, chat: &ChatId, text: &str, key: &str) -> ClientResult<MessageId> {
        // The message id is derived from the key: both must be URL-safe.
        let valid = (1..=62).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ClientError::InvalidKey);
        }
        if let Decision::Refused { reason, .. } = self.decide(chat, &Outgoing::Text(text))? {
            return Err(ClientError::Refused(reason));
        }
        let me = self.store.me().ok_or(ClientError::NotLoggedIn)?;
        let id = MessageId(format!("m-{key}"));
        let now = self.server_now();
        let echo = crate::model::Message {
            id: id.clone(),
            chat_id: chat.clone(),
            sender: crate::model::Sender::Member(me),
            content: crate::model::Content::Text {
                text: text.to_owned(),
            },
            sent_at: now,
            delivery: Some(crate::model::Delivery::Pending),
            quote: None,
            reactions: Vec::new(),
            edited_at: None,
            deleted_at: None,
            in_reply_to_ad: None,
        };
        let action = crate::sync::Action::SendText {
            chat_id: chat.clone(),
            text: text.to_owned(),
            message_id: Some(id.clone()),
        };
        self.store.enqueue(&action, key, Some(&echo), now)?;
        self.outbox_wake.notify_one();
        Ok(id)
    }

    /// E7: queues any other agent action; returns its idempotency key.
    pub fn run_action(&self, action: crate::sync::Action) -> ClientResult<String> {
        let key = new_key();
        self.store.enqueue(&action, &key, None, self.server_now())?;
        self.outbox_wake.notify_one();
        Ok(key)
    }

    /// E7: the agent retries a failed command.
    pub fn retry(&self, outbox_id: i64) -> ClientResult<()> {
        self.store.outbox_retry(outbox_id)?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// E7: the agent discards a failed command (and its echo).
    pub fn discard(&self, outbox_id: i64) -> ClientResult<()> {
        self.store.outbox_discard(outbox_id)?;
        // The chat's commands held behind it may go now.
        self.outbox_wake.notify_one();
        Ok(())
    }

    pub fn sync_state(&self) -> watch::Receiver<SyncState> {
        self.engine.state()
    }

    /// S4: deadline events (window closes, pause ends, 48 hours pass).
    pub fn start_timers(
        &self,
        listener: impl Fn(TimerEvent) + Send + Sync + 'static,
    ) -> ClientResult<()> {
        let timers = Timers::start(&self.store, self.clock.clone(), &self.handle, listener)?;
        *lock(&self.timers) = Some(timers);
        Ok(())
    }

    /// E1-E6: may this go out in this chat now, on server time?
    pub fn decide(&self, chat: &ChatId, out: &Outgoing<'_>) -> ClientResult<Decision> {
        let c = self.store.chat(chat)?.ok_or(ClientError::UnknownChat)?.chat;
        let now = self.server_now();
        let viber = if c.app == crate::model::App::Viber {
            self.store.viber_quota(&c.bot_id, now)?
        } else {
            None
        };
        Ok(policy::decide(
            &SendContext {
                app: c.app,
                last_inbound_at: c.last_inbound_at,
                now,
                viber,
            },
            out,
        ))
    }

    /// B1: older history of a chat from the server, into the store.
    pub async fn load_older(
        &self,
        chat: &ChatId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> ClientResult<bool> {
        let (engine, chat, before) = (self.engine.clone(), chat.clone(), before.cloned());
        Ok(self
            .on_runtime(async move { engine.load_older(&chat, before.as_ref(), limit).await })
            .await??)
    }

    /// S5: ends the session on the server (if reachable), forgets it, and
    /// deletes the local store. The client is gone after.
    pub async fn logout(self) -> ClientResult<()> {
        self.stop_sync();
        lock(&self.timers).take();
        let session = lock(&self.session).take().ok_or(ClientError::NotLoggedIn)?;
        let path = self.config.store_path.clone();
        // The store's files are deleted after this client's connections
        // close: the logout runs with the client dropped.
        let handle = self.handle.clone();
        let runtime = {
            let mut me = self;
            me.runtime.take()
        };
        let result = handle
            .spawn(async move { session.logout(&path).await })
            .await
            .map_err(|e| ClientError::Runtime(e.to_string()));
        if let Some(rt) = runtime {
            rt.shutdown_background();
        }
        Ok(result??)
    }

    /// The core's runtime, for bindings that run a listener loop on it
    /// (rapport-ffi's sync-state subscription) instead of their own.
    pub fn runtime_handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop_sync();
        lock(&self.timers).take();
        if let Some(rt) = self.runtime.take() {
            // Never blocks, so a client may be dropped anywhere (even inside
            // another runtime).
            rt.shutdown_background();
        }
    }
}
