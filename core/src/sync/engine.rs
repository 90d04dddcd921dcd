//! The sync engine (S2): from an empty store to a live inbox, and back to
//! live after any failure, without missing or repeating an event.
//!
//! Lifecycle ([`SyncState`]):
//! `Idle` -> `Snapshot` (when the store has nothing: last seq 0; or when
//! the feed answers a snapshot to a seq ahead of its head, after the server
//! lost its log's tail: the store is then replaced, keeping the outbox) ->
//! `CatchingUp` (pages of the feed until the head) -> `Live` (the stream
//! from the last applied seq) -> on any retryable failure `Offline` (wait
//! with exponential backoff and full jitter, or the server's Retry-After)
//! -> `CatchingUp` again from the last applied seq (an unreadable page
//! included: a captive portal's HTML is not the server's last word). A
//! refusal that retrying cannot fix (401, 403) ends in `Failed` with its
//! reason.
//!
//! Gap-free: the store only ever applies events above its last seq (so
//! duplicates change nothing), and a live batch that starts above last+1
//! is preceded by a catch-up of the missing range from the feed.

use super::backend::{Backend, Live, Malformed, Pulled};
use super::{SyncError, SyncResult};
use crate::Store;
use crate::model::{ChatId, Cursor, Event, MessageId, Seq};
use crate::store::{Changes, SnapshotPart};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Events per catch-up page: large pages amortise the index pages a batch
/// dirties in the store (docs/store.md), and fetching the next page while
/// applying this one hides the transfer.
pub const CATCH_UP_PAGE: u32 = 20_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncState {
    Idle,
    /// Loading the first picture of the workspace.
    Snapshot,
    /// Applying the feed up to `head`; `at` is the last applied seq.
    CatchingUp {
        at: Seq,
        head: Seq,
    },
    /// Following the live stream.
    Live {
        at: Seq,
    },
    /// Waiting to retry after a failure the network or server may fix.
    Offline {
        retry_in: Duration,
        reason: String,
    },
    /// Stopped: retrying cannot help (the session ended, ...).
    Failed {
        code: String,
        reason: String,
    },
}

/// Exponential backoff with full jitter: each wait is random in
/// `[0, min(max, base * 2^attempt)]`, so reconnecting clients spread out.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        cap.mul_f64(fastrand::f64())
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

pub struct SyncEngine<B: Backend> {
    store: Arc<Store>,
    backend: Arc<B>,
    state: watch::Sender<SyncState>,
    /// One catch-up at a time (the live loop and a stats refresh may both
    /// want one; two snapshots racing could apply the older last).
    catching_up: tokio::sync::Mutex<()>,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Issue 18: chats in a snapshot's first page (the inbox's first
    /// screens: usable once it is applied) and in each later page.
    pub first_page: u32,
    pub snapshot_page: u32,
}

/// Issue 18: chats in the first snapshot page and in each page after it.
pub const FIRST_SNAPSHOT_PAGE: u32 = 200;
pub const SNAPSHOT_PAGE: u32 = 1_000;

