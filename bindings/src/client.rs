//! `RapportClient`: the core's `Client` as the apps see it. Every method
//! forwards to the core; async ones await work the core spawns on its own
//! runtime (UniFFI polls them on the caller's thread), and each is
//! cancel-safe: dropping the future leaves the core's task to finish.

use crate::error::{RapportError, Result, SecretStoreError};
use crate::listen::{
    ChatListListener, CountsListener, Live, SyncStateListener, TaskHandle, TimelineListener,
    TimerHub, TimerListener, UploadListener, logged,
};
use crate::types::{ChatFilter, Outgoing, SyncState};
use rapport_core::client::{Client, ClientConfig, LoginInfo};
use rapport_core::model::{Bot, BotStats, ChatId, ChatSummary, Member, MessageId, Timestamp};
use rapport_core::outbox::Draft;
use rapport_core::outbox::OutboxEntry;
use rapport_core::policy::Decision;
use rapport_core::policy::window::MessageTag;
use rapport_core::push::{DeviceRegistration, NotificationSettings};
use rapport_core::session::SecretError;
use rapport_core::store::{ChatCursor, ChatPage, StatusCounts, TimelineCursor, TimelinePage};
use rapport_core::sync::{Action, Capabilities};
use rapport_core::timers::Countdowns;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The platform's secure storage (Android Keystore, iOS Keychain): the
/// session's tokens live only here.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    fn load(&self, key: String) -> Result<Option<String>, SecretStoreError>;
    fn save(&self, key: String, value: String) -> Result<(), SecretStoreError>;
    fn delete(&self, key: String) -> Result<(), SecretStoreError>;
}

/// The app's secret store as the core's.
pub(crate) struct Secrets(pub(crate) Arc<dyn SecretStore>);

fn secret_error(e: SecretStoreError) -> SecretError {
    SecretError(e.to_string())
}

impl rapport_core::session::SecretStore for Secrets {
    fn load(&self, key: &str) -> Result<Option<String>, SecretError> {
        self.0.load(key.to_owned()).map_err(secret_error)
    }
    fn save(&self, key: &str, value: &str) -> Result<(), SecretError> {
        self.0
            .save(key.to_owned(), value.to_owned())
            .map_err(secret_error)
    }
    fn delete(&self, key: &str) -> Result<(), SecretError> {
        self.0.delete(key.to_owned()).map_err(secret_error)
    }
}

#[derive(uniffi::Object)]
pub struct RapportClient {
    /// `None` once logged out.
    client: RwLock<Option<Arc<Client>>>,
    timers: Arc<TimerHub>,
    timers_started: Mutex<bool>,
    /// Live sync-state subscriptions.
    tasks: Arc<AtomicUsize>,
}

impl RapportClient {
    pub(crate) fn client(&self) -> Result<Arc<Client>> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(RapportError::Closed)
    }
}

