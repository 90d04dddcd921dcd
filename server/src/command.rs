//! How every command runs: one extractor ([`Command`]) takes the caller,
//! the `Idempotency-Key`, the member's access and the typed body; one
//! runner ([`Command::run`]) runs the handler once per key under the
//! workspace's write lock and answers a repeated key with the first answer.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Hub, Workspace};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rapport_core::model::{
    Chat, ChatId, EventPayload, MemberId, Message, MessageId, Note, NoteId, Seq, Timestamp,
};
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::wire::{ErrorCode, IDEMPOTENCY_HEADER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Set by the router on every request (any value a client sends is
/// replaced): the method and path, scoping idempotency keys.
pub const ROUTE_HEADER: &str = "x-rapport-route";

/// The document's parameter of every command: its idempotency key.
#[derive(utoipa::IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
#[allow(dead_code)] // Only described: the extractor reads the header.
pub struct KeyHeader(
    /// The command's key: a repeated key gets the first answer.
    String,
);

/// The document's parameter of every route under `/v1/chats/{id}`.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)] // Only described: handlers take `Path<String>`.
pub struct ChatPath(
    /// The chat.
    String,
);

/// A command request: who, under which key, with which body.
pub struct Command<B> {
    state: Arc<AppState>,
    caller: Caller,
    /// The key's scope: one member, one route, one key.
    scope: String,
    body: B,
}

impl<B: DeserializeOwned + Send> FromRequest<Arc<AppState>> for Command<B> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> ApiResult<Self> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state).await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let key = header(IDEMPOTENCY_HEADER)
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MissingIdempotencyKey,
                    "commands need an Idempotency-Key header",
                )
            })?;
        // D1: chats are for members whose role grants conversations.
        caller.require_conversations()?;
        // A key means one command of one member on one route: the same key
        // from another member, or on another route, is another command.
        let route = header(ROUTE_HEADER).unwrap_or_default();
        let scope = format!("{}\n{route}\n{key}", caller.member_id());
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let body = decode_body(&bytes)?;
        Ok(Command {
            state: state.clone(),
            caller,
            scope,
            body,
        })
    }
}

/// A command's body as the extractor reads it (the fuzz target
/// `server_bodies` calls it directly): an empty body reads as `{}`, bad
/// JSON is a typed 400.
pub fn decode_body<B: DeserializeOwned>(bytes: &[u8]) -> ApiResult<B> {
    let json: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(json).map_err(|e| ApiError::bad_request(format!("the body: {e}")))
}

/// What a handler works with: the hub, the caller's workspace and who
/// the caller is.
pub struct Ctx<'a> {
    pub hub: &'a Hub,
    pub ws: &'a Workspace,
    pub me: &'a MemberId,
}

impl Ctx<'_> {
    /// Server time now.
    pub fn now(&self) -> Timestamp {
        self.hub.now()
    }

    /// Logs, applies and broadcasts the events (under the lock the runner
    /// holds); the seq of the last.
    pub fn emit(&self, payloads: Vec<EventPayload>) -> ApiResult<Seq> {
        let events = self
            .hub
            .emit_locked(self.ws, payloads)
            .map_err(ApiError::from)?;
        Ok(events.last().map_or(Seq(0), |e| e.seq))
    }

    pub fn chat(&self, id: &str) -> ApiResult<Chat> {
        self.ws
            .store
            .chat(&ChatId::from(id))?
            .map(|s| s.chat)
            .ok_or_else(|| ApiError::not_found("chat"))
    }

    pub fn message(&self, chat: &Chat, id: &str) -> ApiResult<Message> {
        match self
            .ws
            .store
            .timeline_item(&chat.id, &TimelineItemId::Message(MessageId::from(id)))?
        {
            Some(TimelineItem::Message(m)) => Ok(m),
            _ => Err(ApiError::not_found("message")),
        }
    }

    /// C1: a note of the chat the caller wrote (only its author changes it).
    pub fn own_note(&self, chat: &Chat, id: &str) -> ApiResult<Note> {
        match self
            .ws
            .store
            .timeline_item(&chat.id, &TimelineItemId::Note(NoteId::from(id)))?
        {
            Some(TimelineItem::Note(n)) if &n.author == self.me => Ok(n),
            Some(TimelineItem::Note(_)) => {
                Err(ApiError::forbidden("only the author can change a note"))
            }
            _ => Err(ApiError::not_found("note")),
        }
    }
}

/// The first step of a command that goes to SendPulse (gateway mode):
/// answered already (a repeated key, or a refusal), or what to do.
enum Prepared<P> {
    Answered(u16, String),
    Go(P),
}

impl<B> Command<B> {
    /// Whether the caller's workspace is linked to SendPulse (gateway mode):
    /// its commands then go to SendPulse's API (`gateway::out`).
    pub fn linked(&self) -> bool {
        self.state.gateway.linked(&self.caller.workspace.id)
    }

    /// The server's state (what a gateway command's preparation needs
    /// beyond the store, such as its file URLs).
    pub(crate) fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }
}

