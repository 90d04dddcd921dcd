//! The one object an app holds (through `rapport-ffi`): the offline store,
//! its live windows, the sync engine, the timers and the session, on a tokio
//! runtime the core owns (UniFFI polls exported futures on the caller's
//! thread: work is spawned here and only awaited there).

use crate::model::{ChatId, MemberId, MessageId, Timestamp};
use crate::observe::Observer;
use crate::outbox::{ComposeError, Composer, Draft, UploadProgress};
use crate::policy::{self, Decision, Outgoing};
use crate::session::{LogoutError, SecretError, SecretStore, SendPulseLogin, Session};
use crate::store::{Store, StoreError};
use crate::sync::{AnyBackend, RapportBackend, SendPulseBackend, SyncEngine, SyncError, SyncState};
use crate::timers::{Clock, ServerClock, TimerEvent, Timers};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod read;

pub struct ClientConfig {
    /// The SQLite file of the logged-in member's data.
    pub store_path: PathBuf,
    /// The server, e.g. `https://rapport.example`; or, for the direct
    /// connector (issue 17), SendPulse's API root, e.g.
    /// `https://api.sendpulse.com`. Which of the two it is comes from the
    /// login saved for this URL in the secret store (a Rapport session or
    /// a [`SendPulseLogin`]): [`Client::login`] or [`Client::login_sendpulse`].
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
    #[error("no such message")]
    UnknownMessage,
    /// An attachment goes through `send_attachment`, which stores its bytes.
    #[error("attachments are sent with send_attachment")]
    NeedsFile,
    /// An idempotency key must be 1-62 of A-Z a-z 0-9 - _.
    #[error("invalid idempotency key")]
    InvalidKey,
    /// The rules refuse it (nothing was queued): the code says why.
    #[error("refused: {0}")]
    Refused(crate::policy::Refusal),
    /// The platform's secret store (Keychain, Android Keystore) failed:
    /// not the network, so not retried as if it were.
    #[error("the secret store: {0}")]
    SecretStore(String),
    #[error("the core's runtime: {0}")]
    Runtime(String),
}

pub type ClientResult<T> = Result<T, ClientError>;

impl From<SecretError> for ClientError {
    fn from(e: SecretError) -> Self {
        ClientError::SecretStore(e.0)
    }
}

impl From<LogoutError> for ClientError {
    fn from(e: LogoutError) -> Self {
        match e {
            LogoutError::Store(e) => ClientError::Store(e),
            LogoutError::Secret(e) => e.into(),
        }
    }
}

impl From<ComposeError> for ClientError {
    fn from(e: ComposeError) -> Self {
        match e {
            ComposeError::Store(e) => ClientError::Store(e),
            ComposeError::UnknownChat => ClientError::UnknownChat,
            ComposeError::UnknownMessage => ClientError::UnknownMessage,
            ComposeError::InvalidKey => ClientError::InvalidKey,
            ComposeError::Refused(r) => ClientError::Refused(r),
        }
    }
}

/// Who is logged in (no secrets: the tokens stay in the secret store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInfo {
    pub member_id: MemberId,
    pub workspace_id: String,
    /// When the access token expires (it is refreshed before).
    pub expires_at: Timestamp,
}

impl From<crate::wire::LoginResponse> for LoginInfo {
    fn from(r: crate::wire::LoginResponse) -> Self {
        LoginInfo {
            member_id: r.member_id,
            workspace_id: r.workspace_id,
            expires_at: r.expires_at,
        }
    }
}

