//! The change feed (S2): `GET /v1/sync` (snapshot or events after a seq),
//! `GET /v1/stream` (the same events live over a WebSocket, with
//! heartbeats, resuming from a seq) and `GET /v1/chats/{id}/messages`
//! (older history on demand).

use crate::AppState;
use crate::auth::Caller;
use crate::command::ChatPath;
use crate::error::{ApiError, ApiResult};
use crate::hub::Workspace;
use axum::Json;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use rapport_core::model::{ChatId, Cursor, Event, MessageId, Seq, Timestamp};
use rapport_core::wire::{
    ErrorCode, HistoryPage, HistoryQuery, STREAM_CLOSED_FORBIDDEN, STREAM_CLOSED_RESYNC,
    STREAM_CLOSED_SESSION_ENDED, StreamFrame, StreamQuery, SyncPage, SyncQuery, events_to_raw,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// Messages per chat in a snapshot.
pub const SNAPSHOT_MESSAGES_PER_CHAT: u32 = 20;
const MAX_PAGE: u32 = 20_000;

#[utoipa::path(
    get,
    path = "/v1/sync",
    tag = "feed",
    summary = "S2: since=0 answers a snapshot (chats with their latest 20 messages); since>0 up to `limit` events after it and the head; a since ahead of the head, or a since_at other than the logged time of the event at since (the log lost its tail), a fresh snapshot",
    params(rapport_core::wire::SyncQuery),
    responses((status = 200, description = "done", body = rapport_core::wire::SyncPage), crate::error::Errors),
)]
pub async fn sync(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<SyncQuery>,
) -> ApiResult<Json<SyncPage>> {
    caller.require_conversations()?;
    let ws = caller.workspace.clone();
    let page = tokio::task::spawn_blocking(move || -> ApiResult<SyncPage> {
        let cursor = Cursor {
            seq: Seq(q.since),
            at: q.since_at.map(Timestamp),
        };
        let head = if q.since == 0 {
            None
        } else {
            state.hub.resumes(&ws, cursor)?
        };
        // Issue 16 hole 7: a since ahead of the head, or whose event has
        // another time in the log, means this server lost its log's tail
        // (a crash) after the client applied it: the client starts again
        // from the workspace as it is now.
        // Issue 18: a client that pages (page_size) gets its snapshot in
        // pages, and a fresh one when far behind too.
        if let Some(size) = q.page_size {
            let far = state
                .far_behind_events
                .load(std::sync::atomic::Ordering::Relaxed);
            let fresh = q.since != 0 && head.is_none_or(|h| h.0 - q.since >= far);
            if q.since == 0 || fresh {
                if fresh {
                    tracing::info!(since = q.since, "fresh paged snapshot");
                }
                return snapshot_page(&state, &ws, size, q.cursor.as_deref(), fresh);
            }
        }
        let Some(head) = head else {
            if q.since != 0 {
                tracing::info!(
                    since = q.since,
                    "the log lost the client's tail: fresh snapshot"
                );
            }
            return Ok(SyncPage::Snapshot(Box::new(snapshot(&state, &ws)?)));
        };
        let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PAGE);
        let events = state
            .hub
            .events_after_raw(&ws, Seq(q.since), limit)?
            .into_iter()
            .filter_map(|json| serde_json::value::RawValue::from_string(json).ok())
            .collect();
        Ok(SyncPage::Events { events, head })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(page))
}

/// The workspace now, with the time of the event it was read at (the
/// client's [`Cursor`] after applying it) as the log has it: a store made
/// before it kept that time knows only the seq.
fn snapshot(state: &AppState, ws: &Workspace) -> ApiResult<rapport_core::model::Snapshot> {
    let mut s = ws.store.snapshot(SNAPSHOT_MESSAGES_PER_CHAT)?;
    if s.at.is_none() {
        s.at = state.hub.event_at(ws, s.seq)?;
    }
    Ok(s)
}

/// Chats per snapshot page at most.
const MAX_SNAPSHOT_PAGE: u32 = 2_000;

