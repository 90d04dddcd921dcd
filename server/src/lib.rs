//! Rapport's reference server: the sync API of ARCHITECTURE.md over HTTP
//! and WebSocket (docs/protocol.md), a simulator of the messaging apps
//! behind it, and fault injection for tests. Runs in-process from tests
//! (port 0) or as `rapport-server --db FILE --listen ADDR [--simulate]`.

pub mod accounts;
pub mod api;
pub mod auth;
pub mod bulk;
pub mod command;
pub mod commands;
mod db;
pub mod demo;
pub mod error;
pub mod event_log;
pub mod faults;
pub mod feed;
pub mod gateway;
pub mod hub;
mod idempotency;
pub mod limits;
pub mod log_storage;
pub mod notify;
pub mod prune;
pub mod sim;
pub mod uploads;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use error::ApiError;
use faults::Faults;
use hub::Hub;
use rapport_core::wire::{ErrorCode, SERVER_TIME_HEADER};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

/// What every handler shares.
pub struct AppState {
    pub hub: Hub,
    pub faults: Faults,
    /// Idle time after which a live stream sends a heartbeat.
    pub heartbeat_ms: u64,
    /// S5: login attempts per account and per client address.
    pub login_limits: limits::LoginLimits,
    /// Issue 16 hole 5: each workspace's share of file bytes.
    pub bulk: bulk::BulkLimits,
    /// Issue 18: a paging client this many events behind the head gets a
    /// fresh snapshot instead (tests lower it).
    pub far_behind_events: std::sync::atomic::AtomicU64,
    /// Issue 17: gateway mode (workspaces linked to SendPulse).
    pub gateway: gateway::Gateway,
}

pub fn router(state: Arc<AppState>) -> Router {
    let (routes, _doc) = api::routes().split_for_parts();
    routes
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        // A handler that panics answers a typed 500 instead of a dropped
        // connection (a command's own panic already ends in a 500 from its
        // blocking task, with nothing remembered for its key).
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(tag_route))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), server_time))
        // gzip at its fastest level: dynamic JSON compresses about 8:1
        // even so, and the default level costs the server (and the first
        // sync) several times the CPU for a few per cent fewer bytes.
        // Files (`application/octet-stream`, E2) are not compressed: they
        // are mostly compressed already, and gzip of a 20 MB download runs
        // on the async workers, stalling every other workspace's requests.
        .layer(
            CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(
                    DefaultPredicate::new()
                        .and(NotForContentType::const_new("application/octet-stream")),
                ),
        )
        .with_state(state)
}

/// The answer to a request whose handler panicked. The panic's message may
/// quote data, so it is logged at debug level only.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::debug!(%detail, "the panic");
    ApiError::internal("a request handler panicked").into_response()
}

/// Records the request's method and path for the commands (idempotency
/// scope), replacing whatever a client put in that header.
async fn tag_route(mut req: Request, next: Next) -> Response {
    let route = format!("{} {}", req.method(), req.uri().path());
    req.headers_mut().remove(command::ROUTE_HEADER);
    if let Ok(v) = HeaderValue::from_str(&route) {
        req.headers_mut().insert(command::ROUTE_HEADER, v);
    }
    next.run(req).await
}

/// Every response carries the server's time, so clients can correct their
/// clocks (S4).
async fn server_time(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&state.hub.now().0.to_string()) {
        resp.headers_mut().insert(SERVER_TIME_HEADER, v);
    }
    resp
}

/// Axum answers malformed requests (bad JSON, a bad query, a wrong method)
/// with plain text: turn those into the API's `{code, message}`.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        _ => ErrorCode::BadRequest,
    };
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&body).into_owned();
    ApiError::new(status, code, message).into_response()
}

pub struct ServerConfig {
    pub db: std::path::PathBuf,
    pub listen: SocketAddr,
    pub heartbeat_ms: u64,
    /// Server time; `None`: the system clock. Tests pass a manual clock to
    /// hit rule boundaries to the millisecond.
    pub clock: Option<Arc<dyn rapport_core::timers::Clock>>,
}

/// A server running on the current tokio runtime; dropping it stops it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(
    cfg: ServerConfig,
) -> Result<RunningServer, Box<dyn std::error::Error + Send + Sync>> {
    let clock = cfg.clock.unwrap_or_else(|| Arc::new(hub::SystemClock));
    let hub = tokio::task::spawn_blocking(move || Hub::open_with_clock(&cfg.db, clock)).await??;
    // H1/H2/D2: notifications follow the committed batches.
    hub.on_commit(notify::after_commit);
    let state = Arc::new(AppState {
        hub,
        faults: Faults::default(),
        heartbeat_ms: cfg.heartbeat_ms,
        login_limits: limits::LoginLimits::standard(),
        bulk: bulk::BulkLimits::standard(),
        far_behind_events: rapport_core::wire::FAR_BEHIND_EVENTS.into(),
        gateway: gateway::Gateway::default(),
    });
    {
        let st = state.clone();
        tokio::task::spawn_blocking(move || st.gateway.refresh_links(&st.hub)).await??;
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    // Live frames and answers are small writes that must leave at once:
    // without TCP_NODELAY a frame written while the previous one is not yet
    // acknowledged waits for that ACK (Nagle), which a busy peer delays.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let app = router(state.clone());
    let emails = state.clone();
    let gateway_state = state.clone();
    let task = tokio::spawn(async move {
        // H1: waiting emails go out when their member's hour is up, even
        // when nothing else happens.
        let flush = async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                let st = emails.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    // Issue 16 hole 4: storage with bounds.
                    match prune::prune(&st.hub) {
                        Ok(p) => tracing::debug!(?p, "pruned"),
                        Err(e) => tracing::warn!(error = %e, "not pruned"),
                    }
                    for ws in st.hub.workspace_ids() {
                        if let Err(e) = notify::flush_emails(&st.hub, &ws) {
                            tracing::warn!(error = %e, "emails not flushed");
                        }
                    }
                })
                .await;
            }
        };
        tokio::select! {
            r = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()) => if let Err(e) = r {
                tracing::error!(error = %e, "server stopped");
            },
            () = flush => {}
            () = gateway::run(gateway_state) => {}
        }
    });
    Ok(RunningServer { addr, state, task })
}
