//! The backend of Rapport's own sync API (the reference server): the change
//! feed over HTTP, live events over a WebSocket, commands with idempotency
//! keys. Every response's server time feeds the [`ServerClock`].

use super::backend::{Backend, Capabilities, Live, Malformed, Pulled};
use super::{SyncError, SyncResult, UploadRef};
use crate::model::{ChatId, Cursor, Event, Message, MessageId, Seq, Snapshot, StatsAt, Timestamp};
use crate::timers::ServerClock;
use crate::wire::{
    ErrorBody, ErrorCode, EventsPageIn, HistoryPage, IDEMPOTENCY_HEADER, LoginRequest,
    LoginResponse, Method as WireMethod, RefreshRequest, SERVER_TIME_HEADER, StreamFrameIn,
    UploadStatus,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

/// Reads of the feed time out after this long; the live stream separately
/// watches for heartbeats.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Called with every new session (login, refresh), so that it can be kept
/// in the platform's secure storage.
pub type SessionSink = Box<dyn Fn(&LoginResponse) + Send + Sync>;

/// Reads the session the secret store holds now: another process of the
/// app (the notification process) may have refreshed it.
pub type SessionSource = Box<dyn Fn() -> Option<LoginResponse> + Send + Sync>;

pub struct RapportBackend {
    base: String,
    http: reqwest::Client,
    token: RwLock<Option<String>>,
    refresh_token: RwLock<Option<String>>,
    on_session: RwLock<Option<SessionSink>>,
    stored_session: RwLock<Option<SessionSource>>,
    /// One refresh at a time: a refresh token is good for one use.
    refreshing: tokio::sync::Mutex<()>,
    clock: Arc<ServerClock>,
    /// What the workspace's server can do, from the last session it gave.
    capabilities: RwLock<Capabilities>,
    /// A live stream with no frame for this long is dead (the server sends
    /// heartbeats when idle).
    pub stream_idle_timeout: Duration,
}

/// Installs the TLS crypto provider (ring) for this process, once.
pub fn install_crypto() {
    // rustls needs a process-wide crypto provider; ring is the one that
    // builds for Android and iOS without extra tools. Installing twice is
    // harmless (the second call returns an error we ignore).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Decodes events one by one: a bad one is set aside, not the whole page.
/// (Public for the fuzz target `events`, which must read what sync reads.)
pub fn decode_events(
    values: Vec<Box<serde_json::value::RawValue>>,
) -> (Vec<Event>, Vec<Malformed>) {
    let mut events = Vec::with_capacity(values.len());
    let mut malformed = Vec::new();
    for v in values {
        match Event::from_json(v.get()) {
            Ok(e) => events.push(e),
            Err(e) => {
                let seq = serde_json::from_str::<serde_json::Value>(v.get())
                    .ok()
                    .and_then(|x| x.get("seq").and_then(serde_json::Value::as_u64))
                    .map(Seq);
                malformed.push(Malformed {
                    seq,
                    raw: v.get().to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
    (events, malformed)
}

impl RapportBackend {
    pub fn new(base_url: &str, clock: Arc<ServerClock>) -> SyncResult<RapportBackend> {
        install_crypto();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| SyncError::Network(e.to_string()))?;
        Ok(RapportBackend {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            token: RwLock::new(None),
            refresh_token: RwLock::new(None),
            on_session: RwLock::new(None),
            stored_session: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            clock,
            capabilities: RwLock::new(Capabilities::rapport(&[])),
            stream_idle_timeout: Duration::from_secs(45),
        })
    }

    pub fn clock(&self) -> &Arc<ServerClock> {
        &self.clock
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// Uses a saved session: its access token now, its refresh token when
    /// the server answers 401.
    pub fn set_session(&self, s: &LoginResponse) {
        self.set_token(Some(s.token.clone()));
        self.set_capabilities(s);
        *self
            .refresh_token
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(s.refresh_token.clone());
    }

    /// Hears every new session (to save it).
    pub fn on_session(&self, sink: SessionSink) {
        *self.on_session.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// Reads the stored session before any refresh (S5/H3).
    pub fn stored_session(&self, source: SessionSource) {
        *self
            .stored_session
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// S5/H3: takes the stored pair if it is not `stale` (the pair that
    /// just failed or is about to be refreshed): another process of the app
    /// refreshed it, and its replaced refresh token dies a minute later, so
    /// the stored pair is adopted instead of refreshing. Whether it was.
    pub fn adopt_stored(&self, stale: Option<&str>) -> Option<LoginResponse> {
        let source = self
            .stored_session
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let stored = source.as_ref().and_then(|f| f())?;
        if Some(stored.token.as_str()) == stale {
            return None;
        }
        self.set_session(&stored);
        Some(stored)
    }

    fn set_capabilities(&self, s: &LoginResponse) {
        *self.capabilities.write().unwrap_or_else(|e| e.into_inner()) =
            Capabilities::rapport(&s.unsupported);
    }

    fn took(&self, s: &LoginResponse) {
        self.set_session(s);
        if let Some(sink) = self
            .on_session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            sink(s);
        }
    }

    /// After a 401 with `failed_token`: trades the refresh token for a new
    /// session, once, however many requests failed together. `Ok(false)`:
    /// there is no session to refresh (log in again); an error refreshing
    /// (the network) is returned as it is, so that it is retried.
    async fn refresh_after_401(&self, failed_token: Option<&str>) -> SyncResult<bool> {
        let _one = self.refreshing.lock().await;
        if self.token().as_deref() != failed_token {
            // Another request refreshed meanwhile.
            return Ok(self.token().is_some());
        }
        if self.adopt_stored(failed_token).is_some() {
            return Ok(true);
        }
        let rt = self
            .refresh_token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match rt {
            None => Ok(false),
            Some(rt) => match self.refresh(&rt).await {
                Ok(_) => Ok(true),
                Err(SyncError::Unauthorized) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    fn token(&self) -> Option<String> {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// S5: logs in and keeps the token for the next requests.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> SyncResult<LoginResponse> {
        let body = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let resp: LoginResponse = self
            .request(
                Method::POST,
                "/v1/login",
                None,
                Some(Payload::Json(
                    serde_json::to_value(body).unwrap_or_default(),
                )),
            )
            .await?;
        self.set_token(Some(resp.token.clone()));
        self.set_capabilities(&resp);
        Ok(resp)
    }

    /// S5: a new session for a refresh token (the old pair is revoked).
    pub async fn refresh(&self, refresh_token: &str) -> SyncResult<LoginResponse> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        let body = serde_json::to_value(body).unwrap_or_default();
        let resp: LoginResponse = self
            .request_once(Method::POST, "/v1/refresh", None, Some(Payload::Json(body)))
            .await?;
        self.took(&resp);
        Ok(resp)
    }

    /// Revokes the session on the server and forgets it here. It is
    /// forgotten here even if the server cannot be reached (the error is
    /// returned after).
    pub async fn logout(&self) -> SyncResult<()> {
        let result: SyncResult<serde_json::Value> = self
            .request_once(Method::POST, "/v1/logout", None, None)
            .await;
        self.set_token(None);
        *self
            .refresh_token
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
        *self.on_session.write().unwrap_or_else(|e| e.into_inner()) = None;
        *self
            .stored_session
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
        result.map(|_| ())
    }

    /// H2: registers this device for pushes (again after a token change).
    pub async fn register_device(&self, d: &crate::push::DeviceRegistration) -> SyncResult<()> {
        let body = serde_json::to_value(d).map_err(|e| SyncError::Malformed(e.to_string()))?;
        let _: serde_json::Value = self
            .request(Method::PUT, "/v1/devices", None, Some(Payload::Json(body)))
            .await?;
        Ok(())
    }

    /// H2: no more pushes to this device.
    pub async fn unregister_device(&self, device_id: &str) -> SyncResult<()> {
        let path = format!("/v1/devices/{device_id}");
        let _: serde_json::Value = self.request(Method::DELETE, &path, None, None).await?;
        Ok(())
    }

    /// H4: the member's notification settings.
    pub async fn notification_settings(&self) -> SyncResult<crate::push::NotificationSettings> {
        self.request(Method::GET, "/v1/settings", None, None).await
    }

    /// H4: replaces them; returns what the server stored.
    pub async fn set_notification_settings(
        &self,
        s: &crate::push::NotificationSettings,
    ) -> SyncResult<crate::push::NotificationSettings> {
        let body = serde_json::to_value(s).map_err(|e| SyncError::Malformed(e.to_string()))?;
        self.request(Method::PUT, "/v1/settings", None, Some(Payload::Json(body)))
            .await
    }

    /// F6: the flows whose name contains `q` (every flow when empty).
    pub async fn flows(&self, q: &str) -> SyncResult<Vec<crate::wire::Flow>> {
        let query: String = reqwest::Url::parse_with_params("http://q/", [("q", q)])
            .map_err(|e| SyncError::Malformed(e.to_string()))?
            .query()
            .unwrap_or_default()
            .to_owned();
        let list: crate::wire::FlowList = self
            .request(Method::GET, &format!("/v1/flows?{query}"), None, None)
            .await?;
        Ok(list.flows)
    }

    /// One request; after a 401 (the access token expired or was revoked)
    /// the session is refreshed once and the request sent again.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        body: Option<Payload>,
    ) -> SyncResult<T> {
        let used = self.token();
        match self
            .request_once(method.clone(), path, idempotency_key, body.clone())
            .await
        {
            Err(SyncError::Unauthorized) if path != "/v1/login" => {
                if self.refresh_after_401(used.as_deref()).await? {
                    self.request_once(method, path, idempotency_key, body).await
                } else {
                    Err(SyncError::Unauthorized)
                }
            }
            other => other,
        }
    }

    async fn request_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        body: Option<Payload>,
    ) -> SyncResult<T> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = self.token() {
            req = req.bearer_auth(t);
        }
        if let Some(k) = idempotency_key {
            req = req.header(IDEMPOTENCY_HEADER, k);
        }
        match body {
            Some(Payload::Json(b)) => req = req.json(&b),
            Some(Payload::Bytes(b)) => {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(b)
            }
            None => {}
        }
        let sent = Instant::now();
        let resp = req.send().await?;
        self.observe_time(&resp, sent);
        let resp = check(resp).await?;
        // A body cut off mid-read is the network's fault (retryable); only a
        // body that arrived whole and does not parse is malformed.
        let body = resp
            .bytes()
            .await
            .map_err(|e| SyncError::Network(e.to_string()))?;
        serde_json::from_slice::<T>(&body).map_err(|e| SyncError::Malformed(e.to_string()))
    }

    fn observe_time(&self, resp: &Response, sent: Instant) {
        if let Some(t) = resp
            .headers()
            .get(SERVER_TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
        {
            self.clock.observe(Timestamp(t), sent, Instant::now());
        }
    }

    fn ws_url(&self, path: &str) -> String {
        let base = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| {
                self.base
                    .strip_prefix("http://")
                    .map(|r| format!("ws://{r}"))
            })
            .unwrap_or_else(|| self.base.clone());
        format!("{base}{path}")
    }
}

/// `since=` and, when known, `since_at=` (issue 16 hole 7).
fn cursor_query(c: Cursor) -> String {
    match c.at {
        Some(at) => format!("since={}&since_at={}", c.seq.0, at.0),
        None => format!("since={}", c.seq.0),
    }
}

/// Why the server closed a live stream, from its close code: a role that
/// lost conversations access ends sync (D1); anything else, a session that
/// ended included, is a reconnect, whose request refreshes the token or
/// ends in a logout.
fn stream_closed(code: Option<u16>) -> SyncError {
    match code {
        Some(crate::wire::STREAM_CLOSED_FORBIDDEN) => {
            SyncError::Forbidden("the role no longer has access to conversations".into())
        }
        Some(crate::wire::STREAM_CLOSED_SESSION_ENDED) => {
            SyncError::Network("stream closed: the session ended".into())
        }
        // Our seq is ahead of the feed's head: the catch-up that follows
        // the reconnect gets a fresh snapshot.
        Some(crate::wire::STREAM_CLOSED_RESYNC) => {
            SyncError::Network("stream closed: resync".into())
        }
        _ => SyncError::Network("stream closed".into()),
    }
}

impl RapportBackend {
    async fn stream_once(&self, since: Cursor) -> SyncResult<BoxStream<'static, SyncResult<Live>>> {
        use tungstenite::client::IntoClientRequest;
        let mut req = self
            .ws_url(&format!("/v1/stream?{}", cursor_query(since)))
            .into_client_request()
            .map_err(|e| SyncError::Network(e.to_string()))?;
        let token = self.token().ok_or(SyncError::Unauthorized)?;
        let auth = format!("Bearer {token}")
            .parse()
            .map_err(|_| SyncError::Unauthorized)?;
        req.headers_mut().insert("authorization", auth);
        // Each poll of the socket zeroes the free part of its read buffer
        // (tungstenite): 16 KiB, not the default 128 KiB, per poll; a
        // larger frame (a page of catch-up) grows it as it needs.
        let config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false)
            .await
            .map_err(|e| match e {
                tungstenite::Error::Http(r) if r.status() == 401 => SyncError::Unauthorized,
                tungstenite::Error::Http(r) if r.status() == 403 => {
                    SyncError::Forbidden("no access to conversations".into())
                }
                other => SyncError::Network(other.to_string()),
            })?;
        let idle = self.stream_idle_timeout;
        let frames = futures_util::stream::unfold(socket, move |mut socket| {
            async move {
                loop {
                    let next = match tokio::time::timeout(idle, socket.next()).await {
                        Err(_) => Some(Err(SyncError::Network("stream idle: no heartbeat".into()))),
                        Ok(None) => Some(Err(SyncError::Network("stream closed".into()))),
                        Ok(Some(Err(e))) => Some(Err(SyncError::Network(e.to_string()))),
                        Ok(Some(Ok(tungstenite::Message::Text(text)))) => {
                            match serde_json::from_str::<StreamFrameIn>(&text) {
                                Ok(f) if f.kind == "events" => {
                                    let (events, malformed) = decode_events(f.events);
                                    Some(Ok(Live::Events { events, malformed }))
                                }
                                // A heartbeat's time has an unknown one-way
                                // delay: HTTP responses set the clock instead.
                                Ok(f) if f.kind == "heartbeat" => Some(Ok(Live::Heartbeat {
                                    head: f.head.unwrap_or_default(),
                                })),
                                // A frame of a later version: skip it.
                                Ok(_) => None,
                                Err(e) => Some(Err(SyncError::Malformed(e.to_string()))),
                            }
                        }
                        Ok(Some(Ok(tungstenite::Message::Close(frame)))) => {
                            Some(Err(stream_closed(frame.map(|f| u16::from(f.code)))))
                        }
                        Ok(Some(Ok(_))) => None, // ping/pong/binary: keep reading
                    };
                    if let Some(item) = next {
                        return Some((item, socket));
                    }
                }
            }
        });
        Ok(frames.boxed())
    }
}

/// A `GET /v1/sync` answer by its `kind` (public for the fuzz target
/// `events`, as [`decode_events`]).
pub fn decode_sync_page(raw: &serde_json::value::RawValue) -> SyncResult<Pulled> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: String,
    }
    let bad = |e: serde_json::Error| SyncError::Malformed(e.to_string());
    let kind: Kind = serde_json::from_str(raw.get()).map_err(bad)?;
    match kind.kind.as_str() {
        "snapshot" => Ok(Pulled::Snapshot(
            serde_json::from_str::<Snapshot>(raw.get()).map_err(bad)?,
        )),
        // Issue 18.
        "snapshot_page" => Ok(Pulled::SnapshotPage(
            serde_json::from_str::<crate::wire::SnapshotPage>(raw.get()).map_err(bad)?,
        )),
        _ => {
            let page: EventsPageIn = serde_json::from_str(raw.get()).map_err(bad)?;
            let (events, malformed) = decode_events(page.events);
            Ok(Pulled::Events {
                events,
                malformed,
                head: page.head,
            })
        }
    }
}

/// A request body. Bytes are reference-counted: a retry after a 401 sends
/// the same chunk again without copying it.
#[derive(Clone)]
enum Payload {
    Json(serde_json::Value),
    Bytes(bytes::Bytes),
}

/// Maps an HTTP failure to a typed error.
async fn check(resp: Response) -> SyncResult<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Option<ErrorBody> = resp.json().await.ok();
    Err(match status {
        // S5: a login refused for its email or password says so; any other
        // 401 means the session (token) is not valid.
        StatusCode::UNAUTHORIZED => match body {
            Some(b) if b.code == ErrorCode::BadCredentials => SyncError::Refused {
                status: status.as_u16(),
                code: b.code,
                message: b.message,
            },
            _ => SyncError::Unauthorized,
        },
        StatusCode::FORBIDDEN => SyncError::Forbidden(body.map(|b| b.message).unwrap_or_default()),
        StatusCode::NOT_FOUND => SyncError::NotFound,
        StatusCode::TOO_MANY_REQUESTS => SyncError::RateLimited { retry_after },
        s if s.is_server_error() => SyncError::Server(s.as_u16()),
        s => {
            let b = body.unwrap_or(ErrorBody {
                code: ErrorCode::BadRequest,
                message: String::new(),
            });
            SyncError::Refused {
                status: s.as_u16(),
                code: b.code,
                message: b.message,
            }
        }
    })
}

impl Backend for RapportBackend {
    fn capabilities(&self) -> Capabilities {
        *self.capabilities.read().unwrap_or_else(|e| e.into_inner())
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn pull_paged(
        &self,
        since: Cursor,
        cursor: Option<&str>,
        limit: u32,
        page_size: u32,
    ) -> SyncResult<Pulled> {
        let mut path = format!(
            "/v1/sync?{}&limit={limit}&page_size={page_size}",
            cursor_query(since)
        );
        if let Some(c) = cursor {
            path.push_str("&cursor=");
            // Opaque to the client: escaped byte by byte outside [A-Za-z0-9-_].
            for b in c.bytes() {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    path.push(char::from(b));
                } else {
                    path.push_str(&format!("%{b:02X}"));
                }
            }
        }
        let raw: Box<serde_json::value::RawValue> =
            self.request(Method::GET, &path, None, None).await?;
        decode_sync_page(&raw)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn pull(&self, since: Cursor, limit: u32) -> SyncResult<Pulled> {
        let path = format!("/v1/sync?{}&limit={limit}", cursor_query(since));
        if since.seq == Seq(0) {
            // The page's `kind` field is ignored: we asked for a snapshot.
            let s: Snapshot = self.request(Method::GET, &path, None, None).await?;
            return Ok(Pulled::Snapshot(s));
        }
        // Issue 16 hole 7: a cursor the feed cannot resume from (the server
        // lost its log's tail) is answered a snapshot: the kind says which.
        let raw: Box<serde_json::value::RawValue> =
            self.request(Method::GET, &path, None, None).await?;
        decode_sync_page(&raw)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn stream(&self, since: Cursor) -> SyncResult<BoxStream<'static, SyncResult<Live>>> {
        let used = self.token();
        match self.stream_once(since).await {
            Err(SyncError::Unauthorized) => {
                if self.refresh_after_401(used.as_deref()).await? {
                    self.stream_once(since).await
                } else {
                    Err(SyncError::Unauthorized)
                }
            }
            other => other,
        }
    }

    async fn run(
        &self,
        action: &super::Action,
        idempotency_key: &str,
    ) -> SyncResult<serde_json::Value> {
        let req = super::action::command_request(action);
        let method = match req.method {
            WireMethod::Get => Method::GET,
            WireMethod::Post => Method::POST,
            WireMethod::Put => Method::PUT,
            WireMethod::Patch => Method::PATCH,
            WireMethod::Delete => Method::DELETE,
        };
        let body = req.body;
        self.request(
            method,
            &req.path,
            Some(idempotency_key),
            Some(Payload::Json(body)),
        )
        .await
    }

    async fn upload_open(&self, upload: &UploadRef) -> SyncResult<u64> {
        let body = serde_json::to_value(upload).map_err(|e| SyncError::Malformed(e.to_string()))?;
        let status: UploadStatus = self
            .request(Method::POST, "/v1/uploads", None, Some(Payload::Json(body)))
            .await?;
        Ok(status.received)
    }

    async fn upload_part(&self, upload_id: &str, offset: u64, bytes: Vec<u8>) -> SyncResult<u64> {
        let path = format!("/v1/uploads/{upload_id}/content?offset={offset}");
        let status: UploadStatus = self
            .request(Method::PUT, &path, None, Some(Payload::Bytes(bytes.into())))
            .await?;
        Ok(status.received)
    }

    async fn stats(&self) -> SyncResult<StatsAt> {
        self.request(Method::GET, "/v1/stats", None, None).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn history(
        &self,
        chat: &ChatId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> SyncResult<(Vec<Message>, bool)> {
        let mut path = format!("/v1/chats/{chat}/messages?limit={limit}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let page: HistoryPage = self.request(Method::GET, &path, None, None).await?;
        Ok((page.messages, page.has_more))
    }
}
