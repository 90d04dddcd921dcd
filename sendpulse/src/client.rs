//! The typed API client. One [`Client`] per SendPulse account.
//!
//! Retries: a request refused with 429 is retried after `Retry-After` (or
//! the backoff when there is none), up to [`Config::max_attempts`]. A 5xx
//! or a transport error is retried the same way only for requests that are
//! safe to repeat (reads and the set-a-state commands); a send or a flow
//! run whose answer is a 5xx or never arrives may have been carried out, so
//! it ends in [`Error::Uncertain`] and the caller looks it up before sending
//! again (SendPulse has no idempotency keys). A 401 drops the token, fetches
//! a new one and retries exactly once.

use std::fmt;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::codes::{App, ContactStatus, Direction, MessageStatus, MessageTag};

pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong talking to SendPulse. Display never carries a
/// credential or message text.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("network error before SendPulse answered: {0}")]
    Network(String),
    /// A request that is not safe to repeat went out and no usable answer
    /// came back (transport error or 5xx): it may have been carried out.
    #[error("no usable answer to a request that may have been carried out ({0})")]
    Uncertain(String),
    #[error("the token endpoint refused the credentials (HTTP {status})")]
    TokenRefused { status: u16 },
    #[error("unauthorized even with a fresh token")]
    Unauthorized,
    #[error("rate limited: gave up after {attempts} attempts")]
    RateLimited { attempts: u32 },
    #[error("server error HTTP {status}: gave up after {attempts} attempts")]
    Server { status: u16, attempts: u32 },
    #[error("request refused with HTTP {status}")]
    Refused { status: u16 },
    #[error("SendPulse answered success=false")]
    Rejected,
    #[error("unexpected answer from SendPulse: {0}")]
    Decode(String),
    #[error("pagination cursor did not advance")]
    CursorStuck,
}

/// An answer that did not decode, named by where and how, never by what it
/// held: serde's own message quotes the values it met (a message's text, a
/// phone number), and errors reach logs and the outbox's stored reasons.
fn undecodable(path: &str, e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "not JSON",
        Category::Eof => "cut short",
        Category::Data => "an unexpected shape",
        Category::Io => "unreadable",
    };
    Error::Decode(format!(
        "{path}: {what} (line {} column {})",
        e.line(),
        e.column()
    ))
}

/// Client credentials of a SendPulse account. Debug shows the id only.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    client_secret: String,
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Credentials {
        Credentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Limits of the client. The defaults suit the real platform; tests shrink
/// the waits.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API's root, e.g. `https://api.sendpulse.com` (no trailing path).
    pub base_url: String,
    /// Attempts per request for 429/5xx/transport errors, the first included.
    pub max_attempts: u32,
    /// First backoff wait; doubled per attempt.
    pub backoff_base: Duration,
    /// No wait is longer than this, `Retry-After` included.
    pub backoff_max: Duration,
    /// A token is renewed this long before it expires.
    pub token_margin: Duration,
    /// Page size asked for lists.
    pub page_size: u32,
    pub request_timeout: Duration,
}

impl Config {
    pub fn new(base_url: impl Into<String>) -> Config {
        Config {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            token_margin: Duration::from_secs(60),
            page_size: 100,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of what the client did (for tests and the bench).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub token_fetches: u64,
    /// Every wait chosen before a retry, in order.
    pub waits: Vec<Duration>,
}

struct Token {
    value: String,
    renew_at: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A typed client for one SendPulse account.
pub struct Client {
    http: reqwest::Client,
    cfg: Config,
    creds: Credentials,
    /// Held across a token fetch, so concurrent requests fetch once.
    token: tokio::sync::Mutex<Option<Token>>,
    stats: StdMutex<Stats>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.cfg.base_url)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be repeated when its answer is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    /// A send or a flow run: repeating it could do it twice.
    Once,
}

// ---- answers -------------------------------------------------------------

/// F6: a bot's flow (`GET /{app}/flows`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Flow {
    pub id: String,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub name: String,
    /// 1 active, 2 inactive.
    #[serde(default)]
    pub status: Option<i64>,
}

/// E5: a WhatsApp bot's message template (`GET /whatsapp/templates`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Template {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// The language code the template was approved in (`en`, `en_US`).
    #[serde(default)]
    pub language: String,
    /// `APPROVED` is the only status WhatsApp sends.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// Meta's components (`HEADER`, `BODY` with its `text`, ...).
    #[serde(default)]
    pub components: Vec<Value>,
}

impl Template {
    pub fn approved(&self) -> bool {
        self.status.as_deref() == Some("APPROVED")
    }