/// An answer as the runner keeps it: successes and refusals; internal
/// errors are not kept, so a retry can succeed.
fn kept<A: Serialize>(result: ApiResult<A>) -> ApiResult<(u16, String)> {
    match result {
        Ok(answer) => Ok((
            StatusCode::OK.as_u16(),
            serde_json::to_string(&answer).map_err(ApiError::internal)?,
        )),
        Err(e) if e.status.is_server_error() => Err(e),
        Err(e) => Ok((
            e.status.as_u16(),
            serde_json::to_string(&e.body()).map_err(ApiError::internal)?,
        )),
    }
}

fn respond(result: Result<ApiResult<(u16, String)>, tokio::task::JoinError>) -> Response {
    match result {
        Ok(Ok((status, body))) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

impl<B: Send + 'static> Command<B> {
    /// A command carried out by SendPulse (gateway mode), once per key:
    /// `prepare` checks the rules and records what is about to be done
    /// (under the write lock, no events), `call` talks to SendPulse with no
    /// lock held, `commit` emits the events (under the lock, logged with the
    /// key's first answer). A refusal from `prepare`, `call` or `commit` is
    /// remembered for the key; a 5xx is not, so the client's retry with the
    /// same key runs it again (and `prepare` finds what was recorded).
    pub async fn run_remote<P, R, A, F>(
        self,
        prepare: impl FnOnce(&Ctx<'_>, &str, B) -> ApiResult<P> + Send + 'static,
        call: impl FnOnce(Arc<AppState>, Arc<Workspace>, P) -> F,
        commit: impl FnOnce(&Ctx<'_>, R) -> ApiResult<A> + Send + 'static,
    ) -> Response
    where
        P: Send + 'static,
        R: Send + 'static,
        A: Serialize,
        F: std::future::Future<Output = ApiResult<R>> + Send,
    {
        let Command {
            state,
            caller,
            scope,
            body,
        } = self;
        let ws = caller.workspace.clone();
        let me = caller.member_id();
        let (st, w, m, sc) = (state.clone(), ws.clone(), me.clone(), scope.clone());
        let first = tokio::task::spawn_blocking(move || {
            let hub = &st.hub;
            hub.exclusive_as(&w, &m, None, || -> ApiResult<Prepared<P>> {
                if let Some((s, b)) = hub.idempotent(&w.id, &sc).map_err(ApiError::from)? {
                    return Ok(Prepared::Answered(s, b));
                }
                let ctx = Ctx {
                    hub,
                    ws: &w,
                    me: &m,
                };
                match prepare(&ctx, &sc, body) {
                    Ok(p) => Ok(Prepared::Go(p)),
                    Err(e) => {
                        let (s, b) = kept::<()>(Err(e))?;
                        hub.remember(&w.id, &sc, s, &b).map_err(ApiError::from)?;
                        Ok(Prepared::Answered(s, b))
                    }
                }
            })
        })
        .await;
        let plan = match first {
            Ok(Ok(Prepared::Go(p))) => p,
            Ok(Ok(Prepared::Answered(s, b))) => return respond(Ok(Ok((s, b)))),
            Ok(Err(e)) => return e.into_response(),
            Err(e) => return ApiError::internal(e).into_response(),
        };
        let called = {
            let Some(_running) = state.gateway.begin(&scope) else {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "this command is being carried out; retry with the same key",
                );
                e.retry_after = Some(1);
                return e.into_response();
            };
            call(state.clone(), ws.clone(), plan).await
        };
        once(state, ws, me, scope, move |ctx| {
            called.and_then(|r| commit(ctx, r))
        })
        .await
    }

    /// Runs `f` once per idempotency key, under the workspace's write lock
    /// (off the async workers). Answers, successes and refusals alike, are
    /// remembered; internal errors are not, so a retry can succeed.
    pub async fn run<A: Serialize>(
        self,
        f: impl FnOnce(&Ctx<'_>, B) -> ApiResult<A> + Send + 'static,
    ) -> Response {
        let Command {
            state,
            caller,
            scope,
            body,
        } = self;
        let ws = caller.workspace.clone();
        let me = caller.member_id();
        once(state, ws, me, scope, move |ctx| f(ctx, body)).await
    }
}

/// Runs `f` once for the key `scope`, under the workspace's write lock (off
/// the async workers): a key already answered gets its first answer;
/// otherwise `f`'s answer, success or refusal, is remembered with its
/// events, and an internal error is not, so a retry can succeed.
async fn once<A: Serialize>(
    state: Arc<AppState>,
    ws: Arc<Workspace>,
    me: MemberId,
    scope: String,
    f: impl FnOnce(&Ctx<'_>) -> ApiResult<A> + Send + 'static,
) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let hub = &state.hub;
        hub.exclusive_as(&ws, &me, Some(&scope), || -> ApiResult<(u16, String)> {
            if let Some(first) = hub.idempotent(&ws.id, &scope).map_err(ApiError::from)? {
                return Ok(first);
            }
            let ctx = Ctx {
                hub,
                ws: &ws,
                me: &me,
            };
            let (status, body) = kept(f(&ctx))?;
            hub.remember(&ws.id, &scope, status, &body)
                .map_err(ApiError::from)?;
            Ok((status, body))
        })
    })
    .await;
    respond(result)
}