#[uniffi::export]
impl RapportClient {
    /// Opens the store at `store_path` (the inbox is readable offline at
    /// once) and restores a saved session from `secrets`. No network.
    #[uniffi::constructor]
    pub fn new(
        store_path: String,
        server_url: String,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Arc<Self>> {
        let config = ClientConfig {
            store_path: store_path.into(),
            server_url,
        };
        let client = Client::open(config, Arc::new(Secrets(secrets)))?;
        Ok(Arc::new(RapportClient {
            client: RwLock::new(Some(Arc::new(client))),
            timers: Arc::default(),
            timers_started: Mutex::new(false),
            tasks: Arc::default(),
        }))
    }

    // Session (S5) and sync (S2).

    pub async fn login(&self, email: String, password: String) -> Result<LoginInfo> {
        Ok(self.client()?.login(&email, &password).await?)
    }

    /// Issue 17, S5: logs in to a SendPulse account directly, with its API
    /// client credentials; the client must have been made with SendPulse's
    /// API root as its URL (`https://api.sendpulse.com`). The credentials
    /// are checked (a token is fetched), then kept only in `secrets`; sync
    /// and the outbox talk to SendPulse from then on, and a client made
    /// again with that URL and `secrets` restores the login.
    /// `capabilities()` then says what SendPulse cannot do. `operator_id`:
    /// the agent's SendPulse operator id, for assigning chats to oneself
    /// (D1). Wrong credentials: `NotLoggedIn`; unreachable: `Network`.
    pub async fn login_sendpulse(
        &self,
        client_id: String,
        client_secret: String,
        operator_id: Option<i64>,
    ) -> Result<LoginInfo> {
        if client_id.trim().is_empty() || client_secret.is_empty() {
            return Err(RapportError::InvalidArgument {
                detail: "a SendPulse login needs a client id and a client secret".into(),
            });
        }
        Ok(self
            .client()?
            .login_sendpulse(client_id.trim(), &client_secret, operator_id)
            .await?)
    }

    /// Issue 17: whether this client talks to SendPulse directly (no
    /// Rapport server): devices, notification settings and flows, which
    /// need the server, are refused.
    pub fn is_sendpulse(&self) -> Result<bool> {
        Ok(self.client()?.is_sendpulse())
    }

    pub fn login_info(&self) -> Option<LoginInfo> {
        self.client().ok()?.login_info()
    }

    /// Ends the session on the server (if reachable), forgets it and deletes
    /// the local store. The client is closed after: make a new one.
    /// `Busy` (nothing done) while another call on this client runs.
    pub async fn logout(&self) -> Result<()> {
        let client = {
            let mut slot = self.client.write().unwrap_or_else(|e| e.into_inner());
            match Arc::try_unwrap(slot.take().ok_or(RapportError::Closed)?) {
                Ok(client) => client,
                Err(shared) => {
                    *slot = Some(shared);
                    return Err(RapportError::Busy);
                }
            }
        };
        Ok(client.logout().await?)
    }

    pub fn start_sync(&self) -> Result<()> {
        Ok(self.client()?.start_sync()?)
    }

    pub fn stop_sync(&self) -> Result<()> {
        self.client()?.stop_sync();
        Ok(())
    }

    pub fn sync_state(&self) -> Result<SyncState> {
        Ok(self.client()?.sync_state().borrow().clone().into())
    }

    /// Server time now, in ms (S4: every countdown uses it).
    pub fn server_now(&self) -> Result<Timestamp> {
        Ok(self.client()?.server_now())
    }

    // The inbox (A1-A7) and the timeline (B1), read from the store.

    pub fn chat_page(
        &self,
        filter: ChatFilter,
        after: Option<ChatCursor>,
        limit: u32,
    ) -> Result<ChatPage> {
        Ok(self.client()?.chat_page(&filter.into(), after, limit)?)
    }

    pub fn status_counts(&self, filter: ChatFilter) -> Result<StatusCounts> {
        Ok(self.client()?.status_counts(&filter.into())?)
    }

    pub fn chat(&self, chat: ChatId) -> Result<Option<ChatSummary>> {
        Ok(self.client()?.chat(&chat)?)
    }

    pub fn home(&self, limit: u32) -> Result<Vec<ChatSummary>> {
        Ok(self.client()?.home(limit)?)
    }

    pub fn timeline_page(
        &self,
        chat: ChatId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> Result<TimelinePage> {
        Ok(self.client()?.timeline_page(&chat, before, limit)?)
    }

    /// B1: fetches older history from the server into the store (the open
    /// timeline shows it); false when there is none.
    pub async fn load_older(
        &self,
        chat: ChatId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<bool> {
        Ok(self
            .client()?
            .load_older(&chat, before.as_ref(), limit)
            .await?)
    }

    pub fn members(&self, assignable_only: bool) -> Result<Vec<Member>> {
        Ok(self.client()?.members(assignable_only)?)
    }

    pub fn bots(&self) -> Result<Vec<Bot>> {
        Ok(self.client()?.bots()?)
    }

    /// I1: the total first, then each bot.
    pub fn stats(&self) -> Result<Vec<BotStats>> {
        Ok(self.client()?.stats()?)
    }

    // Replying (E1-E7).

    /// May this go out in this chat now (E1-E6)? What instead, if not.
    pub fn decide(&self, chat: ChatId, outgoing: Outgoing) -> Result<Decision> {
        Ok(self.client()?.decide(&chat, &outgoing.as_core())?)
    }

    /// E4, E3/F7: the window and pause countdowns of a chat now.
    pub fn countdowns(&self, chat: ChatId) -> Result<Countdowns> {
        Ok(self.client()?.countdowns(&chat)?)
    }

    /// Stores the reply and its local echo (delivery `Pending`) and queues
    /// it; a refusal (`Refused`) queues nothing. Returns the message id.
    pub fn send_text(&self, chat: ChatId, text: String) -> Result<MessageId> {
        Ok(self.client()?.send(&chat, Draft::Text(&text), None)?)
    }

    /// `send_text` with the app's idempotency key (one per tap).
    pub fn send_text_keyed(&self, chat: ChatId, text: String, key: String) -> Result<MessageId> {
        Ok(self.client()?.send(&chat, Draft::Text(&text), Some(&key))?)
    }

    /// E2: sends a file. Its bytes decide its type (executables refused,
    /// `Refused{Executable}`), the app's size limit for that kind applies;
    /// the outbox uploads it in parts (`subscribe_uploads`), resuming after
    /// an interruption. `key`: the app's idempotency key, or a fresh one.
    pub fn send_attachment(
        &self,
        chat: ChatId,
        name: String,
        bytes: Vec<u8>,
        caption: Option<String>,
        key: Option<String>,
    ) -> Result<MessageId> {
        let draft = Draft::File {
            name: &name,
            bytes: &bytes,
            caption: caption.as_deref(),
        };
        Ok(self.client()?.send(&chat, draft, key.as_deref())?)
    }

    /// E2: `send_attachment` from a file on disk (the app's copy of what the
    /// agent picked), read here so up to 20 MB never crosses the boundary as
    /// one array. Too large for any app: `Refused{AttachmentTooLarge}` before
    /// a byte is read; then the same checks. `name`: shown to the
    /// subscriber, the path's file name if `None`. Blocking: call it off the
    /// main thread.
    pub fn send_file(
        &self,
        chat: ChatId,
        path: String,
        name: Option<String>,
        caption: Option<String>,
        key: Option<String>,
    ) -> Result<MessageId> {
        let path = std::path::Path::new(&path);
        let unreadable = |e: std::io::Error| RapportError::InvalidArgument {
            detail: format!("cannot read the file: {e}"),
        };
        let bytes = rapport_core::policy::attachment::read_file(path)
            .map_err(unreadable)?
            .map_err(|reason| RapportError::Refused { reason })?;
        let name = name
            .or_else(|| Some(path.file_name()?.to_string_lossy().into_owned()))
            .unwrap_or_default();
        self.send_attachment(chat, name, bytes, caption, key)
    }

    /// E5: a WhatsApp template outside the window, with its echo.
    pub fn send_template(&self, chat: ChatId, name: String) -> Result<MessageId> {
        Ok(self
            .client()?
            .send(&chat, Draft::Template { name: &name }, None)?)
    }

    /// E5: Messenger text with a message tag, with its echo.
    pub fn send_tagged(&self, chat: ChatId, tag: MessageTag, text: String) -> Result<MessageId> {
        Ok(self
            .client()?
            .send(&chat, Draft::Tagged { tag, text: &text }, None)?)
    }

    /// Queues any other agent action after the core's checks (B7/B8, C1,
    /// D1: a refusal queues nothing); returns its idempotency key.
    pub fn run_action(&self, action: Action) -> Result<String> {
        Ok(self.client()?.run_action(action)?)
    }

    /// Would the core allow this action now (B7/B8, C1, D1, E1-E6, on
    /// server time)? `Refused` with the reason if not, so a screen greys
    /// out the button before the tap. Nothing is queued.
    pub fn check_action(&self, action: Action) -> Result<()> {
        Ok(self.client()?.check_action(&action)?)
    }

    /// What the backend can do, so a screen hides the rest.
    pub fn capabilities(&self) -> Result<Capabilities> {
        Ok(self.client()?.capabilities())
    }

    /// E7: the commands not yet confirmed, failed ones with their code.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        Ok(self.client()?.outbox()?)
    }

    pub fn retry(&self, outbox_id: i64) -> Result<()> {
        Ok(self.client()?.retry(outbox_id)?)
    }

    pub fn discard(&self, outbox_id: i64) -> Result<()> {
        Ok(self.client()?.discard(outbox_id)?)
    }

    // Live state (S3, S4).

    /// A1-A6: the first `limit` rows under `filter`, live.
    pub fn subscribe_chat_list(
        &self,
        filter: ChatFilter,
        limit: u32,
        listener: Arc<dyn ChatListListener>,
    ) -> Result<Arc<TaskHandle>> {
        let sub = self
            .client()?
            .subscribe_chat_list(filter.into(), limit, move |diffs| {
                logged(listener.on_diffs(diffs.into_iter().map(Into::into).collect()))
            })?;
        Ok(TaskHandle::new(Live::View(Arc::new(sub))))
    }

    /// B1/C1: the newest `limit` items of a chat, oldest first, live.
    pub fn subscribe_timeline(
        &self,
        chat: ChatId,
        limit: u32,
        listener: Arc<dyn TimelineListener>,
    ) -> Result<Arc<TaskHandle>> {
        let sub = self
            .client()?
            .subscribe_timeline(chat, limit, move |diffs| {
                logged(listener.on_diffs(diffs.into_iter().map(Into::into).collect()))
            })?;
        Ok(TaskHandle::new(Live::View(Arc::new(sub))))
    }

    /// A5: the live counts of the status lists under `filter`.
    pub fn subscribe_counts(
        &self,
        filter: ChatFilter,
        listener: Arc<dyn CountsListener>,
    ) -> Result<Arc<TaskHandle>> {
        let sub = self
            .client()?
            .subscribe_counts(filter.into(), move |c| logged(listener.on_counts(c)))?;
        Ok(TaskHandle::new(Live::View(Arc::new(sub))))
    }

    /// S2: the sync state now, then each change.
    pub fn subscribe_sync_state(
        &self,
        listener: Arc<dyn SyncStateListener>,
    ) -> Result<Arc<TaskHandle>> {
        let client = self.client()?;
        let mut rx = client.sync_state();
        logged(listener.on_state(rx.borrow_and_update().clone().into()));
        let task = client.runtime_handle().spawn(async move {
            while rx.changed().await.is_ok() {
                let state = rx.borrow_and_update().clone();
                logged(listener.on_state(state.into()));
            }
        });
        self.tasks.fetch_add(1, Ordering::Relaxed);
        Ok(TaskHandle::new(Live::Task(
            task.abort_handle(),
            self.tasks.clone(),
        )))
    }

    /// E2: upload progress of the outbox's attachments, one call per part.
    pub fn subscribe_uploads(&self, listener: Arc<dyn UploadListener>) -> Result<Arc<TaskHandle>> {
        let client = self.client()?;
        let mut rx = client.upload_progress();
        let task = client.runtime_handle().spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(p) => logged(listener.on_progress(p)),
                    // A slow listener missed some: the next report is newer.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        self.tasks.fetch_add(1, Ordering::Relaxed);
        Ok(TaskHandle::new(Live::Task(
            task.abort_handle(),
            self.tasks.clone(),
        )))
    }

    // Notifications (H2, H4).

    /// H2: registers this device for pushes (again when its token changes).
    pub async fn register_device(&self, registration: DeviceRegistration) -> Result<()> {
        Ok(self.client()?.register_device(registration).await?)
    }

    /// H2: no more pushes to this device (before logging out).
    pub async fn unregister_device(&self, device_id: String) -> Result<()> {
        Ok(self.client()?.unregister_device(&device_id).await?)
    }

    /// H4: the member's notification settings.
    pub async fn notification_settings(&self) -> Result<NotificationSettings> {
        Ok(self.client()?.notification_settings().await?)
    }

    /// H4: replaces them; returns what the server stored.
    pub async fn set_notification_settings(
        &self,
        settings: NotificationSettings,
    ) -> Result<NotificationSettings> {
        Ok(self.client()?.set_notification_settings(settings).await?)
    }

    /// H2: mutes or unmutes a chat's notifications on this device (its
    /// pushes then show nothing, `Suppressed.MUTED`).
    pub fn set_muted(&self, chat: ChatId, muted: bool) -> Result<()> {
        Ok(self.client()?.set_muted(&chat, muted)?)
    }

    /// H2: whether the chat's notifications are muted on this device.
    pub fn is_muted(&self, chat: ChatId) -> Result<bool> {
        Ok(self.client()?.is_muted(&chat)?)
    }

    /// S4: deadline events (a window closes, a pause ends, a Telegram
    /// message turns 48 hours old) as they happen, on server time.
    pub fn subscribe_timers(&self, listener: Arc<dyn TimerListener>) -> Result<Arc<TaskHandle>> {
        let client = self.client()?;
        let mut started = self
            .timers_started
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !*started {
            let hub = Arc::downgrade(&self.timers);
            client.start_timers(move |event| {
                if let Some(hub) = hub.upgrade() {
                    hub.fire(event);
                }
            })?;
            *started = true;
        }
        Ok(TaskHandle::new(self.timers.add(listener)))
    }

    // H2/H3 in the app's own process (Android's FCM service): the push
    // goes through this client, with the notification process's rules.

    /// E7: the app came to the foreground: the outbox sends at once what
    /// the notification process queued, without waiting out a backoff.
    pub fn app_resumed(&self) -> Result<()> {
        self.client()?.app_resumed();
        Ok(())
    }

    /// H2: what to show for a push (as `NotificationClient.show`).
    pub fn show_push(
        &self,
        platform_json: String,
        viewing: Option<ChatId>,
    ) -> Result<rapport_core::push::Decision> {
        Ok(self.client()?.show_push(&platform_json, viewing.as_ref())?)
    }

    /// H3: replies to a push's chat and marks it read (as
    /// `NotificationClient.reply`): while syncing, queued for the outbox
    /// (`delivered: false`); else sent now.
    pub async fn reply_push(
        &self,
        platform_json: String,
        text: String,
        key: String,
    ) -> Result<rapport_core::push::ReplyOutcome> {
        Ok(self
            .client()?
            .reply_push(&platform_json, &text, &key)
            .await?)
    }

    /// Live subscriptions of every kind (lists, timelines, counts, sync
    /// state, timers): back to its old value once handles are cancelled or
    /// dropped. For leak tests and diagnostics.
    pub fn live_subscriptions(&self) -> u32 {
        let views = self.client().map(|c| c.live_subscriptions()).unwrap_or(0);
        let n = views + self.tasks.load(Ordering::Relaxed) + self.timers.len();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}