    /// The text of its `BODY` component, as the agent's timeline shows it.
    pub fn body_text(&self) -> Option<&str> {
        self.components.iter().find_map(|c| {
            let kind = c.get("type").and_then(Value::as_str)?;
            kind.eq_ignore_ascii_case("body")
                .then(|| c.get("text").and_then(Value::as_str))
                .flatten()
        })
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Bot {
    pub id: String,
    #[serde(default)]
    pub channel_data: Value,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Contact {
    pub id: String,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub status: Option<ContactStatus>,
    #[serde(default)]
    pub channel_data: Value,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub variables: Value,
    #[serde(default)]
    pub is_chat_opened: Option<bool>,
    #[serde(default)]
    pub last_activity_at: Option<String>,
    #[serde(default)]
    pub automation_paused_until: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Message {
    pub id: String,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub data: Value,
    pub direction: Direction,
    #[serde(default)]
    pub status: Option<MessageStatus>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub sent_by: Option<Value>,
}

/// C1: an operator note on a contact (`GET /{app}/contacts/notes`);
/// SendPulse writes notes in its message shape, the text in `data`.
#[derive(Clone, Deserialize, PartialEq)]
pub struct Note {
    pub id: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub sent_by: Option<Value>,
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// I1: a bot's figures (`GET /{app}/bots/statistics`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct BotStatistics {
    #[serde(default, rename = "subscribedTotalCount")]
    pub subscribed_total: u64,
    #[serde(default, rename = "subscribedActiveCount")]
    pub subscribed_active: u64,
    #[serde(default, rename = "outgoingMessagesTotalCount")]
    pub outgoing_total: u64,
}

/// One chat of a bot (`GET /{app}/chats`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Chat {
    pub contact: Contact,
    #[serde(default)]
    pub inbox_last_message: Option<Message>,
    #[serde(default)]
    pub inbox_unread: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DialogContact {
    pub id: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub profile_pic: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LastMessage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

/// One dialog across apps (`GET /chatbots/dialogs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Dialog {
    #[serde(rename = "_id")]
    pub id: String,
    pub bot_id: String,
    pub contact: DialogContact,
    /// The app's code; [`Dialog::app`] reads it.
    pub service: i64,
    #[serde(default)]
    pub last_inbox_message: Option<LastMessage>,
    #[serde(default)]
    pub last_outbox_message: Option<LastMessage>,
    #[serde(default)]
    pub inbox_unread_count: Option<i64>,
    #[serde(default)]
    pub is_chat_opened: Option<bool>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Dialog {
    pub fn app(&self) -> Option<App> {
        App::from_service_code(self.service)
    }
}

/// One page of dialogs (`GET /chatbots/dialogs`): the list and the cursor
/// of the page after it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DialogPage {
    #[serde(default)]
    pub list: Vec<Dialog>,
    #[serde(default)]
    pub search_after: Option<String>,
}

/// What an agent sends (E1, E5).
#[derive(Clone, PartialEq)]
pub enum Outgoing {
    Text(String),
    /// WhatsApp: a pre-approved template (outside the 24-hour window).
    WhatsappTemplate {
        name: String,
        language: String,
        components: Vec<Value>,
    },
    /// Messenger: a text with a message tag (outside the 24-hour window).
    MessengerTagged {
        tag: MessageTag,
        text: String,
    },
    /// E2: a file SendPulse downloads from `url` (it takes files by URL
    /// only); see [`file_shape`] for what each app takes.
    File {
        kind: FileKind,
        url: String,
        caption: Option<String>,
    },
}

/// E2: what a file is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Image,
    Video,
    Audio,
    Document,
}

/// E2: whether `app`'s send (in SendPulse's published shapes) takes a file
/// of `kind`, and with a caption. `Err` names what it cannot take.
/// - Telegram: `photo`, `video`, `audio`, `document`, each with a caption.
/// - WhatsApp: `image`, `document`, `video` with a caption, `audio` without
///   (`video` is Meta's own structure, which SendPulse's send accepts).
/// - Messenger: `media_img` (images) and `media_file` (the rest), no caption.
/// - Instagram and Viber: images only, no caption.
/// - Live chat: `image` and `document` (the rest), no caption.
pub fn file_shape(
    app: App,
    kind: FileKind,
    caption: bool,
) -> std::result::Result<(), &'static str> {
    let kind_ok = match app {
        App::Telegram | App::Whatsapp | App::Messenger | App::Livechat => true,
        App::Instagram | App::Viber => kind == FileKind::Image,
    };
    if !kind_ok {
        return Err("a file of this kind");
    }
    let caption_ok = match app {
        App::Telegram => true,
        App::Whatsapp => kind != FileKind::Audio,
        _ => false,
    };
    if caption && !caption_ok {
        return Err("a caption with this file");
    }
    Ok(())
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outgoing::Text(t) => write!(f, "Text(<{} bytes>)", t.len()),
            Outgoing::WhatsappTemplate { name, .. } => write!(f, "WhatsappTemplate({name})"),
            Outgoing::MessengerTagged { tag, text } => {
                write!(f, "MessengerTagged({tag:?}, <{} bytes>)", text.len())
            }
            // The URL is a credential for the file: never shown.
            Outgoing::File { kind, .. } => write!(f, "File({kind:?})"),
        }
    }
}

