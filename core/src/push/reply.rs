//! H3: the short-lived process that answers a push. An Android
//! `FirebaseMessagingService` or an iOS Notification Service Extension (and
//! the reply action of the notification) holds a [`NotificationClient`]
//! for one push and drops it: it opens the store without syncing, restores
//! the session from the secret store, touches only the push's chat, and
//! owns a one-thread runtime of its own (no sync engine, no timers), so it
//! starts in milliseconds and stays small.
//!
//! A reply goes through the outbox like any other: stored with its echo
//! and its idempotency key before the network call, then sent with the
//! chat's "mark read". If the network fails, or the chat has older
//! commands waiting, the commands stay queued and the full app sends them
//! later, exactly once (the key). Two processes may hold the store at once:
//! SQLite in WAL mode with a busy timeout serialises their writes, and the
//! same command sent by both is one command on the server.

use super::{Decision, PushError, decode, handle};
use crate::model::{ChatId, MemberId, MessageId};
use crate::outbox::{ComposeError, Composer, Draft, OutboxState};
use crate::policy::Refusal;
use crate::session::{SecretStore, Session};
use crate::store::{Store, StoreError};
use crate::sync::{Action, Backend, RapportBackend, SyncError};
use crate::timers::{Clock, ServerClock};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a reply waits for the server before leaving its commands to
/// the app (a notification action has about 30 s on both platforms).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("not logged in")]
    NotLoggedIn,
    /// The push is for another workspace than the one logged in.
    #[error("the push is for another workspace")]
    OtherWorkspace,
    /// The rules refuse the reply (nothing was queued).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A reply key must be 1-56 of A-Z a-z 0-9 - _ (its "mark read"
    /// command's key adds 5).
    #[error("invalid idempotency key")]
    InvalidKey,
    /// The backend could not be set up (its TLS, its URL).
    #[error(transparent)]
    Backend(#[from] SyncError),
    /// The platform's secret store failed reading the session.
    #[error("the secret store: {0}")]
    SecretStore(String),
    #[error("the runtime: {0}")]
    Runtime(String),
}

pub type NotificationResult<T> = Result<T, NotificationError>;

impl From<ComposeError> for NotificationError {
    fn from(e: ComposeError) -> Self {
        match e {
            ComposeError::Refused(r) => NotificationError::Refused(r),
            ComposeError::Store(e) => NotificationError::Store(e),
            ComposeError::InvalidKey => NotificationError::InvalidKey,
            // A reply may go to a chat the store does not hold yet, and
            // names no message: neither is raised for it.
            ComposeError::UnknownChat | ComposeError::UnknownMessage => {
                NotificationError::Store(StoreError::UnknownChat)
            }
        }
    }
}

/// What became of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyOutcome {
    /// The reply's id (its echo's, and the server's message's).
    pub message_id: MessageId,
    /// The server has the reply and the read; `false`: both are queued
    /// and the app sends them.
    pub delivered: bool,
}

pub struct NotificationClient {
    runtime: tokio::runtime::Runtime,
    store: Arc<Store>,
    clock: Arc<ServerClock>,
    backend: Arc<RapportBackend>,
    workspace_id: String,
    me: MemberId,
    /// Swift cannot drop a running future: [`NotificationClient::cancel`].
    cancel: tokio::sync::watch::Sender<bool>,
}

impl NotificationClient {
    /// Opens the store and the saved session; no network.
    pub fn open(
        store_path: &Path,
        server_url: &str,
        secrets: Arc<dyn SecretStore>,
    ) -> NotificationResult<NotificationClient> {
        // One worker: an async reply's network call runs there whatever
        // executor awaits it (UniFFI polls on the app's thread).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rapport-push")
            .enable_all()
            .build()
            .map_err(|e| NotificationError::Runtime(e.to_string()))?;
        let store = Arc::new(Store::open(store_path)?);
        let clock = Arc::new(ServerClock::default());
        let backend = Arc::new(RapportBackend::new(server_url, clock.clone())?);
        let session = Session::restore(backend.clone(), secrets, server_url)
            .map_err(|e| NotificationError::SecretStore(e.0))?
            .ok_or(NotificationError::NotLoggedIn)?;
        let info = session.info();
        Ok(NotificationClient {
            runtime,
            store,
            clock,
            backend,
            workspace_id: info.workspace_id,
            me: info.member_id,
            cancel: tokio::sync::watch::Sender::new(false),
        })
    }

