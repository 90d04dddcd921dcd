//! H2/H3: the short-lived notification process (an Android
//! `FirebaseMessagingService`, an iOS Notification Service Extension or a
//! notification's reply action). It holds a `NotificationClient` for one
//! push: the core's `push::NotificationClient`, no sync, one chat touched.

use crate::client::{SecretStore, Secrets};
use crate::error::{RapportError, Result};
use rapport_core::model::ChatId;
use rapport_core::push::{self, Decision, NotificationError, ReplyOutcome};
use std::path::Path;
use std::sync::Arc;

#[derive(uniffi::Object)]
pub struct NotificationClient(push::NotificationClient);

impl From<NotificationError> for RapportError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::Store(e) => e.into(),
            NotificationError::NotLoggedIn => RapportError::NotLoggedIn,
            NotificationError::Refused(reason) => RapportError::Refused { reason },
            NotificationError::Runtime(detail) => RapportError::Internal { detail },
            NotificationError::Backend(e) => e.into(),
            NotificationError::SecretStore(detail) => RapportError::SecretStore { detail },
            // The push itself is unusable (not ours, malformed, newer, for
            // another workspace) or the key is: the app shows nothing, or
            // a generic notification.
            e @ (NotificationError::Push(_)
            | NotificationError::OtherWorkspace
            | NotificationError::InvalidKey) => RapportError::InvalidArgument {
                detail: e.to_string(),
            },
        }
    }
}

#[uniffi::export]
impl NotificationClient {
    /// Opens the store and the session the app saved; no network.
    #[uniffi::constructor]
    pub fn new(
        store_path: String,
        server_url: String,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Arc<Self>> {
        let inner = push::NotificationClient::open(
            Path::new(&store_path),
            &server_url,
            Arc::new(Secrets(secrets)),
        )?;
        Ok(Arc::new(NotificationClient(inner)))
    }

    /// H2: what to show for a push: the platform's data as JSON (FCM's data
    /// map, APNs' userInfo). `viewing`: the chat on screen, if any.
    pub fn show(&self, platform_json: String, viewing: Option<ChatId>) -> Result<Decision> {
        Ok(self.0.show(&platform_json, viewing.as_ref())?)
    }

    /// H3: replies to the push's chat and marks it read (queued first, sent
    /// now if the network allows; else the app sends it, once).
    pub fn reply(&self, platform_json: String, text: String, key: String) -> Result<ReplyOutcome> {
        Ok(self.0.reply(&platform_json, &text, &key)?)
    }

    /// H3: `reply` without blocking a thread (suspend in Kotlin, async in
    /// Swift). The reply and its read are queued before any network call:
    /// a cancelled coroutine, or [`NotificationClient::cancel`], leaves
    /// them queued for the app (never lost, never sent twice).
    pub async fn reply_async(
        &self,
        platform_json: String,
        text: String,
        key: String,
    ) -> Result<ReplyOutcome> {
        Ok(self.0.reply_async(&platform_json, &text, &key).await?)
    }

    /// H3: the notification's "Mark read": the push's chat read on every
    /// device, without the app. Queued with `key` first (the same key again
    /// is one command); whether the server has it now (`false`: the app
    /// sends it).
    pub fn mark_read(&self, platform_json: String, key: String) -> Result<bool> {
        Ok(self.0.mark_read(&platform_json, &key)?)
    }

    /// `mark_read` without blocking a thread; cancelled as `reply_async`.
    pub async fn mark_read_async(&self, platform_json: String, key: String) -> Result<bool> {
        Ok(self.0.mark_read_async(&platform_json, &key).await?)
    }

    /// Stops the replies in flight (`delivered: false`, still queued) and
    /// sends none after: Swift's `Task.cancel()` does not stop a Rust
    /// future, so call this from `withTaskCancellationHandler`.
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// H2: the chat a tapped notification opens, from what the platform handed
/// the app (FCM's data map, APNs' userInfo, as JSON). A push that is not
/// Rapport's, or is malformed, throws `InvalidArgument`.
#[uniffi::export]
pub fn chat_to_open(platform_json: String) -> Result<ChatId> {
    push::chat_to_open(&platform_json).map_err(|e| NotificationError::Push(e).into())
}