/// SendPulse's answer to a send: the message's id where the app returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub message_id: Option<String>,
}

/// The path and body of a send, per app (docs/sendpulse/openapi.yml).
/// Public so the fake and the gateway's lookup can share the shapes.
pub fn send_request(app: App, contact_id: &str, msg: &Outgoing) -> Result<(String, Value)> {
    let p = app.api_prefix();
    Ok(match (app, msg) {
        (App::Telegram, Outgoing::Text(t)) => (
            format!("/{p}/contacts/sendText"),
            json!({"contact_id": contact_id, "text": t}),
        ),
        (App::Whatsapp, Outgoing::Text(t)) => (
            format!("/{p}/contacts/send"),
            json!({"contact_id": contact_id, "message": {"type": "text", "text": {"body": t}}}),
        ),
        (
            App::Whatsapp,
            Outgoing::WhatsappTemplate {
                name,
                language,
                components,
            },
        ) => (
            format!("/{p}/contacts/sendTemplate"),
            json!({"contact_id": contact_id, "template": {
                "name": name, "language": {"code": language}, "components": components}}),
        ),
        (App::Messenger, Outgoing::Text(t)) => (
            format!("/{p}/contacts/send"),
            json!({"contact_id": contact_id, "message": {
                "type": "RESPONSE", "content_type": "message", "text": t}}),
        ),
        (App::Messenger, Outgoing::MessengerTagged { tag, text }) => (
            format!("/{p}/contacts/send"),
            json!({"contact_id": contact_id, "message": {
                "type": "MESSAGE_TAG", "tag": tag, "content_type": "message", "text": text}}),
        ),
        (App::Instagram, Outgoing::Text(t)) => (
            format!("/{p}/contacts/send"),
            json!({"contact_id": contact_id, "messages": [{"type": "text", "message": {"text": t}}]}),
        ),
        (App::Viber | App::Livechat, Outgoing::Text(t)) => (
            format!("/{p}/contacts/send"),
            json!({"contact_id": contact_id, "messages": [{"type": "text", "text": {"text": t}}]}),
        ),
        (app, Outgoing::File { kind, url, caption }) => {
            if file_shape(app, *kind, caption.is_some()).is_err() {
                return Err(Error::Decode(format!(
                    "{msg:?} cannot go to {}",
                    app.rapport_name()
                )));
            }
            (
                format!("/{p}/contacts/send"),
                file_body(app, contact_id, *kind, url, caption.as_deref()),
            )
        }
        (_, other) => {
            return Err(Error::Decode(format!(
                "{other:?} cannot go to {}",
                app.rapport_name()
            )));
        }
    })
}