    /// H2: what to show for a push (`viewing`: the chat on screen, if the
    /// app is in front). Records the chat's notification state.
    pub fn show(
        &self,
        platform_json: &str,
        viewing: Option<&ChatId>,
    ) -> NotificationResult<Decision> {
        show(
            &self.store,
            &self.workspace_id,
            platform_json,
            viewing,
            self.clock.now(),
        )
    }

    /// H3: replies to the push's chat and marks it read. `key`: the
    /// idempotency key the app made when the agent tapped "send" (the same
    /// key again is the same reply). Blocks up to [`SEND_TIMEOUT`].
    pub fn reply(
        &self,
        platform_json: &str,
        text: &str,
        key: &str,
    ) -> NotificationResult<ReplyOutcome> {
        let r = self.queue(platform_json, text, key)?;
        let delivered = self.deliver(&r.queued)?;
        Ok(r.outcome(delivered))
    }

    /// H3: the notification's "Mark read" action: the push's chat read on
    /// every device of the agent, without opening the app. Queued with
    /// `key` (the same key again is the same command) before the network
    /// call; whether the server has it now (`false`: the app sends it).
    /// Blocks up to [`SEND_TIMEOUT`].
    pub fn mark_read(&self, platform_json: &str, key: &str) -> NotificationResult<bool> {
        let q = self.queue_read(platform_json, key)?;
        self.deliver(&q)
    }

    /// [`NotificationClient::mark_read`] without blocking a thread;
    /// cancelled as [`NotificationClient::reply_async`] is.
    pub async fn mark_read_async(
        &self,
        platform_json: &str,
        key: &str,
    ) -> NotificationResult<bool> {
        let q = self.queue_read(platform_json, key)?;
        self.deliver_async(&q).await
    }

    fn deliver(&self, q: &Queued) -> NotificationResult<bool> {
        self.runtime.block_on(async {
            tokio::time::timeout(SEND_TIMEOUT, q.send(&self.store, &self.backend))
                .await
                .unwrap_or(Ok(false))
        })
    }

    /// Sends on the client's own runtime; a dropped future or
    /// [`NotificationClient::cancel`] leaves the commands queued.
    async fn deliver_async(&self, q: &Queued) -> NotificationResult<bool> {
        let mut cancelled = self.cancel.subscribe();
        let (store, backend, job) = (self.store.clone(), self.backend.clone(), q.clone());
        let mut task = Abort(self.runtime.spawn(async move {
            tokio::time::timeout(SEND_TIMEOUT, job.send(&store, &backend))
                .await
                .unwrap_or(Ok(false))
        }));
        Ok(tokio::select! {
            r = &mut task.0 => r.unwrap_or(Ok(false))?,
            _ = cancelled.wait_for(|c| *c) => false,
        })
    }

    /// H3: [`NotificationClient::reply`] without blocking a thread. The
    /// reply and its read are queued before the first network call; after
    /// that, dropping the future (a cancelled coroutine) or
    /// [`NotificationClient::cancel`] stops the sending and leaves both
    /// queued for the app (`delivered: false`), and the key keeps a send
    /// cut off mid-flight from becoming two messages.
    pub async fn reply_async(
        &self,
        platform_json: &str,
        text: &str,
        key: &str,
    ) -> NotificationResult<ReplyOutcome> {
        let r = self.queue(platform_json, text, key)?;
        let delivered = self.deliver_async(&r.queued).await?;
        Ok(r.outcome(delivered))
    }

    /// Stops the replies in flight, and sends none from now on (they are
    /// still queued, for the app): for Swift, whose task cancellation does
    /// not drop the future. A `NotificationClient` serves one push.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    fn queue_read(&self, platform_json: &str, key: &str) -> NotificationResult<Queued> {
        let p = decode(platform_json)?;
        if p.workspace_id != self.workspace_id {
            return Err(NotificationError::OtherWorkspace);
        }
        if !crate::outbox::valid_key(key) {
            return Err(NotificationError::InvalidKey);
        }
        let read = Action::MarkRead {
            chat_id: p.chat_id.clone(),
        };
        self.store.enqueue(&read, key, None, self.clock.now())?;
        Ok(Queued {
            chat: p.chat_id,
            keys: vec![key.to_owned()],
        })
    }

    fn queue(&self, platform_json: &str, text: &str, key: &str) -> NotificationResult<Reply> {
        queue_reply(
            &self.store,
            &self.workspace_id,
            self.me.clone(),
            platform_json,
            text,
            key,
            self.clock.now(),
        )
    }
}