impl<B: Backend> SyncEngine<B> {
    pub fn new(store: Arc<Store>, backend: Arc<B>) -> Self {
        SyncEngine {
            store,
            backend,
            state: watch::channel(SyncState::Idle).0,
            catching_up: tokio::sync::Mutex::new(()),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            first_page: FIRST_SNAPSHOT_PAGE,
            snapshot_page: SNAPSHOT_PAGE,
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The engine's state, as it changes.
    pub fn state(&self) -> watch::Receiver<SyncState> {
        self.state.subscribe()
    }

    fn set(&self, s: SyncState) {
        self.state.send_replace(s);
    }

    /// Applies a batch (and keeps the events that did not decode) off the
    /// async workers.
    async fn apply(&self, events: Vec<Event>, malformed: Vec<Malformed>) -> SyncResult<Changes> {
        for m in &malformed {
            tracing::warn!(seq = ?m.seq, reason = %m.reason, "malformed event kept");
        }
        let kept: Vec<(Option<Seq>, String, String)> = malformed
            .into_iter()
            .map(|m| (m.seq, m.raw, m.reason))
            .collect();
        self.blocking(move |st| st.apply_with_malformed(&events, &kept))
            .await
    }

    /// Runs a store write off the async workers (it can take a while).
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> crate::store::Result<R> + Send + 'static,
    ) -> SyncResult<R> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| SyncError::Network(format!("store task: {e}")))?
            .map_err(SyncError::from)
    }

    fn pull_task(&self, at: Cursor) -> tokio::task::JoinHandle<SyncResult<Pulled>> {
        let backend = self.backend.clone();
        let first = self.first_page;
        tokio::spawn(async move { backend.pull_paged(at, None, CATCH_UP_PAGE, first).await })
    }

    /// Issue 18: the snapshot pages after the first, while the store has a
    /// cursor (also after a restart in the middle). The next page is
    /// fetched while this one is applied, so at most two are in memory.
    async fn rest_pages(&self) -> SyncResult<()> {
        let fetch = |cursor: String| {
            let backend = self.backend.clone();
            let size = self.snapshot_page;
            tokio::spawn(async move {
                backend
                    .pull_paged(Cursor::default(), Some(&cursor), CATCH_UP_PAGE, size)
                    .await
            })
        };
        let mut pending = self.store.snapshot_next()?.map(fetch);
        let paged = pending.is_some();
        while let Some(task) = pending.take() {
            let page = task
                .await
                .map_err(|e| SyncError::Network(format!("pull task: {e}")))??;
            let Pulled::SnapshotPage(page) = page else {
                return Err(SyncError::Malformed(
                    "a snapshot cursor did not answer a snapshot page".into(),
                ));
            };
            pending = page.next.clone().map(fetch);
            let applied = self
                .blocking(move |st| {
                    st.apply_snapshot_page(&page.snapshot, SnapshotPart::Rest, page.next.as_deref())
                })
                .await;
            if let Err(e) = applied {
                if let Some(t) = pending.take() {
                    t.abort();
                }
                return Err(e);
            }
        }
        if paged {
            // Issue 18: the pages wrote the whole workspace; fold the WAL
            // into the database and cut it to nothing, rather than leave it
            // at its largest until the next automatic checkpoint.
            self.blocking(|st| st.checkpoint()).await?;
        }
        Ok(())
    }

    /// Issue 18: a first snapshot page (into an empty store, or `fresh`
    /// over one that has state), then the rest of the pages.
    async fn paged_snapshot(&self, page: crate::wire::SnapshotPage, fresh: bool) -> SyncResult<()> {
        self.set(SyncState::Snapshot);
        let part = if fresh {
            SnapshotPart::Fresh
        } else {
            SnapshotPart::First
        };
        self.blocking(move |st| st.apply_snapshot_page(&page.snapshot, part, page.next.as_deref()))
            .await?;
        self.rest_pages().await
    }

    /// Snapshot if the store is empty, then the feed up to its head. The
    /// next page is fetched while this one is applied.
    pub async fn catch_up(&self) -> SyncResult<Seq> {
        let _one = self.catching_up.lock().await;
        let mut at = self.store.cursor()?;
        if at.seq == Seq(0) {
            self.set(SyncState::Snapshot);
            match self
                .backend
                .pull_paged(at, None, CATCH_UP_PAGE, self.first_page)
                .await?
            {
                Pulled::Snapshot(s) => {
                    self.blocking(move |st| st.apply_snapshot(&s)).await?;
                }
                Pulled::SnapshotPage(p) => self.paged_snapshot(p, false).await?,
                Pulled::Events { .. } => {
                    return Err(SyncError::Malformed(
                        "since=0 did not answer a snapshot".into(),
                    ));
                }
            }
        } else {
            // A paged snapshot a restart interrupted goes on first.
            self.rest_pages().await?;
        }
        at = self.store.cursor()?;
        let mut next = self.pull_task(at);
        loop {
            let page = next
                .await
                .map_err(|e| SyncError::Network(format!("pull task: {e}")))??;
            let (events, malformed, head) = match page {
                Pulled::Events {
                    events,
                    malformed,
                    head,
                } => (events, malformed, head),
                // Issue 16 hole 7: the feed cannot resume from our cursor
                // (the server lost its log's tail): start again from the
                // workspace as it is now, keeping the outbox.
                Pulled::Snapshot(s) => {
                    tracing::info!(
                        at = at.seq.0,
                        seq = s.seq.0,
                        "the feed answered a snapshot: resync"
                    );
                    self.set(SyncState::Snapshot);
                    at = Cursor {
                        seq: s.seq,
                        at: s.at,
                    };
                    self.blocking(move |st| st.resync(&s)).await?;
                    next = self.pull_task(at);
                    continue;
                }
                // Issue 18: too far behind (or ahead of the head): a fresh
                // paged snapshot, keeping the outbox and local state.
                Pulled::SnapshotPage(p) => {
                    tracing::info!(
                        at = at.seq.0,
                        seq = p.snapshot.seq.0,
                        "fresh paged snapshot"
                    );
                    self.paged_snapshot(p, true).await?;
                    at = self.store.cursor()?;
                    next = self.pull_task(at);
                    continue;
                }
            };
            self.set(SyncState::CatchingUp { at: at.seq, head });
            // Where the store will stand after this page (as `apply`
            // records it: an undecodable last event has no known time).
            let last = events
                .iter()
                .map(|e| Cursor {
                    seq: e.seq,
                    at: Some(e.at),
                })
                .chain(malformed.iter().filter_map(|m| m.seq).map(Cursor::from))
                .max_by_key(|c| (c.seq, c.at.is_none()));
            let more = last.is_some_and(|l| l.seq > at.seq && l.seq < head);
            if let Some(l) = last.filter(|l| l.seq > at.seq) {
                at = l;
            }
            next = self.pull_task(at);
            if !events.is_empty() || !malformed.is_empty() {
                self.apply(events, malformed).await?;
            }
            if !more {
                next.abort();
                break;
            }
        }
        self.blocking(|st| st.checkpoint()).await?;
        Ok(at.seq)
    }

    /// Follows the live stream until it fails.
    async fn live(&self, backoff: &mut Backoff) -> SyncResult<()> {
        let cursor = self.store.cursor()?;
        let mut at = cursor.seq;
        let mut stream = self.backend.stream(cursor).await?;
        self.set(SyncState::Live { at });
        while let Some(item) = stream.next().await {
            match item? {
                Live::Heartbeat { head } => {
                    backoff.reset();
                    if head > at {
                        // Events the stream did not bring: fetch them.
                        at = self.catch_up().await?;
                        self.set(SyncState::Live { at });
                    }
                }
                Live::Events { events, malformed } => {
                    backoff.reset();
                    let first = events
                        .iter()
                        .map(|e| e.seq)
                        .chain(malformed.iter().filter_map(|m| m.seq))
                        .min();
                    if first.is_some_and(|f| f.0 > at.0 + 1) {
                        // A gap: fetch the missing range before this batch.
                        self.catch_up().await?;
                    }
                    self.apply(events, malformed).await?;
                    at = self.store.last_seq()?;
                    self.set(SyncState::Live { at });
                }
            }
        }
        Err(SyncError::Network("stream ended".into()))
    }

    /// Runs until a failure retrying cannot fix (returned), or until the
    /// future is dropped (cancel-safe: every applied batch is committed).
    pub async fn run(&self) -> SyncError {
        let mut backoff = Backoff::new(self.backoff_base, self.backoff_max);
        loop {
            let result = match self.catch_up().await {
                Ok(_) => self.live(&mut backoff).await,
                Err(e) => Err(e),
            };
            let Err(e) = result else { continue };
            if !e.is_retryable() {
                tracing::warn!(error = %e, "sync stopped");
                self.set(SyncState::Failed {
                    code: e.code().to_owned(),
                    reason: e.to_string(),
                });
                return e;
            }
            let wait = match &e {
                SyncError::RateLimited {
                    retry_after: Some(d),
                } => *d,
                _ => backoff.next_delay(),
            };
            tracing::debug!(error = %e, ?wait, "sync retrying");
            self.set(SyncState::Offline {
                retry_in: wait,
                reason: e.to_string(),
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// I1: takes the server's figures. They are counted at a seq; the store
    /// takes them only at exactly that seq, catching up first if behind, and
    /// trying again if the feed moved on meanwhile.
    pub async fn refresh_stats(&self) -> SyncResult<bool> {
        for _ in 0..5 {
            let at = self.backend.stats().await?;
            if self.store.last_seq()? < at.seq {
                self.catch_up().await?;
            }
            if self.store.set_stats(&at)?.0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// B1: fetches older history of a chat when the timeline scrolls past
    /// what the store has, and stores it. Returns whether more is older.
    pub async fn load_older(
        &self,
        chat: &ChatId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> SyncResult<bool> {
        let (messages, more) = self.backend.history(chat, before, limit).await?;
        self.store.store_history(chat, &messages)?;
        Ok(more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..10 {
            let d = b.next_delay();
            let cap = Duration::from_millis(100 * (1u64 << attempt)).min(Duration::from_secs(1));
            assert!(d <= cap, "attempt {attempt}: {d:?} > {cap:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