/// The secret store's entry for the device registered for pushes (its id
/// only), so that logout unregisters it.
const DEVICE_KEY: &str = "rapport.device";

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
    /// The reference server's API (sessions, devices, settings, flows).
    backend: Arc<RapportBackend>,
    /// What sync and the outbox talk to: the server, or SendPulse directly.
    connector: Arc<AnyBackend>,
    engine: Arc<SyncEngine<AnyBackend>>,
    /// Issue 17: the SendPulse account this phone talks to directly.
    sendpulse: Mutex<Option<SendPulseLogin>>,
    secrets: Arc<dyn SecretStore>,
    session: Mutex<Option<Session>>,
    sync_task: Mutex<Option<JoinHandle<SyncError>>>,
    outbox_task: Mutex<Option<JoinHandle<SyncError>>>,
    outbox_wake: Arc<tokio::sync::Notify>,
    uploads: tokio::sync::broadcast::Sender<UploadProgress>,
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
        let connector = Arc::new(AnyBackend::new(backend.clone()));
        let sendpulse = SendPulseLogin::load(secrets.as_ref(), &config.server_url)?;
        let session = match &sendpulse {
            Some(login) => {
                connector.set_sendpulse(Some(SendPulseBackend::with_store(
                    login.config(),
                    store.clone(),
                )?));
                None
            }
            None => Session::restore(backend.clone(), secrets.clone(), &config.server_url)?,
        };
        let engine = Arc::new(SyncEngine::new(store.clone(), connector.clone()));
        Ok(Client {
            runtime: Some(runtime),
            handle,
            config,
            store,
            observer,
            clock,
            backend,
            connector,
            engine,
            sendpulse: Mutex::new(sendpulse),
            secrets,
            session: Mutex::new(session),
            sync_task: Mutex::new(None),
            outbox_task: Mutex::new(None),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            uploads: tokio::sync::broadcast::channel(64).0,
            timers: Mutex::new(None),
        })
    }

    /// The member logged in, if any (restored sessions included).
    pub fn login_info(&self) -> Option<LoginInfo> {
        if let Some(l) = lock(&self.sendpulse).as_ref() {
            return Some(LoginInfo {
                member_id: l.me.clone(),
                workspace_id: format!("sendpulse:{}", l.client_id),
                // Client credentials do not expire; tokens are the
                // connector's business.
                expires_at: Timestamp(i64::MAX),
            });
        }
        lock(&self.session).as_ref().map(|s| s.info().into())
    }

    /// Issue 17: whether this client talks to SendPulse directly.
    pub fn is_sendpulse(&self) -> bool {
        lock(&self.sendpulse).is_some()
    }

    /// What only the reference server offers (devices, settings, flows) is
    /// refused, typed, on the direct connector.
    fn server_only(&self, what: &str) -> ClientResult<()> {
        if self.is_sendpulse() {
            return Err(ClientError::Sync(SyncError::Refused {
                status: 422,
                code: crate::wire::ErrorCode::NotSupported,
                message: format!("{what} needs a Rapport server"),
            }));
        }
        Ok(())
    }

    /// Issue 17, S5: logs in to SendPulse directly with the account's API
    /// client credentials (`config.server_url` is the API's root): they are
    /// checked (a token is fetched), kept in the secret store, and sync and
    /// the outbox talk to SendPulse from now on. `operator_id`: the agent's
    /// SendPulse operator id, for assigning chats to oneself (D1).
    pub async fn login_sendpulse(
        &self,
        client_id: &str,
        client_secret: &str,
        operator_id: Option<i64>,
    ) -> ClientResult<LoginInfo> {
        let login = SendPulseLogin {
            base_url: self.config.server_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            me: MemberId::from("me"),
            operator_id,
        };
        let backend = SendPulseBackend::with_store(login.config(), self.store.clone())?;
        let check = backend.clone();
        self.on_runtime(async move { check.check_login().await })
            .await??;
        login.save(self.secrets.as_ref())?;
        self.store.set_me(login.me.clone())?;
        self.connector.set_sendpulse(Some(backend));
        *lock(&self.sendpulse) = Some(login);
        // ...and a SendPulse login replaces a server session (kept on the
        // server until it expires: no request to a server not used now).
        lock(&self.session).take();
        self.login_info().ok_or(ClientError::NotLoggedIn)
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
        // A server login replaces a SendPulse one: one login per client.
        if lock(&self.sendpulse).take().is_some() {
            SendPulseLogin::forget(self.secrets.as_ref())?;
        }
        self.connector.set_sendpulse(None);
        *lock(&self.session) = Some(session);
        Ok(info)
    }

    /// S2, E7: keeps the store in sync (snapshot, catch-up, live) and sends
    /// the outbox, until [`Client::stop_sync`]. A no-op while running.
    pub fn start_sync(&self) -> ClientResult<()> {
        if lock(&self.session).is_none() && !self.is_sendpulse() {
            return Err(ClientError::NotLoggedIn);
        }
        let mut task = lock(&self.sync_task);
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            let engine = self.engine.clone();
            *task = Some(self.handle.spawn(async move { engine.run().await }));
        }
        let mut outbox = lock(&self.outbox_task);
        if outbox.as_ref().is_none_or(|t| t.is_finished()) {
            let (store, backend, wake, uploads) = (
                self.store.clone(),
                self.connector.clone(),
                self.outbox_wake.clone(),
                self.uploads.clone(),
            );
            *outbox = Some(
                self.handle
                    .spawn(crate::outbox::run(store, backend, wake, uploads)),
            );
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

    /// E1, E2, E5, E7: a message to the subscriber. The rules are checked
    /// on server time (a refusal queues nothing); then the message is
    /// stored with its local echo (and a file's bytes) and the outbox sends
    /// it (a file in resumable parts, [`Client::upload_progress`]). `key`:
    /// the idempotency key an app made when the agent tapped "send" (the
    /// same key twice is one message); `None` makes a fresh one. Returns
    /// the message's id (the echo's, and later the server's).
    pub fn send(
        &self,
        chat: &ChatId,
        draft: Draft<'_>,
        key: Option<&str>,
    ) -> ClientResult<MessageId> {
        let key = key.map_or_else(new_key, str::to_owned);
        let message_id = self.composer()?.send(chat, draft, &key, false)?;
        self.outbox_wake.notify_one();
        Ok(message_id)
    }

    /// E2: progress of the outbox's uploads (one update per part).
    pub fn upload_progress(&self) -> tokio::sync::broadcast::Receiver<UploadProgress> {
        self.uploads.subscribe()
    }

    /// The checks and queueing of this member's actions, now.
    fn composer(&self) -> ClientResult<Composer<'_>> {
        Ok(Composer {
            store: &self.store,
            me: self.store.me().ok_or(ClientError::NotLoggedIn)?,
            now: self.server_now(),
            capabilities: self.capabilities(),
        })
    }

    /// E7: queues any other agent action (A8, B7, B8, B10, C1, D1, E3/F7,
    /// F5-F8, G1-G3) after the checks the core can make offline
    /// ([`Client::check_action`]): a refusal queues nothing. Returns the
    /// command's idempotency key. Messages go through [`Client::send`],
    /// which also shows an echo.
    pub fn run_action(&self, action: crate::sync::Action) -> ClientResult<String> {
        if matches!(action, crate::sync::Action::SendAttachment { .. }) {
            // The outbox would have no bytes to upload.
            return Err(ClientError::NeedsFile);
        }
        let key = new_key();
        self.composer()?.queue(&action, &key)?;
        self.outbox_wake.notify_one();
        Ok(key)
    }

    /// [`Client::run_action`] with the app's own idempotency key, made
    /// when the agent tapped (as [`Client::send`] takes one): the same key
    /// again is one command, so an app that died between the tap and the
    /// queueing may queue it again without doubling it.
    pub fn run_action_keyed(&self, action: crate::sync::Action, key: &str) -> ClientResult<()> {
        if matches!(action, crate::sync::Action::SendAttachment { .. }) {
            return Err(ClientError::NeedsFile);
        }
        self.composer()?.queue(&action, key)?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// The rules of an action that the core checks before queueing, on
    /// server time (the server checks them again, as the authority), so a
    /// screen can grey out a button with the reason: B7/B8 on the message,
    /// C1 note length, D1 who may be assigned, E1-E6 for messages
    /// ([`crate::policy::act`]).
    pub fn check_action(&self, action: &crate::sync::Action) -> ClientResult<()> {
        Ok(self.composer()?.check(action)?)
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
        let ctx = self
            .store
            .send_context(chat, self.server_now())?
            .ok_or(ClientError::UnknownChat)?;
        let offered = self.capabilities();
        if let Some(feature) = offered.lacks_outgoing(out) {
            return Ok(Decision::Refused {
                reason: policy::Refusal::NotOffered {
                    feature: feature.to_owned(),
                },
                instead: Vec::new(),
            });
        }
        let mut decision = policy::decide(&ctx, out);
        if let Decision::Refused { instead, .. } = &mut decision {
            // E5: a template is no way out where the platform has none.
            instead.retain(|a| {
                offered.templates || *a != policy::window::Alternative::WhatsappTemplate
            });
        }
        Ok(decision)
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

    /// H2: registers this device for pushes (call again when the platform
    /// gives a new token).
    pub async fn register_device(
        &self,
        registration: crate::push::DeviceRegistration,
    ) -> ClientResult<()> {
        self.server_only("push registration")?;
        let backend = self.backend.clone();
        let id = registration.device_id.clone();
        self.on_runtime(async move { backend.register_device(&registration).await })
            .await??;
        // Remembered so that logout can stop the pushes (H2).
        Ok(self.secrets.save(DEVICE_KEY, &id)?)
    }

    /// H2: stops pushes to this device (before logging out).
    pub async fn unregister_device(&self, device_id: &str) -> ClientResult<()> {
        self.server_only("push registration")?;
        let (backend, id) = (self.backend.clone(), device_id.to_owned());
        self.on_runtime(async move { backend.unregister_device(&id).await })
            .await??;
        if self.secrets.load(DEVICE_KEY)?.as_deref() == Some(device_id) {
            self.secrets.delete(DEVICE_KEY)?;
        }
        Ok(())
    }

    /// H4: the member's notification settings, from the server.
    pub async fn notification_settings(&self) -> ClientResult<crate::push::NotificationSettings> {
        self.server_only("notification settings")?;
        let backend = self.backend.clone();
        Ok(self
            .on_runtime(async move { backend.notification_settings().await })
            .await??)
    }

    /// H4: changes them; returns what the server stored.
    pub async fn set_notification_settings(
        &self,
        settings: crate::push::NotificationSettings,
    ) -> ClientResult<crate::push::NotificationSettings> {
        self.server_only("notification settings")?;
        let backend = self.backend.clone();
        Ok(self
            .on_runtime(async move { backend.set_notification_settings(&settings).await })
            .await??)
    }

    /// F6: the flows a subscriber can be started on whose name contains
    /// `query` (case-insensitive; every flow when empty), from the server.
    /// Starting one is `Action::EditSubscriber` with its `flow_id`.
    pub async fn search_flows(&self, query: &str) -> ClientResult<Vec<crate::wire::Flow>> {
        self.server_only("the flow catalogue")?;
        let (backend, q) = (self.backend.clone(), query.to_owned());
        Ok(self
            .on_runtime(async move { backend.flows(&q).await })
            .await??)
    }

    /// H2: mutes or unmutes a chat's notifications on this device (the
    /// notification process then shows nothing for it, `Suppressed::Muted`).
    /// `UnknownChat` if the store has no such chat.
    pub fn set_muted(&self, chat: &ChatId, muted: bool) -> ClientResult<()> {
        self.store.chat(chat)?.ok_or(ClientError::UnknownChat)?;
        Ok(self.store.set_muted(chat, muted)?)
    }

    /// S5: unregisters this device's pushes (H2: the registration
    /// [`Client::register_device`] remembered), ends the session on the
    /// server (if reachable), forgets it, and deletes the local store. The
    /// client is gone after.
    pub async fn logout(self) -> ClientResult<()> {
        self.stop_sync();
        lock(&self.timers).take();
        if self.is_sendpulse() {
            // Issue 17: no server session; the credentials and the data go.
            let path = self.config.store_path.clone();
            let secrets = self.secrets.clone();
            let mut me = self;
            if let Some(rt) = me.runtime.take() {
                rt.shutdown_background();
            }
            drop(me);
            let wiped = Store::wipe(&path);
            SendPulseLogin::forget(secrets.as_ref())?;
            return Ok(wiped?);
        }
        let session = lock(&self.session).take().ok_or(ClientError::NotLoggedIn)?;
        let path = self.config.store_path.clone();
        let device = self.secrets.load(DEVICE_KEY).ok().flatten();
        let (backend, secrets) = (self.backend.clone(), self.secrets.clone());
        // The store's files are deleted after this client's connections
        // close: the logout runs with the client dropped.
        let handle = self.handle.clone();
        let runtime = {
            let mut me = self;
            me.runtime.take()
        };
        // H2: the device registered for pushes is unregistered first, while
        // the session still holds; offline, the logout goes on (nothing
        // blocks the wipe).
        let result = handle
            .spawn(async move {
                if let Some(id) = device {
                    if let Err(e) = backend.unregister_device(&id).await {
                        tracing::warn!(error = %e, "device not unregistered at logout");
                    }
                    if let Err(e) = secrets.delete(DEVICE_KEY) {
                        tracing::warn!(error = %e, "device id not forgotten");
                    }
                }
                session.logout(&path).await
            })
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

/// H2/H3 in the app's own process (Android's FCM service runs there): a
/// push is shown and answered through the running client, with the same
/// rules as the notification process ([`crate::push::NotificationClient`])
/// and no second store handle or connection. And E7's "app resumed" poke.
impl Client {
    /// The app came to the foreground: the outbox looks for commands at
    /// once (the notification process may have queued some, the network
    /// may be back) instead of waiting out a retry's backoff.
    pub fn app_resumed(&self) {
        self.outbox_wake.notify_one();
    }

    fn push_ids(&self) -> crate::push::NotificationResult<(String, MemberId)> {
        use crate::push::NotificationError;
        let workspace = lock(&self.session)
            .as_ref()
            .map(|s| s.info().workspace_id)
            .ok_or(NotificationError::NotLoggedIn)?;
        let me = self.store.me().ok_or(NotificationError::NotLoggedIn)?;
        Ok((workspace, me))
    }

    /// H2: what to show for a push (`viewing`: the chat on screen).
    pub fn show_push(
        &self,
        platform_json: &str,
        viewing: Option<&ChatId>,
    ) -> crate::push::NotificationResult<crate::push::Decision> {
        let (workspace, _) = self.push_ids()?;
        crate::push::reply::show(
            &self.store,
            &workspace,
            platform_json,
            viewing,
            self.clock.now(),
        )
    }

    /// H3: replies to a push's chat and marks it read. Queued first; while
    /// sync runs, the outbox sends both (`delivered: false`: queued);
    /// otherwise they are sent now, as the notification process would.
    pub async fn reply_push(
        &self,
        platform_json: &str,
        text: &str,
        key: &str,
    ) -> crate::push::NotificationResult<crate::push::ReplyOutcome> {
        use crate::push::{NotificationError, reply};
        let (workspace, me) = self.push_ids()?;
        let now = self.clock.now();
        let r = reply::queue_reply(&self.store, &workspace, me, platform_json, text, key, now)?;
        let syncing = lock(&self.outbox_task)
            .as_ref()
            .is_some_and(|t| !t.is_finished());
        if syncing {
            self.outbox_wake.notify_one();
            return Ok(r.outcome(false));
        }
        let (store, backend, job) = (self.store.clone(), self.backend.clone(), r.queued.clone());
        let delivered = self
            .on_runtime(async move {
                tokio::time::timeout(reply::SEND_TIMEOUT, job.send(&store, &backend))
                    .await
                    .unwrap_or(Ok(false))
            })
            .await
            .map_err(|e| NotificationError::Runtime(e.to_string()))??;
        Ok(r.outcome(delivered))
    }
}