/// Issue 18: one page of a paged snapshot (docs/protocol.md).
fn snapshot_page(
    state: &AppState,
    ws: &Workspace,
    size: u32,
    cursor: Option<&str>,
    fresh: bool,
) -> ApiResult<SyncPage> {
    let before = match cursor {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor: not a snapshot page cursor"))?,
        ),
    };
    let size = size.clamp(1, MAX_SNAPSHOT_PAGE);
    let (mut snapshot, next) = ws
        .store
        .snapshot_page(SNAPSHOT_MESSAGES_PER_CHAT, before, size)?;
    // The time of the event the page was read at (the client's cursor
    // after the first page), as the log has it when the store lacks it.
    if snapshot.at.is_none() {
        snapshot.at = state.hub.event_at(ws, snapshot.seq)?;
    }
    Ok(SyncPage::SnapshotPage(Box::new(
        rapport_core::wire::SnapshotPage {
            snapshot,
            next: next.map(|n| n.to_string()),
            fresh: fresh && before.is_none(),
        },
    )))
}

#[utoipa::path(
    get,
    path = "/v1/chats/{id}/messages",
    tag = "feed",
    summary = "B1: up to `limit` messages older than `before`, oldest first",
    params(ChatPath, rapport_core::wire::HistoryQuery),
    responses((status = 200, description = "done", body = rapport_core::wire::HistoryPage), crate::error::Errors),
)]
pub async fn history(
    caller: Caller,
    Path(chat): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<HistoryPage>> {
    let ws = caller.workspace.clone();
    // SQLite work runs off the async workers.
    let page = tokio::task::spawn_blocking(move || -> ApiResult<HistoryPage> {
        caller.require_conversations()?;
        let chat = ChatId(chat);
        let store = &ws.store;
        let before = match &q.before {
            Some(m) => Some(
                store
                    .message_cursor(&chat, &MessageId(m.clone()))?
                    .ok_or_else(|| ApiError::not_found("message"))?,
            ),
            None => None,
        };
        let limit = q.limit.unwrap_or(50).clamp(1, 500);
        let (messages, has_more) = store.messages_before(&chat, before, limit)?;
        Ok(HistoryPage { messages, has_more })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/v1/stream",
    tag = "feed",
    summary = "S2: WebSocket. Frames {kind:events, events:[...]} with every event after `since`, then live; {kind:heartbeat, head, server_time} when idle; a since ahead of the head or a since_at that does not match the log closes with 4409 (resync: pull /v1/sync for a snapshot)",
    params(rapport_core::wire::StreamQuery),
    responses((status = 200, description = "done"), (status = 101, description = "the WebSocket"), crate::error::Errors),
)]
pub async fn stream(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(e) = caller.require_conversations() {
        return e.into_response();
    }
    // Clients send only small frames; the stream's loop polls its socket
    // on every batch, and each poll zeroes the free part of the read buffer
    // (tungstenite): 4 KiB instead of the default 128 KiB per poll and
    // stream (issue 16 load: it was most of the fan-out's CPU).
    upgrade
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            let since = Cursor {
                seq: Seq(q.since),
                at: q.since_at.map(Timestamp),
            };
            if let Err(e) = run_stream(state, caller, since, socket).await {
                tracing::debug!(error = %e, "stream ended");
            }
        })
}

/// Sends `events` as one frame: `shared` when it is their frame as the
/// feed serialised it once for every stream, else serialised here.
async fn send_events(
    socket: &mut WebSocket,
    state: &AppState,
    events: &[Event],
    shared: Option<&Utf8Bytes>,
) -> Result<(), String> {
    if events.is_empty() {
        return Ok(());
    }
    let faults = &state.faults;
    let reorder = faults.reorder() && events.len() > 1;
    let text: Utf8Bytes = match shared {
        Some(frame) if !reorder => frame.clone(),
        _ => {
            let mut events = events.to_vec();
            if reorder {
                events.swap(0, 1);
            }
            let frame = StreamFrame::Events {
                events: events_to_raw(&events),
            };
            serde_json::to_string(&frame)
                .map_err(|e| e.to_string())?
                .into()
        }
    };
    send_text(socket, state, text).await
}

