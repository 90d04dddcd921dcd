//! Bearer tokens per member (S5 on the server side): `POST /v1/login`
//! issues one, `POST /v1/refresh` replaces it, `POST /v1/logout` revokes it.
//! Every other route needs a valid token and sees only the member's
//! workspace; role rules (D1) are checked where they apply.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Issued, Session, Workspace};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::{Extension, Json};
use rapport_core::model::MemberId;
use rapport_core::wire::{ErrorCode, LoginRequest, LoginResponse, RefreshRequest};
use std::net::SocketAddr;
use std::sync::Arc;

/// The member a request is made by, with their workspace.
#[derive(Clone)]
pub struct Caller {
    pub session: Session,
    pub workspace: Arc<Workspace>,
}

impl Caller {
    pub fn member_id(&self) -> MemberId {
        MemberId(self.session.member_id.clone())
    }

    /// D1: chats are for members whose role grants "conversations and
    /// audience".
    pub fn require_conversations(&self) -> ApiResult<()> {
        let members = self.workspace.store.members(false)?;
        if members.iter().any(|m| {
            m.id.as_str() == self.session.member_id
                && rapport_core::policy::access::has_conversations(m)
        }) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "your role has no access to conversations and audience",
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Caller> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        // The token check reads SQLite: off the async workers.
        let (st, token) = (state.clone(), token.to_owned());
        let session = tokio::task::spawn_blocking(move || st.hub.session(&token))
            .await
            .map_err(ApiError::internal)??
            .ok_or_else(ApiError::unauthorized)?;
        let workspace = state
            .hub
            .workspace(&session.workspace)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller { session, workspace })
    }
}

fn response(state: &AppState, issued: Issued) -> Json<LoginResponse> {
    let s = issued.session;
    // Issue 17: a workspace linked to SendPulse cannot do what its API lacks.
    let unsupported = if state.gateway.linked(&s.workspace) {
        state.gateway.unsupported()
    } else {
        Vec::new()
    };
    Json(LoginResponse {
        unsupported,
        token: s.token,
        refresh_token: issued.refresh_token,
        expires_at: s.expires_at,
        member_id: MemberId(s.member_id),
        workspace_id: s.workspace,
    })
}

#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "session",
    summary = "S5: log in with email and password; at most 10 attempts per account (then one per 6 s) and 100 per client address (then two a second): 429 with Retry-After, no password checked",
    request_body = rapport_core::wire::LoginRequest,
    responses((status = 200, description = "done", body = rapport_core::wire::LoginResponse), crate::error::Errors),
    security(()),
)]
pub async fn login(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    // Over the limit: no password is checked (S5, issue 16).
    let address = peer.map(|Extension(ConnectInfo(a))| a.ip());
    if let Err(wait) = state.login_limits.attempt(&req.email, address) {
        let mut e = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many login attempts: try again later",
        );
        e.retry_after = Some(wait.as_secs().max(1));
        return Err(e);
    }
    // argon2id takes tens of milliseconds of CPU: off the async workers.
    let st = state.clone();
    let issued = tokio::task::spawn_blocking(move || st.hub.login(&req.email, &req.password))
        .await
        .map_err(ApiError::internal)??;
    match issued {
        Some(s) => Ok(response(&state, s)),
        None => Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            ErrorCode::BadCredentials,
            "unknown email or wrong password",
        )),
    }
}

/// A new session for a refresh token (no bearer needed: the access token
/// may have expired).
#[utoipa::path(
    post,
    path = "/v1/refresh",
    tag = "session",
    summary = "S5: a new session for a refresh token (the old pair is revoked); a refresh token already exchanged gets another pair of its session for 60 s (two processes of one app), and after that revokes the whole session family (a stolen token)",
    request_body = rapport_core::wire::RefreshRequest,
    responses((status = 200, description = "done", body = rapport_core::wire::LoginResponse), crate::error::Errors),
    security(()),
)]
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let st = state.clone();
    let issued = tokio::task::spawn_blocking(move || st.hub.refresh(&req.refresh_token))
        .await
        .map_err(ApiError::internal)??;
    match issued {
        Some(s) => Ok(response(&state, s)),
        None => Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            ErrorCode::SessionExpired,
            "log in again",
        )),
    }
}

/// I1: the figures recounted at the workspace's head; on a workspace linked
/// to SendPulse, each bot's sent and subscribers are SendPulse's
/// (`gateway::stats`).
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "feed",
    summary = "I1: messages sent and received and subscribers, for all bots and per bot, counted at `seq` (a workspace linked to SendPulse: sent and subscribers per bot are SendPulse's, cached a minute)",
    responses((status = 200, description = "done", body = rapport_core::model::StatsAt), crate::error::Errors),
)]
pub async fn stats(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<rapport_core::model::StatsAt>> {
    let ws = caller.workspace.clone();
    if state.gateway.linked(&ws.id) {
        return Ok(Json(crate::gateway::stats::linked(&state, &ws).await?));
    }
    let stats = tokio::task::spawn_blocking(move || ws.store.recount_stats())
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(stats))
}

#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "session",
    summary = "S5: revoke the session",
    responses((status = 200, description = "done"), crate::error::Errors),
)]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<rapport_core::wire::NoBody>> {
    // SQLite under the writer: off the async workers, as every other call.
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.hub.revoke(&caller.session.token))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(rapport_core::wire::NoBody {}))
}