/// Aborts its task when dropped (a cancelled caller).
struct Abort<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// H2 for a push, in whichever process holds the store: the notification
/// process or the app's own [`crate::client::Client`].
pub(crate) fn show(
    store: &Store,
    workspace_id: &str,
    platform_json: &str,
    viewing: Option<&ChatId>,
    now: crate::model::Timestamp,
) -> NotificationResult<Decision> {
    let p = decode(platform_json)?;
    Ok(handle(store, &p, workspace_id, viewing, now)?)
}

/// Commands of one chat queued by the notification process (a reply and
/// its "mark read", or a "mark read" alone), sent in order.
#[derive(Clone)]
pub(crate) struct Queued {
    pub(crate) chat: ChatId,
    keys: Vec<String>,
}

/// A reply and its "mark read", queued, and the reply's message id.
pub(crate) struct Reply {
    pub(crate) queued: Queued,
    pub(crate) message_id: MessageId,
}

impl Reply {
    pub(crate) fn outcome(&self, delivered: bool) -> ReplyOutcome {
        ReplyOutcome {
            message_id: self.message_id.clone(),
            delivered,
        }
    }
}

/// H3's rules for a reply, in whichever process answers the push: checked,
/// then stored with its echo and its chat's "mark read" (the key plus
/// `-read`) before any network call.
pub(crate) fn queue_reply(
    store: &Store,
    workspace_id: &str,
    me: MemberId,
    platform_json: &str,
    text: &str,
    key: &str,
    now: crate::model::Timestamp,
) -> NotificationResult<Reply> {
    let p = decode(platform_json)?;
    if p.workspace_id != workspace_id {
        return Err(NotificationError::OtherWorkspace);
    }
    // Its "mark read" adds 5 to the key; the composer checks the rest.
    if key.len() > 56 {
        return Err(NotificationError::InvalidKey);
    }
    let chat = p.chat_id;
    // A chat the store has not synced yet has no echo: the server decides
    // alone. A text reply needs nothing a backend may lack.
    let composer = Composer {
        store,
        me,
        now,
        capabilities: crate::sync::Capabilities::rapport(&[]),
    };
    let message_id = composer.send(&chat, Draft::Text(text), key, true)?;
    let read_key = format!("{key}-read");
    let read = Action::MarkRead {
        chat_id: chat.clone(),
    };
    store.enqueue(&read, &read_key, None, now)?;
    Ok(Reply {
        queued: Queued {
            chat,
            keys: vec![key.to_owned(), read_key],
        },
        message_id,
    })
}

impl Queued {
    /// Sends this chat's commands with these keys, in order, unless older
    /// commands of the chat wait (they go first, with the app). Whether
    /// all of them reached the server.
    pub(crate) async fn send(
        &self,
        store: &Store,
        backend: &RapportBackend,
    ) -> NotificationResult<bool> {
        let queue = store.outbox()?;
        let first_mine = queue.iter().position(|e| self.keys.contains(&e.key));
        let older_waiting = queue
            .iter()
            .take(first_mine.unwrap_or(0))
            .any(|e| e.chat_id.as_ref() == Some(&self.chat));
        if older_waiting {
            return Ok(false);
        }
        for key in &self.keys {
            let Some(entry) = store.outbox_entry(key)? else {
                continue; // the app sent it already
            };
            if entry.state != OutboxState::Queued {
                return Ok(false);
            }
            match backend.run(&entry.action, &entry.key).await {
                // An unreadable 2xx (`Malformed`, e.g. a captive portal) is
                // retryable: the reply stays queued for the app.
                Ok(_) => {
                    store.outbox_sent(entry.id)?;
                }
                Err(e) if e.is_retryable() || matches!(e, SyncError::Unauthorized) => {
                    tracing::debug!(error = %e, "reply left for the app");
                    return Ok(false);
                }
                Err(e) => {
                    store.outbox_failed(entry.id, e.code(), &e.to_string())?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}