/// Sends one frame of events (twice under the `duplicate` fault).
async fn send_text(
    socket: &mut WebSocket,
    state: &AppState,
    text: Utf8Bytes,
) -> Result<(), String> {
    let times = if state.faults.duplicate() { 2 } else { 1 };
    for _ in 0..times {
        socket
            .send(WsMessage::Text(text.clone()))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Sends every logged event after `last`, page by page, until the log has
/// no more; returns whether a fault cut the stream.
/// Sends every logged event after `last`, page by page, as the log holds
/// them (an event this server cannot decode still reaches the client, which
/// keeps it), until the log has no more.
async fn drain_log(
    state: &Arc<AppState>,
    ws: &Arc<Workspace>,
    socket: &mut WebSocket,
    last: &mut Seq,
    sent: &mut u64,
) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct SeqOnly {
        seq: Seq,
    }
    loop {
        let (hub_state, ws2, from) = (state.clone(), ws.clone(), *last);
        let page =
            tokio::task::spawn_blocking(move || hub_state.hub.events_after_raw(&ws2, from, 1000))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        let Some(end) = page
            .last()
            .and_then(|j| serde_json::from_str::<SeqOnly>(j).ok())
        else {
            return Ok(());
        };
        *last = end.seq;
        *sent += page.len() as u64;
        let events: Vec<Box<serde_json::value::RawValue>> = page
            .into_iter()
            .filter_map(|j| serde_json::value::RawValue::from_string(j).ok())
            .collect();
        let text =
            serde_json::to_string(&StreamFrame::Events { events }).map_err(|e| e.to_string())?;
        let times = if state.faults.duplicate() { 2 } else { 1 };
        for _ in 0..times {
            socket
                .send(WsMessage::Text(text.clone().into()))
                .await
                .map_err(|e| e.to_string())?;
        }
        if state.faults.cut_stream(*sent) {
            return Err("fault: stream cut".into());
        }
    }
}

/// Whether the stream's caller may still read it: `None` if so, else the
/// close code and reason to end it with.
async fn still_allowed(
    state: &Arc<AppState>,
    caller: &Caller,
) -> Result<Option<CloseFrame>, String> {
    let (st, caller) = (state.clone(), caller.clone());
    tokio::task::spawn_blocking(move || -> Result<Option<CloseFrame>, String> {
        let end = |code, reason: ErrorCode| {
            Some(CloseFrame {
                code,
                reason: reason.as_str().into(),
            })
        };
        if st
            .hub
            .session(&caller.session.token)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Ok(end(STREAM_CLOSED_SESSION_ENDED, ErrorCode::Unauthorized));
        }
        match caller.require_conversations() {
            Ok(()) => Ok(None),
            Err(e) if e.code == ErrorCode::Forbidden => {
                Ok(end(STREAM_CLOSED_FORBIDDEN, ErrorCode::Forbidden))
            }
            Err(e) => Err(format!("{:?}", e.code)),
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Sends a run of consecutive live batches as one frame, the events after
/// `last` only: the feed's own frame for one batch, theirs joined for more.
async fn send_run(
    socket: &mut WebSocket,
    state: &AppState,
    run: &[Arc<crate::event_log::FeedBatch>],
    last: &mut Seq,
    sent: &mut u64,
) -> Result<(), String> {
    let Some(first) = run.first() else {
        return Ok(());
    };
    if first.events.first().is_some_and(|e| e.seq > *last) {
        // All of it new (the usual case).
        if let Some(e) = run.last().and_then(|b| b.events.last()) {
            *last = e.seq;
        }
        *sent += run.iter().map(|b| b.events.len() as u64).sum::<u64>();
        if run.len() == 1 {
            send_events(socket, state, &first.events, Some(&first.frame)).await
        } else if state.faults.reorder() {
            let events: Vec<Event> = run.iter().flat_map(|b| b.events.iter().cloned()).collect();
            send_events(socket, state, &events, None).await
        } else {
            // No event copied per stream: only their frames.
            send_text(socket, state, crate::event_log::FeedBatch::joined(run)).await
        }
    } else {
        let fresh: Vec<Event> = run
            .iter()
            .flat_map(|b| b.events.iter())
            .filter(|e| e.seq > *last)
            .cloned()
            .collect();
        if let Some(e) = fresh.last() {
            *last = e.seq;
        }
        *sent += fresh.len() as u64;
        send_events(socket, state, &fresh, None).await
    }
}

/// Live batches are joined into one frame up to about this size: larger
/// frames cost a WebSocket reader more than the writes they save (each
/// read zeroes the free part of its buffer, which grows with the frame).
const MAX_JOINED_BYTES: usize = 32 * 1024;

async fn run_stream(
    state: Arc<AppState>,
    caller: Caller,
    since: Cursor,
    mut socket: WebSocket,
) -> Result<(), String> {
    let ws = caller.workspace.clone();
    // Subscribe before reading the backlog: nothing falls between them.
    let mut live = ws.feed.subscribe();
    // Issue 16 hole 7: a cursor the log cannot resume from (it lost its
    // tail) has nothing to stream: the client pulls /v1/sync, which
    // answers a fresh snapshot.
    let (st, ws2) = (state.clone(), ws.clone());
    let resumes = tokio::task::spawn_blocking(move || st.hub.resumes(&ws2, since))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if resumes.is_none() {
        let close = CloseFrame {
            code: STREAM_CLOSED_RESYNC,
            reason: "resync".into(),
        };
        let _ = socket.send(WsMessage::Close(Some(close))).await;
        return Err(format!(
            "closed: the log cannot resume from {}",
            since.seq.0
        ));
    }
    let mut last = since.seq;
    let mut sent: u64 = 0;
    drain_log(&state, &ws, &mut socket, &mut last, &mut sent).await?;
    let heartbeat = Duration::from_millis(state.heartbeat_ms);
    // The session and the role are checked on this timer, which traffic
    // does not reset: a busy stream ends at logout as an idle one does.
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A heartbeat goes out after this much quiet (events or client frames
    // push it back; the re-check does not).
    let mut quiet_until = tokio::time::Instant::now() + heartbeat;
    loop {
        tokio::select! {
            got = live.recv() => match got {
                Ok(batch) => {
                    // Batches that came while this stream was writing go
                    // out with this one, in one frame: under load a stream
                    // makes one write per wake, not one per batch.
                    let mut bytes = batch.frame.len();
                    let mut more = vec![batch];
                    let mut lagged = false;
                    while bytes < MAX_JOINED_BYTES {
                        match live.try_recv() {
                            Ok(b) => {
                                bytes += b.frame.len();
                                more.push(b);
                            }
                            Err(TryRecvError::Lagged(_)) => {
                                lagged = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    // One frame per run of consecutive batches: a frame never
                    // skips a seq (an event logged but not broadcast, such as
                    // one this server cannot decode, falls between two
                    // batches; the client catches up on a frame that starts
                    // above its last seq, not on a hole inside one).
                    for run in more.chunk_by(|a, b| crate::event_log::FeedBatch::follows(a, b)) {
                        send_run(&mut socket, &state, run, &mut last, &mut sent).await?;
                    }
                    // Batches were dropped while these were gathered: the
                    // log has them.
                    if lagged {
                        drain_log(&state, &ws, &mut socket, &mut last, &mut sent).await?;
                    }
                    quiet_until = tokio::time::Instant::now() + heartbeat;
                    if state.faults.cut_stream(sent) {
                        return Err("fault: stream cut".into());
                    }
                }
                // Too slow for the live feed: read what it missed from the
                // log, then carry on live.
                Err(RecvError::Lagged(_)) => {
                    drain_log(&state, &ws, &mut socket, &mut last, &mut sent).await?;
                    quiet_until = tokio::time::Instant::now() + heartbeat;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = recheck.tick() => {
                // A session that ended (logout, expiry) or a role without
                // conversations access ends its stream, with its reason.
                if let Some(close) = still_allowed(&state, &caller).await? {
                    let reason = close.reason.to_string();
                    // The peer may be gone already: the stream ends anyway.
                    let _ = socket.send(WsMessage::Close(Some(close))).await;
                    return Err(format!("closed: {reason}"));
                }
            }
            _ = tokio::time::sleep_until(quiet_until) => {
                let (st, ws2) = (state.clone(), ws.clone());
                let head = tokio::task::spawn_blocking(move || st.hub.head(&ws2))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let frame = StreamFrame::Heartbeat { head, server_time: state.hub.now() };
                let text = serde_json::to_string(&frame).map_err(|e| e.to_string())?;
                socket.send(WsMessage::Text(text.into())).await.map_err(|e| e.to_string())?;
                quiet_until = tokio::time::Instant::now() + heartbeat;
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                Some(Ok(_)) => quiet_until = tokio::time::Instant::now() + heartbeat,
            },
        }
    }
}
