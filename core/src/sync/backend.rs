//! The one trait every backend implements: [`super::RapportBackend`] (the
//! reference server's change feed) and [`super::SendPulseBackend`] (issue
//! 17: SendPulse's public API polled, no live feed, no edits, a feed of its
//! own making). A backend states what it can do and the UI hides the rest.

use super::SyncResult;
use crate::model::{ChatId, Cursor, Event, Message, MessageId, Seq, Snapshot, StatsAt};
use futures_util::stream::BoxStream;
use std::future::Future;

/// What a backend can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Live events over a stream (else the engine polls).
    pub live_stream: bool,
    /// B8: edit and delete sent messages.
    pub edit_delete: bool,
    /// B6: reply quotes.
    pub quotes: bool,
    /// Idempotency keys on commands.
    pub idempotency: bool,
}

impl Capabilities {
    /// The reference server's, less what the workspace's server says it
    /// cannot do ([`crate::wire::LoginResponse::unsupported`]; issue 17: a
    /// workspace linked to SendPulse).
    pub fn rapport(unsupported: &[String]) -> Capabilities {
        use crate::wire::unsupported as u;
        let has = |name: &str| unsupported.iter().any(|n| n == name);
        Capabilities {
            live_stream: true,
            edit_delete: !has(u::EDIT_DELETE),
            quotes: !has(u::QUOTES),
            idempotency: true,
        }
    }
}

/// A page of the change feed.
#[derive(Clone, Debug, PartialEq)]
pub enum Pulled {
    Snapshot(Snapshot),
    Events {
        events: Vec<Event>,
        /// Events this version could not decode, with their raw JSON: kept,
        /// never dropped.
        malformed: Vec<Malformed>,
        head: Seq,
    },
    /// Issue 18: one page of a paged snapshot.
    SnapshotPage(crate::wire::SnapshotPage),
}

/// An event that did not decode.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    pub seq: Option<Seq>,
    pub raw: String,
    pub reason: String,
}

/// One item of a live stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Live {
    Events {
        events: Vec<Event>,
        malformed: Vec<Malformed>,
    },
    Heartbeat {
        head: Seq,
    },
}

pub trait Backend: Send + Sync + 'static {
    fn capabilities(&self) -> Capabilities;

    /// `since.seq == 0`: a snapshot; else up to `limit` events after it, or
    /// a fresh snapshot when the feed cannot resume from `since` (it lost
    /// the events the client holds: issue 16 hole 7).
    fn pull(&self, since: Cursor, limit: u32) -> impl Future<Output = SyncResult<Pulled>> + Send;

    /// Issue 18: like [`Backend::pull`], taking a snapshot in pages of
    /// `page_size` chats: `since == 0` without a cursor answers the first
    /// page, a `cursor` (a page's `next`) the page after it, and a `since`
    /// the server finds too far behind (or ahead of its head) the first
    /// page of a fresh snapshot. A server that does not page answers as
    /// `pull` does.
    fn pull_paged(
        &self,
        since: Cursor,
        cursor: Option<&str>,
        limit: u32,
        page_size: u32,
    ) -> impl Future<Output = SyncResult<Pulled>> + Send;

    /// Events after `since`, live, until the stream ends or fails.
    fn stream(
        &self,
        since: Cursor,
    ) -> impl Future<Output = SyncResult<BoxStream<'static, SyncResult<Live>>>> + Send;

    /// Runs an agent action once per idempotency key (a repeat gets the
    /// first answer) and returns the server's answer.
    fn run(
        &self,
        action: &super::Action,
        idempotency_key: &str,
    ) -> impl Future<Output = SyncResult<serde_json::Value>> + Send;

    /// E2: opens the upload `upload.id` (or finds it, after an
    /// interruption) and returns how many bytes the server already has.
    fn upload_open(
        &self,
        upload: &super::UploadRef,
    ) -> impl Future<Output = SyncResult<u64>> + Send;

    /// E2: sends the bytes that start at `offset`; returns how many the
    /// server has now. A wrong offset is refused with the server's count
    /// (code `upload_offset`): open the upload again to learn it.
    fn upload_part(
        &self,
        upload_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> impl Future<Output = SyncResult<u64>> + Send;

    /// I1: the server's figures and the seq they were counted at.
    fn stats(&self) -> impl Future<Output = SyncResult<StatsAt>> + Send;

    /// B1: up to `limit` messages of `chat` older than `before`, oldest
    /// first, and whether there are more.
    fn history(
        &self,
        chat: &ChatId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> impl Future<Output = SyncResult<(Vec<Message>, bool)>> + Send;
}