/// E2: the body of a file send (checked by [`file_shape`] first).
fn file_body(
    app: App,
    contact_id: &str,
    kind: FileKind,
    url: &str,
    caption: Option<&str>,
) -> Value {
    use FileKind as K;
    let with_caption = |mut v: Value| {
        if let Some(c) = caption {
            v["caption"] = json!(c);
        }
        v
    };
    match app {
        App::Telegram => {
            let t = match kind {
                K::Image => "photo",
                K::Video => "video",
                K::Audio => "audio",
                K::Document => "document",
            };
            let mut m = with_caption(json!({"type": t}));
            m[t] = json!(url);
            json!({"contact_id": contact_id, "message": m})
        }
        App::Whatsapp => {
            let t = match kind {
                K::Image => "image",
                K::Video => "video",
                K::Audio => "audio",
                K::Document => "document",
            };
            let mut m = json!({"type": t});
            m[t] = with_caption(json!({"link": url}));
            json!({"contact_id": contact_id, "message": m})
        }
        App::Messenger => {
            let m = if kind == K::Image {
                json!({"type": "RESPONSE", "content_type": "media_img", "img": url})
            } else {
                json!({"type": "RESPONSE", "content_type": "media_file", "file": url})
            };
            json!({"contact_id": contact_id, "message": m})
        }
        App::Instagram => json!({"contact_id": contact_id, "messages": [{"type": "image",
            "message": {"attachment": {"type": "image",
                "payload": {"is_external_attachment": true, "url": url}}}}]}),
        App::Viber => json!({"contact_id": contact_id, "messages": [{"type": "image",
            "image": {"file": {"is_path_absolute": true, "path": url}}}]}),
        App::Livechat => {
            let t = if kind == K::Image {
                "image"
            } else {
                "document"
            };
            let mut m = json!({"type": t});
            m[t] = json!({"file": {"path": url}});
            json!({"contact_id": contact_id, "messages": [m]})
        }
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = v.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

fn is_retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
}

impl Client {
    pub fn new(cfg: Config, creds: Credentials) -> Result<Client> {
        // rustls needs a process-wide provider; ring, as the core uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| Error::Network(e.to_string()))?;
        Ok(Client {
            http,
            cfg,
            creds,
            token: tokio::sync::Mutex::new(None),
            stats: StdMutex::new(Stats::default()),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count<F: FnOnce(&mut Stats)>(&self, f: F) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        self.cfg
            .backoff_base
            .saturating_mul(factor)
            .min(self.cfg.backoff_max)
    }

    async fn wait(&self, d: Duration) {
        self.count(|s| s.waits.push(d));
        tokio::time::sleep(d).await;
    }

    /// The current token, fetched or renewed when missing or about to expire.
    async fn token(&self, force: bool) -> Result<String> {
        let mut slot = self.token.lock().await;
        if !force
            && let Some(t) = slot.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let t = self.fetch_token().await?;
        let value = t.value.clone();
        *slot = Some(t);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<Token> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: u64,
        }
        let url = format!("{}/oauth/access_token", self.cfg.base_url);
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": self.creds.client_id,
            "client_secret": self.creds.client_secret,
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.count(|s| {
                s.requests += 1;
                s.token_fetches += 1;
            });
            tracing::debug!(attempt, "sendpulse: token request");
            let resp = match self.http.post(&url).json(&body).send().await {
                Ok(r) => r,
                Err(e) if attempt < self.cfg.max_attempts => {
                    tracing::debug!("sendpulse: token request failed: {e}");
                    self.wait(self.backoff(attempt - 1)).await;
                    continue;
                }
                Err(e) => return Err(Error::Network(e.without_url().to_string())),
            };
            let status = resp.status();
            if is_retryable_status(status) && attempt < self.cfg.max_attempts {
                let d = retry_after(&resp)
                    .unwrap_or_else(|| self.backoff(attempt - 1))
                    .min(self.cfg.backoff_max);
                self.wait(d).await;
                continue;
            }
            if !status.is_success() {
                return Err(Error::TokenRefused {
                    status: status.as_u16(),
                });
            }
            let a: Answer = resp
                .json()
                .await
                .map_err(|e| Error::Decode(format!("token answer: {}", e.without_url())))?;
            let life = Duration::from_secs(a.expires_in);
            let renew_in = life.saturating_sub(self.cfg.token_margin.min(life / 2));
            return Ok(Token {
                value: a.access_token,
                renew_at: Instant::now() + renew_in,
            });
        }
    }

    /// One API call with the token, the 401 refresh and the retries.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.cfg.base_url, path))
            .map_err(|e| Error::Network(format!("bad base URL: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut refreshed = false;
        let mut force = false;
        let mut attempt: u32 = 0;
        loop {
            let token = self.token(force).await?;
            force = false;
            attempt += 1;
            self.count(|s| s.requests += 1);
            tracing::debug!(%method, path, attempt, "sendpulse: request");
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let e = e.without_url();
                    // A connection that never opened did not carry the request.
                    let sent = !e.is_connect();
                    if repeat == Repeat::Once && sent {
                        return Err(Error::Uncertain(e.to_string()));
                    }
                    if attempt < self.cfg.max_attempts {
                        self.wait(self.backoff(attempt - 1)).await;
                        continue;
                    }
                    return Err(Error::Network(e.to_string()));
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                if refreshed {
                    return Err(Error::Unauthorized);
                }
                tracing::debug!(path, "sendpulse: 401, one token refresh");
                refreshed = true;
                force = true;
                attempt -= 1;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS
                || (status.is_server_error() && repeat == Repeat::Safe)
            {
                if attempt >= self.cfg.max_attempts {
                    return Err(if status == StatusCode::TOO_MANY_REQUESTS {
                        Error::RateLimited { attempts: attempt }
                    } else {
                        Error::Server {
                            status: status.as_u16(),
                            attempts: attempt,
                        }
                    });
                }
                let d = retry_after(&resp)
                    .unwrap_or_else(|| self.backoff(attempt - 1))
                    .min(self.cfg.backoff_max);
                tracing::info!(path, status = status.as_u16(), ?d, "sendpulse: retrying");
                self.wait(d).await;
                continue;
            }
            if status.is_server_error() {
                return Err(Error::Uncertain(format!("HTTP {}", status.as_u16())));
            }
            if !status.is_success() {
                return Err(Error::Refused {
                    status: status.as_u16(),
                });
            }
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) if repeat == Repeat::Once => {
                    return Err(Error::Uncertain(e.without_url().to_string()));
                }
                Err(e) => return Err(Error::Network(e.without_url().to_string())),
            };
            let v: Value = serde_json::from_str(&text).map_err(|e| undecodable(path, &e))?;
            if v.get("success") == Some(&Value::Bool(false)) {
                return Err(Error::Rejected);
            }
            return Ok(v);
        }
    }

    fn data<T: for<'de> Deserialize<'de>>(path: &str, mut v: Value) -> Result<T> {
        let d = v.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        serde_json::from_value(d).map_err(|e| undecodable(path, &e))
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let v = self
            .call(Method::GET, path, query, None, Repeat::Safe)
            .await?;
        Self::data(path, v)
    }

    async fn command(&self, app: App, op: &str, body: Value) -> Result<()> {
        let path = format!("/{}/{op}", app.api_prefix());
        self.call(Method::POST, &path, &[], Some(&body), Repeat::Safe)
            .await
            .map(drop)
    }

    // ---- lists ----------------------------------------------------------

    /// Every bot of an app.
    pub async fn bots(&self, app: App) -> Result<Vec<Bot>> {
        self.get(&format!("/{}/bots", app.api_prefix()), &[]).await
    }

    /// Every dialog of the account, newest first, following `search_after`
    /// to the end (A1).
    pub async fn dialogs_all(&self) -> Result<Vec<Dialog>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.dialogs_page(after.as_deref()).await?;
            let n = page.list.len();
            out.extend(page.list);
            match page.search_after {
                Some(next) if n > 0 && (n as u32) >= self.cfg.page_size => {
                    if after.as_deref() == Some(next.as_str()) {
                        return Err(Error::CursorStuck);
                    }
                    after = Some(next);
                }
                _ => return Ok(out),
            }
        }
    }

    /// One page of dialogs, newest first, after the cursor `after` (a
    /// page's `search_after`): the direct connector's poll reads pages
    /// until one holds nothing new.
    pub async fn dialogs_page(&self, after: Option<&str>) -> Result<DialogPage> {
        let mut q = vec![
            ("size", self.cfg.page_size.to_string()),
            ("order", "desc".to_owned()),
        ];
        if let Some(a) = after {
            q.push(("search_after", a.to_owned()));
        }
        self.get("/chatbots/dialogs", &q).await
    }

    /// Every chat of a bot, page by page (`size`/`skip`) to the end.
    pub async fn chats_all(&self, app: App, bot_id: &str) -> Result<Vec<Chat>> {
        self.bot_list_all(&format!("/{}/chats", app.api_prefix()), bot_id)
            .await
    }

    /// F6: a bot's flows, paged (`size`/`skip`) to the end.
    pub async fn flows_all(&self, app: App, bot_id: &str) -> Result<Vec<Flow>> {
        self.bot_list_all(&format!("/{}/flows", app.api_prefix()), bot_id)
            .await
    }

    /// E5: a WhatsApp bot's message templates (every status).
    pub async fn whatsapp_templates(&self, bot_id: &str) -> Result<Vec<Template>> {
        let path = "/whatsapp/templates";
        let v = self
            .call(
                Method::GET,
                path,
                &[("bot_id", bot_id.to_owned())],
                None,
                Repeat::Safe,
            )
            .await?;
        // Published as one Template; the platform answers a list.
        let d = v.get("data").cloned().unwrap_or(Value::Null);
        let list = match d {
            Value::Array(_) => d,
            Value::Null => Value::Array(Vec::new()),
            one => Value::Array(vec![one]),
        };
        serde_json::from_value(list).map_err(|e| undecodable(path, &e))
    }

    /// A list of a bot's (`bot_id`), read page by page with `size`/`skip`
    /// until a short page.
    async fn bot_list_all<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        bot_id: &str,
    ) -> Result<Vec<T>> {
        let size = self.cfg.page_size;
        let mut out = Vec::new();
        loop {
            let q = [
                ("bot_id", bot_id.to_owned()),
                ("size", size.to_string()),
                ("skip", out.len().to_string()),
            ];
            let page: Vec<T> = self.get(path, &q).await?;
            let n = page.len();
            out.extend(page);
            if (n as u32) < size || n == 0 {
                return Ok(out);
            }
        }
    }

    /// A contact's whole history, oldest first, following `search_after`
    /// (the last id of a page) to the end (B1).
    pub async fn messages_all(&self, app: App, contact_id: &str) -> Result<Vec<Message>> {
        let path = format!("/{}/chats/messages", app.api_prefix());
        let size = self.cfg.page_size;
        let mut out: Vec<Message> = Vec::new();
        loop {
            let mut q = vec![
                ("contact_id", contact_id.to_owned()),
                ("size", size.to_string()),
                ("order", "asc".to_owned()),
            ];
            let last = out.last().map(|m| m.id.clone());
            if let Some(l) = &last {
                q.push(("search_after", l.clone()));
            }
            let page: Vec<Message> = self.get(&path, &q).await?;
            let n = page.len();
            if n > 0 && page.last().map(|m| &m.id) == last.as_ref() {
                return Err(Error::CursorStuck);
            }
            out.extend(page);
            if (n as u32) < size || n == 0 {
                return Ok(out);
            }
        }
    }

    /// One page of a contact's history: up to `size` messages after the
    /// message `after` (none: from the start), oldest first when
    /// `newest_first` is false, newest first (older than `after`) when true.
    pub async fn messages_page(
        &self,
        app: App,
        contact_id: &str,
        after: Option<&str>,
        newest_first: bool,
        size: u32,
    ) -> Result<Vec<Message>> {
        let path = format!("/{}/chats/messages", app.api_prefix());
        let order = if newest_first { "desc" } else { "asc" };
        let mut q = vec![
            ("contact_id", contact_id.to_owned()),
            ("size", size.to_string()),
            ("order", order.to_owned()),
        ];
        if let Some(a) = after {
            q.push(("search_after", a.to_owned()));
        }
        self.get(&path, &q).await
    }

    /// A contact's history after the message `after` (none: all of it),
    /// oldest first, following `search_after` to the end.
    pub async fn messages_after(
        &self,
        app: App,
        contact_id: &str,
        after: Option<&str>,
    ) -> Result<Vec<Message>> {
        let size = self.cfg.page_size;
        let mut out: Vec<Message> = Vec::new();
        let mut cursor = after.map(str::to_owned);
        loop {
            let page = self
                .messages_page(app, contact_id, cursor.as_deref(), false, size)
                .await?;
            let n = page.len();
            let last = page.last().map(|m| m.id.clone());
            if n > 0 && last == cursor {
                return Err(Error::CursorStuck);
            }
            out.extend(page);
            if (n as u32) < size || n == 0 {
                return Ok(out);
            }
            cursor = last;
        }
    }

    pub async fn contact(&self, app: App, contact_id: &str) -> Result<Contact> {
        self.get(
            &format!("/{}/contacts/get", app.api_prefix()),
            &[("id", contact_id.to_owned())],
        )
        .await
    }

    // ---- commands -------------------------------------------------------

    /// Sends a message in the app's shape. Not repeated on a lost answer:
    /// [`Error::Uncertain`] tells the caller to look before sending again.
    pub async fn send(&self, app: App, contact_id: &str, msg: &Outgoing) -> Result<SendReceipt> {
        let (path, body) = send_request(app, contact_id, msg)?;
        let v = self
            .call(Method::POST, &path, &[], Some(&body), Repeat::Once)
            .await?;
        let message_id = v
            .get("data")
            .and_then(|d| d.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(SendReceipt { message_id })
    }

    /// Marks the contact's messages read (B10); SendPulse's count of them.
    pub async fn mark_read(&self, app: App, contact_id: &str) -> Result<i64> {
        let path = format!("/{}/contacts/mark-read", app.api_prefix());
        let v = self
            .call(
                Method::PUT,
                &path,
                &[("contact_id", contact_id.to_owned())],
                None,
                Repeat::Safe,
            )
            .await?;
        Ok(v.get("count").and_then(Value::as_i64).unwrap_or(0))
    }

    pub async fn open_chat(&self, app: App, contact_id: &str) -> Result<()> {
        self.command(app, "contacts/openChat", json!({"contact_id": contact_id}))
            .await
    }

    pub async fn close_chat(&self, app: App, contact_id: &str) -> Result<()> {
        self.command(app, "contacts/closeChat", json!({"contact_id": contact_id}))
            .await
    }

    pub async fn assign(&self, app: App, contact_id: &str, operator_id: i64) -> Result<()> {
        self.command(
            app,
            "contacts/operators/assign",
            json!({"contact_id": contact_id, "operator_id": operator_id}),
        )
        .await
    }

    pub async fn unassign(&self, app: App, contact_id: &str) -> Result<()> {
        self.command(
            app,
            "contacts/operators/unAssign",
            json!({"contact_id": contact_id}),
        )
        .await
    }

    /// Minutes of automation pause left, `None` when not paused (F7).
    pub async fn pause_get(&self, app: App, contact_id: &str) -> Result<Option<i64>> {
        let path = format!("/{}/contacts/getPauseAutomation", app.api_prefix());
        let v = self
            .call(
                Method::GET,
                &path,
                &[("contact_id", contact_id.to_owned())],
                None,
                Repeat::Safe,
            )
            .await?;
        let d = v.get("data").unwrap_or(&Value::Null);
        Ok(d.get("minutes")
            .and_then(Value::as_i64)
            .or_else(|| d.as_i64())
            .filter(|m| *m > 0))
    }

    pub async fn pause_set(&self, app: App, contact_id: &str, minutes: i64) -> Result<()> {
        self.command(
            app,
            "contacts/setPauseAutomation",
            json!({"contact_id": contact_id, "minutes": minutes}),
        )
        .await
    }

    /// "Continue autoflows": ends the pause now.
    pub async fn pause_delete(&self, app: App, contact_id: &str) -> Result<()> {
        self.command(
            app,
            "contacts/deletePauseAutomation",
            json!({"contact_id": contact_id}),
        )
        .await
    }

    pub async fn set_variable(
        &self,
        app: App,
        contact_id: &str,
        name: &str,
        value: Value,
    ) -> Result<()> {
        self.command(
            app,
            "contacts/setVariable",
            json!({"contact_id": contact_id,
                   "variables": [{"variable_name": name, "variable_value": value}]}),
        )
        .await
    }

    pub async fn add_tags(&self, app: App, contact_id: &str, tags: &[String]) -> Result<()> {
        self.command(
            app,
            "contacts/setTag",
            json!({"contact_id": contact_id, "tags": tags}),
        )
        .await
    }

    pub async fn remove_tag(&self, app: App, contact_id: &str, tag: &str) -> Result<()> {
        self.command(
            app,
            "contacts/deleteTag",
            json!({"contact_id": contact_id, "tag": tag}),
        )
        .await
    }

    /// Starts a flow for the contact (F6). Not repeated on a lost answer.
    pub async fn run_flow(
        &self,
        app: App,
        contact_id: &str,
        flow_id: &str,
        external_data: Option<Value>,
    ) -> Result<()> {
        let mut body = json!({"contact_id": contact_id, "flow_id": flow_id});
        if let Some(x) = external_data {
            body["external_data"] = x;
        }
        let path = format!("/{}/flows/run", app.api_prefix());
        self.call(Method::POST, &path, &[], Some(&body), Repeat::Once)
            .await
            .map(drop)
    }

    /// B7: the agent's reaction (an emoji) to a subscriber's message; only
    /// Telegram's API has it. Setting the same reaction again leaves the
    /// same state, so it is retried as a read is.
    pub async fn telegram_react(
        &self,
        contact_id: &str,
        message_id: &str,
        emoji: &str,
    ) -> Result<()> {
        let body = json!({
            "contact_id": contact_id,
            "message_id": message_id,
            "reaction": {"type": "emoji", "emoji": emoji},
        });
        self.call(
            Method::POST,
            "/telegram/contacts/react",
            &[],
            Some(&body),
            Repeat::Safe,
        )
        .await
        .map(drop)
    }

    // ---- C1 notes, I1 statistics ----------------------------------------

    /// C1: every operator note on a contact of `bot_id`.
    pub async fn notes(&self, app: App, bot_id: &str, contact_id: &str) -> Result<Vec<Note>> {
        self.get(
            &format!("/{}/contacts/notes", app.api_prefix()),
            &[
                ("bot_id", bot_id.to_owned()),
                ("contact_id", contact_id.to_owned()),
            ],
        )
        .await
    }

    /// C1: writes a note; SendPulse's id of it where the answer gives one.
    /// Not repeated on a lost answer ([`Error::Uncertain`]): the caller
    /// looks in [`Client::notes`] before writing it again.
    pub async fn create_note(
        &self,
        app: App,
        bot_id: &str,
        contact_id: &str,
        text: &str,
    ) -> Result<Option<String>> {
        let path = format!("/{}/contacts/createNote", app.api_prefix());
        let body = json!({"contact_id": contact_id, "bot_id": bot_id, "text": text});
        let v = self
            .call(Method::POST, &path, &[], Some(&body), Repeat::Once)
            .await?;
        // The published answer is the note itself; the other commands'
        // answers wrap it in `data`: either is read.
        Ok(v.get("data")
            .and_then(|d| d.get("id"))
            .or_else(|| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// C1: replaces a note's text (the same state when repeated).
    pub async fn update_note(
        &self,
        app: App,
        bot_id: &str,
        contact_id: &str,
        note_id: &str,
        text: &str,
    ) -> Result<()> {
        self.command(
            app,
            "contacts/updateNote",
            json!({"contact_id": contact_id, "bot_id": bot_id, "note_id": note_id, "text": text}),
        )
        .await
    }

    /// C1: deletes a note. A repeat after a lost answer may be refused as
    /// the note is gone: the caller reads the notes to tell.
    pub async fn delete_note(
        &self,
        app: App,
        bot_id: &str,
        contact_id: &str,
        note_id: &str,
    ) -> Result<()> {
        self.command(
            app,
            "contacts/deleteNote",
            json!({"contact_id": contact_id, "bot_id": bot_id, "note_id": note_id}),
        )
        .await
    }

    /// I1: a bot's subscribers (all, active) and outgoing messages.
    pub async fn bot_statistics(&self, app: App, bot_id: &str) -> Result<BotStatistics> {
        self.get(
            &format!("/{}/bots/statistics", app.api_prefix()),
            &[("bot_id", bot_id.to_owned())],
        )
        .await
    }

    pub async fn disable_contact(&self, app: App, contact_id: &str) -> Result<()> {
        self.command(app, "contacts/disable", json!({"contact_id": contact_id}))
            .await
    }

    pub async fn enable_contact(&self, app: App, contact_id: &str) -> Result<()> {
        self.command(app, "contacts/enable", json!({"contact_id": contact_id}))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_credentials_and_text() {
        let c = Credentials::new("id-1", "s3cr3t-value");
        let d = format!("{c:?}");
        assert!(d.contains("id-1") && !d.contains("s3cr3t"), "{d}");
        let client = Client::new(Config::new("http://127.0.0.1:1"), c).unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t"));
        let o = Outgoing::Text("hello there".into());
        assert!(!format!("{o:?}").contains("hello"));
    }

    #[test]
    fn an_answer_that_does_not_decode_is_named_without_its_values() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Contact {
            id: u64,
        }
        let v = json!({"data": {"id": "call me at +33 6 12 34 56 78"}});
        let e = Client::data::<Contact>("/telegram/contacts/get", v).unwrap_err();
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains("+33"), "{shown}");
            assert!(shown.contains("/telegram/contacts/get"), "{shown}");
        }
        let e = serde_json::from_str::<Value>("{\"text\": \"secret").unwrap_err();
        assert!(!undecodable("/x", &e).to_string().contains("secret"));
    }

    #[test]
    fn e5_shapes_that_an_app_cannot_take_are_typed_errors() {
        let t = Outgoing::WhatsappTemplate {
            name: "n".into(),
            language: "en".into(),
            components: vec![],
        };
        assert!(matches!(
            send_request(App::Telegram, "c", &t),
            Err(Error::Decode(_))
        ));
        let (path, body) = send_request(
            App::Messenger,
            "c",
            &Outgoing::MessengerTagged {
                tag: MessageTag::HumanAgent,
                text: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(path, "/messenger/contacts/send");
        assert_eq!(body["message"]["tag"], "HUMAN_AGENT");
        assert_eq!(body["message"]["type"], "MESSAGE_TAG");
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let mut cfg = Config::new("http://x");
        cfg.backoff_base = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(350);
        let c = Client::new(cfg, Credentials::new("a", "b")).unwrap();
        assert_eq!(c.backoff(0), Duration::from_millis(100));
        assert_eq!(c.backoff(1), Duration::from_millis(200));
        assert_eq!(c.backoff(2), Duration::from_millis(350));
        assert_eq!(c.backoff(40), Duration::from_millis(350));
    }
}
