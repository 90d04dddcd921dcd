//! The backend a [`crate::Client`] syncs with: the reference server's
//! ([`RapportBackend`]) or, once a SendPulse login is saved or made, the
//! direct connector ([`SendPulseBackend`], issue 17). One engine type and
//! one outbox for both; the choice can change after the client is open
//! (a login), so it is kept behind a lock rather than in the type.

use super::backend::{Backend, Capabilities, Live, Pulled};
use super::{Action, RapportBackend, SendPulseBackend, SyncResult, UploadRef};
use crate::model::{ChatId, Cursor, Message, MessageId, StatsAt};
use futures_util::stream::BoxStream;
use std::sync::{Arc, RwLock};

pub struct AnyBackend {
    rapport: Arc<RapportBackend>,
    sendpulse: RwLock<Option<SendPulseBackend>>,
}

/// Which backend answers.
enum Which {
    Rapport(Arc<RapportBackend>),
    SendPulse(SendPulseBackend),
}

impl AnyBackend {
    pub fn new(rapport: Arc<RapportBackend>) -> AnyBackend {
        AnyBackend {
            rapport,
            sendpulse: RwLock::new(None),
        }
    }

    /// From now on the direct connector answers (`None`: the server again).
    pub fn set_sendpulse(&self, b: Option<SendPulseBackend>) {
        *self.sendpulse.write().unwrap_or_else(|e| e.into_inner()) = b;
    }

    /// The direct connector, when it is the one answering.
    pub fn sendpulse(&self) -> Option<SendPulseBackend> {
        self.sendpulse
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn rapport(&self) -> &Arc<RapportBackend> {
        &self.rapport
    }

    fn which(&self) -> Which {
        match self.sendpulse() {
            Some(s) => Which::SendPulse(s),
            None => Which::Rapport(self.rapport.clone()),
        }
    }
}

impl Backend for AnyBackend {
    fn capabilities(&self) -> Capabilities {
        match self.which() {
            Which::Rapport(b) => b.capabilities(),
            Which::SendPulse(b) => b.capabilities(),
        }
    }

    async fn pull(&self, since: Cursor, limit: u32) -> SyncResult<Pulled> {
        match self.which() {
            Which::Rapport(b) => b.pull(since, limit).await,
            Which::SendPulse(b) => b.pull(since, limit).await,
        }
    }

    async fn pull_paged(
        &self,
        since: Cursor,
        cursor: Option<&str>,
        limit: u32,
        page_size: u32,
    ) -> SyncResult<Pulled> {
        match self.which() {
            Which::Rapport(b) => b.pull_paged(since, cursor, limit, page_size).await,
            Which::SendPulse(b) => b.pull_paged(since, cursor, limit, page_size).await,
        }
    }

    async fn stream(&self, since: Cursor) -> SyncResult<BoxStream<'static, SyncResult<Live>>> {
        match self.which() {
            Which::Rapport(b) => b.stream(since).await,
            Which::SendPulse(b) => b.stream(since).await,
        }
    }

    async fn run(&self, action: &Action, idempotency_key: &str) -> SyncResult<serde_json::Value> {
        match self.which() {
            Which::Rapport(b) => b.run(action, idempotency_key).await,
            Which::SendPulse(b) => b.run(action, idempotency_key).await,
        }
    }

    async fn upload_open(&self, upload: &UploadRef) -> SyncResult<u64> {
        match self.which() {
            Which::Rapport(b) => b.upload_open(upload).await,
            Which::SendPulse(b) => b.upload_open(upload).await,
        }
    }

    async fn upload_part(&self, upload_id: &str, offset: u64, bytes: Vec<u8>) -> SyncResult<u64> {
        match self.which() {
            Which::Rapport(b) => b.upload_part(upload_id, offset, bytes).await,
            Which::SendPulse(b) => b.upload_part(upload_id, offset, bytes).await,
        }
    }

    async fn stats(&self) -> SyncResult<StatsAt> {
        match self.which() {
            Which::Rapport(b) => b.stats().await,
            Which::SendPulse(b) => b.stats().await,
        }
    }

    async fn history(
        &self,
        chat: &ChatId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> SyncResult<(Vec<Message>, bool)> {
        match self.which() {
            Which::Rapport(b) => b.history(chat, before, limit).await,
            Which::SendPulse(b) => b.history(chat, before, limit).await,
        }
    }
}
