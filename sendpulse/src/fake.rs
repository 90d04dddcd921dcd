//! A fake SendPulse on loopback (issue 17): the subset of the chatbot API in
//! docs/sendpulse/openapi.yml over in-memory bots, contacts and messages,
//! with faults to inject (expired tokens, 429/500 answers, an answer dropped
//! after a send was accepted) and webhooks to emit. Every request is
//! recorded, so the contract test can check it against the document.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::App;
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// The status the fake answered (0 when it dropped the answer).
    pub status: u16,
}

/// A fault for the next request whose path contains `path_contains`.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (with `Retry-After` seconds when given), doing nothing.
    Status(u16, Option<u64>),
    /// Carry the request out, then break the connection instead of answering.
    DropAfterAccept,
    /// Wait this many ms before handling the request (a slow platform).
    Delay(u64),
}

#[derive(Debug, Clone)]
pub struct FakeBot {
    pub id: String,
    pub app: App,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct FakeContact {
    pub id: String,
    pub bot_id: String,
    pub app: App,
    pub name: String,
    pub status: i64,
    pub tags: Vec<String>,
    pub variables: serde_json::Map<String, Value>,
    pub opened: bool,
    pub paused_minutes: Option<i64>,
    pub operator: Option<i64>,
    pub unread: i64,
    /// Times in ms.
    pub last_activity: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub id: String,
    pub contact_id: String,
    pub bot_id: String,
    /// 1 in, 2 out.
    pub direction: i64,
    pub status: i64,
    pub text: String,
    /// ms.
    pub created_at: i64,
    /// What the history shows as `data` when not `{"text": text}`: a
    /// template's or a file's message as it was sent.
    pub data: Option<Value>,
}

/// E5: a WhatsApp bot's message template.
#[derive(Debug, Clone)]
pub struct FakeTemplate {
    pub bot_id: String,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, ...
    pub status: String,
    pub body: String,
}

/// E2: a file the fake downloaded from the URL of a send.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub contact_id: String,
    pub url: String,
    pub bytes: Vec<u8>,
}

/// C1: an operator note on a contact.
#[derive(Debug, Clone)]
pub struct FakeNote {
    pub id: String,
    pub contact_id: String,
    pub bot_id: String,
    pub text: String,
    /// ms.
    pub created_at: i64,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub client_id: String,
    pub client_secret: String,
    /// Issued tokens; `false` once expired.
    pub tokens: BTreeMap<String, bool>,
    /// `expires_in` of the tokens issued.
    pub token_life_s: u64,
    pub bots: Vec<FakeBot>,
    pub contacts: BTreeMap<String, FakeContact>,
    pub messages: Vec<FakeMessage>,
    pub faults: VecDeque<(String, Fault)>,
    pub requests: Vec<Recorded>,
    pub flows_run: Vec<(String, String)>,
    /// B7 (Telegram): the agent's reaction per message id.
    pub reactions: BTreeMap<String, String>,
    /// F6: each bot's flows: (id, bot id, name, active).
    pub flows: Vec<(String, String, String, bool)>,
    /// E5: the WhatsApp bots' templates.
    pub templates: Vec<FakeTemplate>,
    /// E2: every file downloaded for a send, in order.
    pub fetched: Vec<Fetched>,
    /// C1: operator notes, oldest first.
    pub notes: Vec<FakeNote>,
    /// Indexes into `messages` per contact (an account of 10k chats is
    /// read in the bench: a scan of every message per chat would make the
    /// fake, not the gateway, the figure).
    by_contact: std::collections::HashMap<String, Vec<usize>>,
    next: u64,
    clock: i64,
}

impl FakeState {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:08}", self.next)
    }

    /// The fake's clock in ms: the system's, never standing still (so
    /// events keep their order), as a real account's times are near now.
    fn tick(&mut self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.clock = (self.clock + 1).max(now);
        self.clock
    }

    fn messages_of(&self, contact: &str) -> impl Iterator<Item = &FakeMessage> {
        self.by_contact
            .get(contact)
            .into_iter()
            .flatten()
            .map(|&i| &self.messages[i])
    }
}

pub struct FakeSendPulse {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSendPulse {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A time in ms as SendPulse writes it (RFC 3339, UTC).
fn iso(t_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t_ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
        .unwrap_or_default()
}

impl FakeSendPulse {
    /// Starts the fake with these credentials and no bots.
    pub async fn start(client_id: &str, client_secret: &str) -> FakeSendPulse {
        let state = Arc::new(Mutex::new(FakeState {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            token_life_s: 3600,
            ..FakeState::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake sendpulse");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSendPulse { url, state, task }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn add_bot(&self, app: App, name: &str) -> String {
        self.with(|s| {
            let id = s.id("bot");
            s.bots.push(FakeBot {
                id: id.clone(),
                app,
                name: name.to_owned(),
            });
            id
        })
    }

    /// F6: a flow of `bot_id` (`active`: status 1, else 2); its id.
    pub fn add_flow(&self, bot_id: &str, name: &str, active: bool) -> String {
        self.with(|s| {
            let id = s.id("flow");
            s.flows
                .push((id.clone(), bot_id.to_owned(), name.to_owned(), active));
            id
        })
    }

    /// E5: a template of WhatsApp bot `bot_id` with a `BODY` text.
    pub fn add_template(&self, bot_id: &str, name: &str, language: &str, status: &str, body: &str) {
        self.with(|s| {
            s.templates.push(FakeTemplate {
                bot_id: bot_id.to_owned(),
                name: name.to_owned(),
                language: language.to_owned(),
                status: status.to_owned(),
                body: body.to_owned(),
            })
        });
    }

    /// A message from the subscriber stored `ago_ms` before now (a support
    /// window closed since); its id. Stored before the contact's others, as
    /// a history is ordered by time.
    pub fn add_incoming_ago(&self, contact_id: &str, text: &str, ago_ms: i64) -> String {
        self.with(|s| {
            let id = push_message(s, contact_id, 1, text, None);
            let m = s.messages.last_mut().expect("message");
            m.created_at -= ago_ms;
            let at = m.created_at;
            let list = s.by_contact.get_mut(contact_id).expect("contact");
            let last = list.pop().expect("message");
            list.insert(0, last);
            let only = list.len() == 1;
            let c = s.contacts.get_mut(contact_id).expect("contact");
            if only {
                c.last_activity = at;
            }
            id
        })
    }

    pub fn add_contact(&self, bot_id: &str, name: &str) -> String {
        self.with(|s| {
            let app = s.bots.iter().find(|b| b.id == bot_id).expect("bot").app;
            let id = s.id("ct");
            let t = s.tick();
            s.contacts.insert(
                id.clone(),
                FakeContact {
                    id: id.clone(),
                    bot_id: bot_id.to_owned(),
                    app,
                    name: name.to_owned(),
                    status: 1,
                    tags: vec![],
                    variables: Default::default(),
                    opened: false,
                    paused_minutes: None,
                    operator: None,
                    unread: 0,
                    last_activity: t,
                    created_at: t,
                },
            );
            id
        })
    }

    /// A message from the subscriber, as SendPulse stores it; its id.
    pub fn add_incoming(&self, contact_id: &str, text: &str) -> String {
        self.with(|s| push_message(s, contact_id, 1, text, None))
    }

    /// C1: a note written in SendPulse's own UI; its id.
    pub fn add_note(&self, contact_id: &str, text: &str) -> String {
        self.with(|s| push_note(s, contact_id, text))
    }

    /// C1: a contact's notes as (id, text), oldest first.
    pub fn notes(&self, contact_id: &str) -> Vec<(String, String)> {
        self.with(|s| {
            s.notes
                .iter()
                .filter(|n| n.contact_id == contact_id)
                .map(|n| (n.id.clone(), n.text.clone()))
                .collect()
        })
    }

    /// I1: what `bots/statistics` answers for a bot: (subscribers, active
    /// subscribers, outgoing messages), counted from the fake's state.
    pub fn bot_statistics(&self, bot_id: &str) -> (u64, u64, u64) {
        self.with(|s| statistics(s, bot_id))
    }

    pub fn fail_next(&self, path_contains: &str, fault: Fault) {
        self.with(|s| s.faults.push_back((path_contains.to_owned(), fault)));
    }

    /// Every token issued so far stops working (401).
    pub fn expire_tokens(&self) {
        self.with(|s| s.tokens.values_mut().for_each(|v| *v = false));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// The count of recorded requests whose path ends with `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.path.ends_with(suffix))
                .count()
        })
    }

    pub fn contact(&self, id: &str) -> FakeContact {
        self.with(|s| s.contacts.get(id).cloned().expect("contact"))
    }

    pub fn outgoing_texts(&self, contact_id: &str) -> Vec<String> {
        self.with(|s| {
            s.messages_of(contact_id)
                .filter(|m| m.direction == 2)
                .map(|m| m.text.clone())
                .collect()
        })
    }

    /// A webhook item for a stored message (`incoming_message` or
    /// `outgoing_message`), in SendPulse's shape.
    pub fn message_item(&self, message_id: &str) -> Value {
        self.with(|s| {
            let m = s
                .messages
                .iter()
                .find(|m| m.id == message_id)
                .expect("message");
            let c = &s.contacts[&m.contact_id];
            let title = if m.direction == 1 {
                "incoming_message"
            } else {
                "outgoing_message"
            };
            json!({
                "title": title,
                "service": c.app.webhook_service(),
                "bot": {"id": c.bot_id, "name": "bot"},
                "contact": {"id": c.id, "name": c.name, "last_message": m.text},
                "date": m.created_at / 1000,
                "info": {"message": {"id": m.id, "text": m.text}},
            })
        })
    }

    /// A webhook item about a contact (`new_subscriber`, `open_chat`,
    /// `unsubscribe`, `bot_block`, or any title), in SendPulse's shape.
    pub fn contact_item(&self, contact_id: &str, title: &str) -> Value {
        self.with(|s| {
            let c = &s.contacts[contact_id];
            json!({
                "title": title,
                "service": c.app.webhook_service(),
                "bot": {"id": c.bot_id, "name": "bot"},
                "contact": {"id": c.id, "name": c.name},
                "date": c.last_activity / 1000,
                "info": {},
            })
        })
    }

    /// The last message to or from a contact: its id.
    pub fn last_message_id(&self, contact_id: &str) -> Option<String> {
        self.with(|s| s.messages_of(contact_id).last().map(|m| m.id.clone()))
    }

    /// Every stored message of a contact: (id, direction, text).
    pub fn history(&self, contact_id: &str) -> Vec<(String, i64, String)> {
        self.with(|s| {
            s.messages_of(contact_id)
                .map(|m| (m.id.clone(), m.direction, m.text.clone()))
                .collect()
        })
    }

    /// A message the bot (a flow) sent, as SendPulse stores it; its id.
    pub fn add_outgoing(&self, contact_id: &str, text: &str) -> String {
        self.with(|s| push_message(s, contact_id, 2, text, None))
    }

    /// POSTs `items` as one webhook body (a JSON array) to `url`; the
    /// receiver's status.
    pub async fn emit_webhook(&self, url: &str, items: &[Value]) -> u16 {
        let http = reqwest::Client::new();
        match http
            .post(url)
            .json(&Value::Array(items.to_vec()))
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

fn push_message(
    s: &mut FakeState,
    contact_id: &str,
    direction: i64,
    text: &str,
    data: Option<Value>,
) -> String {
    let id = s.id("msg");
    let t = s.tick();
    let c = s.contacts.get_mut(contact_id).expect("contact");
    c.last_activity = t;
    if direction == 1 {
        c.unread += 1;
    }
    let bot_id = c.bot_id.clone();
    s.by_contact
        .entry(contact_id.to_owned())
        .or_default()
        .push(s.messages.len());
    s.messages.push(FakeMessage {
        id: id.clone(),
        contact_id: contact_id.to_owned(),
        bot_id,
        direction,
        status: if direction == 1 { 1 } else { 2 },
        text: text.to_owned(),
        created_at: t,
        data,
    });
    id
}

fn push_note(s: &mut FakeState, contact_id: &str, text: &str) -> String {
    let id = s.id("note");
    let created_at = s.tick();
    let bot_id = s.contacts[contact_id].bot_id.clone();
    s.notes.push(FakeNote {
        id: id.clone(),
        contact_id: contact_id.to_owned(),
        bot_id,
        text: text.to_owned(),
        created_at,
    });
    id
}

/// A note in SendPulse's message shape (type 6, operator note).
fn note_json(n: &FakeNote) -> Value {
    json!({
        "id": n.id, "contact_id": n.contact_id, "bot_id": n.bot_id,
        "data": {"text": n.text}, "direction": 2, "type": 6,
        "created_at": iso(n.created_at), "sent_by": null,
    })
}

fn statistics(s: &FakeState, bot_id: &str) -> (u64, u64, u64) {
    let contacts = s.contacts.values().filter(|c| c.bot_id == bot_id);
    let total = contacts.clone().count() as u64;
    let active = contacts.filter(|c| c.status == 1).count() as u64;
    let outgoing = s
        .messages
        .iter()
        .filter(|m| m.bot_id == bot_id && m.direction == 2)
        .count() as u64;
    (total, active, outgoing)
}

/// C1: createNote, updateNote, deleteNote on contact `c` (the body's
/// `bot_id` must be the contact's bot).
fn note_command(s: &mut FakeState, op: &str, c: &str, b: &Value) -> Response {
    let text = b.get("text").and_then(Value::as_str);
    let note = b.get("note_id").and_then(Value::as_str);
    if b.get("bot_id").and_then(Value::as_str) != Some(s.contacts[c].bot_id.as_str()) {
        return bad(StatusCode::BAD_REQUEST);
    }
    let found = note.and_then(|id| s.notes.iter().position(|n| n.id == id && n.contact_id == c));
    match (op, text, found) {
        ("contacts/createNote", Some(t), _) => {
            push_note(s, c, t);
            ok(note_json(s.notes.last().expect("note")))
        }
        ("contacts/updateNote", Some(t), Some(i)) => {
            s.notes[i].text = t.to_owned();
            ok(note_json(&s.notes[i]))
        }
        ("contacts/deleteNote", _, Some(i)) => ok(note_json(&s.notes.remove(i))),
        _ => bad(StatusCode::BAD_REQUEST),
    }
}

fn message_json(m: &FakeMessage) -> Value {
    json!({
        "id": m.id, "contact_id": m.contact_id, "bot_id": m.bot_id,
        "data": m.data.clone().unwrap_or_else(|| json!({"text": m.text})),
        "direction": m.direction, "status": m.status,
        "created_at": iso(m.created_at), "sent_by": null,
    })
}

fn contact_json(c: &FakeContact) -> Value {
    json!({
        "id": c.id, "bot_id": c.bot_id, "status": c.status,
        "channel_data": {"name": c.name}, "tags": c.tags, "variables": c.variables,
        "is_chat_opened": c.opened, "last_activity_at": iso(c.last_activity),
        "automation_paused_until": null, "created_at": iso(c.created_at),
    })
}

fn ok(data: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"success": true, "data": data})),
    )
        .into_response()
}

fn bad(status: StatusCode) -> Response {
    (status, axum::Json(json!({"success": false}))).into_response()
}

fn query_of(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    AxState(state): AxState<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = query_of(&uri);
    let body_json: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let delay = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let i = s
            .faults
            .iter()
            .position(|(p, f)| matches!(f, Fault::Delay(_)) && path.contains(p.as_str()));
        match i.and_then(|i| s.faults.remove(i)) {
            Some((_, Fault::Delay(ms))) => Some(ms),
            _ => None,
        }
    };
    if let Some(ms) = delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let fault = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.faults
            .iter()
            .position(|(p, f)| !matches!(f, Fault::Delay(_)) && path.contains(p.as_str()))
            .and_then(|i| s.faults.remove(i))
            .map(|(_, f)| f)
    };
    // E2: SendPulse downloads a file it is sent by URL before it answers
    // (not when the fault refuses the request).
    let fetched = match file_url_of(&method, &path, body_json.as_ref()) {
        Some(url) if !matches!(fault, Some(Fault::Status(..))) => {
            Some(fetch(&url).await.map(|b| (url, b)))
        }
        _ => None,
    };
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let (status, resp) = match fault {
        Some(Fault::Status(code, retry_after)) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = bad(code);
            if let Some(secs) = retry_after {
                r.headers_mut()
                    .insert("retry-after", secs.to_string().parse().expect("header"));
            }
            (code.as_u16(), r)
        }
        other => {
            let r = route(
                &mut s,
                &method,
                &path,
                &query,
                &headers,
                body_json.as_ref(),
                fetched,
            );
            if matches!(other, Some(Fault::DropAfterAccept)) && r.status().is_success() {
                // Headers go out, then the body breaks: the client never
                // reads an answer to a request that was carried out.
                let broken = futures_util::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other("dropped"))
                });
                (0, Response::new(Body::from_stream(broken)))
            } else {
                (r.status().as_u16(), r)
            }
        }
    };
    s.requests.push(Recorded {
        method: method.to_string(),
        path,
        query,
        body: body_json,
        status,
    });
    resp
}

/// The message of a send body (`message`, or `messages[0]`).
fn message_of(b: &Value) -> Option<&Value> {
    b.get("message").or_else(|| b.pointer("/messages/0"))
}

/// E2: the URL of a file send's body.
fn file_url_of(method: &Method, path: &str, body: Option<&Value>) -> Option<String> {
    if method != Method::POST || !path.ends_with("/contacts/send") {
        return None;
    }
    let key = crate::map::send_key(message_of(body?)?);
    key.strip_prefix("file:").map(str::to_owned)
}

/// E2: the file at `url`, as SendPulse fetches it (an answer other than 200
/// fails the send).
async fn fetch(url: &str) -> Result<Vec<u8>, ()> {
    let r = reqwest::Client::new().get(url).send().await.map_err(drop)?;
    if r.status() != reqwest::StatusCode::OK {
        return Err(());
    }
    Ok(r.bytes().await.map_err(drop)?.to_vec())
}

fn q<'a>(query: &'a [(String, String)], k: &str) -> Option<&'a str> {
    query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn field<'a>(body: Option<&'a Value>, k: &str) -> Option<&'a Value> {
    body.and_then(|b| b.get(k))
}

fn route(
    s: &mut FakeState,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<&Value>,
    fetched: Option<Result<(String, Vec<u8>), ()>>,
) -> Response {
    if path == "/oauth/access_token" && method == Method::POST {
        let good = field(body, "grant_type").and_then(Value::as_str) == Some("client_credentials")
            && field(body, "client_id").and_then(Value::as_str) == Some(s.client_id.as_str())
            && field(body, "client_secret").and_then(Value::as_str)
                == Some(s.client_secret.as_str());
        if !good {
            return bad(StatusCode::UNAUTHORIZED);
        }
        let token = s.id("tok");
        s.tokens.insert(token.clone(), true);
        return axum::Json(json!({
            "access_token": token, "token_type": "Bearer", "expires_in": s.token_life_s,
        }))
        .into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token.is_none_or(|t| s.tokens.get(t) != Some(&true)) {
        return bad(StatusCode::UNAUTHORIZED);
    }
    let size = q(query, "size")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10);
    if path == "/chatbots/dialogs" && method == Method::GET {
        return dialogs(s, query, size);
    }
    let Some((app, rest)) = App::ALL.iter().find_map(|a| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(a.api_prefix()))
            .and_then(|p| p.strip_prefix('/'))
            .map(|r| (*a, r))
    }) else {
        return bad(StatusCode::NOT_FOUND);
    };
    let contact_id = field(body, "contact_id")
        .and_then(Value::as_str)
        .or_else(|| q(query, "contact_id"))
        .map(str::to_owned);
    let known = contact_id
        .as_deref()
        .and_then(|c| s.contacts.get(c))
        .filter(|c| c.app == app)
        .map(|c| c.id.clone());
    match (method.as_str(), rest) {
        ("GET", "bots") => ok(Value::Array(
            s.bots
                .iter()
                .filter(|b| b.app == app)
                .map(|b| json!({"id": b.id, "channel_data": {"name": b.name}, "status": 3}))
                .collect(),
        )),
        ("GET", "chats") => {
            let Some(bot) = q(query, "bot_id") else {
                return bad(StatusCode::BAD_REQUEST);
            };
            let skip = q(query, "skip").and_then(|v| v.parse().ok()).unwrap_or(0);
            let list: Vec<Value> = s
                .contacts
                .values()
                .filter(|c| c.bot_id == bot)
                .skip(skip)
                .take(size)
                .map(|c| {
                    let last = s.messages_of(&c.id).filter(|m| m.direction == 1).last();
                    json!({"contact": contact_json(c),
                           "inbox_last_message": last.map(message_json),
                           "inbox_unread": c.unread})
                })
                .collect();
            ok(Value::Array(list))
        }
        ("GET", "flows") => {
            let Some(bot) = q(query, "bot_id") else {
                return bad(StatusCode::BAD_REQUEST);
            };
            let skip = q(query, "skip").and_then(|v| v.parse().ok()).unwrap_or(0);
            let list: Vec<Value> = s
                .flows
                .iter()
                .filter(|f| f.1 == bot)
                .skip(skip)
                .take(size)
                .map(|(id, bot, name, active)| {
                    json!({"id": id, "bot_id": bot, "name": name,
                           "status": if *active { 1 } else { 2 }})
                })
                .collect();
            ok(Value::Array(list))
        }
        ("GET", "templates") if app == App::Whatsapp => {
            let Some(bot) = q(query, "bot_id") else {
                return bad(StatusCode::BAD_REQUEST);
            };
            ok(Value::Array(
                s.templates
                    .iter()
                    .filter(|t| t.bot_id == bot)
                    .enumerate()
                    .map(|(i, t)| {
                        json!({"id": format!("tpl{i}"), "bot_id": t.bot_id, "name": t.name,
                               "language": t.language, "status": t.status,
                               "category": "UTILITY", "namespace": "ns",
                               "rejected_reason": null, "created_at": iso(0),
                               "components": [{"type": "BODY", "text": t.body}]})
                    })
                    .collect(),
            ))
        }
        ("GET", "chats/messages") => {
            let Some(c) = known else {
                return bad(StatusCode::BAD_REQUEST);
            };
            let after = q(query, "search_after");
            let mut all: Vec<&FakeMessage> = s.messages_of(&c).collect();
            if q(query, "order") == Some("desc") {
                all.reverse();
            }
            let start = after
                .and_then(|a| all.iter().position(|m| m.id == a).map(|i| i + 1))
                .unwrap_or(0);
            ok(Value::Array(
                all[start..]
                    .iter()
                    .take(size)
                    .map(|m| message_json(m))
                    .collect(),
            ))
        }
        ("GET", "contacts/notes") => match (known, q(query, "bot_id")) {
            (Some(c), Some(bot)) if s.contacts[&c].bot_id == bot => ok(Value::Array(
                s.notes
                    .iter()
                    .filter(|n| n.contact_id == c)
                    .map(note_json)
                    .collect(),
            )),
            _ => bad(StatusCode::BAD_REQUEST),
        },
        ("GET", "bots/statistics") => match q(query, "bot_id") {
            Some(bot) if s.bots.iter().any(|b| b.id == bot && b.app == app) => {
                let (total, active, outgoing) = statistics(s, bot);
                ok(
                    json!({"subscribedTotalCount": total, "subscribedActiveCount": active,
                          "outgoingMessagesTotalCount": outgoing}),
                )
            }
            _ => bad(StatusCode::BAD_REQUEST),
        },
        ("GET", "contacts/get") => match q(query, "id").and_then(|i| s.contacts.get(i)) {
            Some(c) => ok(contact_json(c)),
            None => bad(StatusCode::BAD_REQUEST),
        },
        ("GET", "contacts/getPauseAutomation") => match known {
            Some(c) => match s.contacts[&c].paused_minutes {
                Some(m) => ok(json!({"minutes": m})),
                None => ok(json!(false)),
            },
            None => bad(StatusCode::BAD_REQUEST),
        },
        ("PUT", "contacts/mark-read") => match known {
            Some(c) => {
                let n = std::mem::take(&mut s.contacts.get_mut(&c).expect("contact").unread);
                axum::Json(json!({"count": n})).into_response()
            }
            None => bad(StatusCode::BAD_REQUEST),
        },
        ("POST", op) => {
            let Some(c) = known else {
                return bad(StatusCode::BAD_REQUEST);
            };
            command(s, app, op, &c, body.unwrap_or(&Value::Null), fetched)
        }
        _ => bad(StatusCode::NOT_FOUND),
    }
}

/// The text of a send body in the app's shape, `None` when the shape is wrong.
fn sent_text(app: App, op: &str, b: &Value) -> Option<String> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    match (app, op) {
        (App::Telegram, "contacts/sendText") => s(b.get("text")?),
        (_, "contacts/send") if file_url_of(&Method::POST, "/contacts/send", Some(b)).is_some() => {
            Some(crate::map::send_key(message_of(b)?))
        }
        (App::Whatsapp, "contacts/send") => s(b.pointer("/message/text/body")?),
        (App::Whatsapp, "contacts/sendTemplate") => {
            Some(format!("template:{}", s(b.pointer("/template/name")?)?))
        }
        (App::Messenger, "contacts/send") => {
            b.pointer("/message/content_type")?;
            s(b.pointer("/message/text")?)
        }
        (App::Instagram, "contacts/send") => s(b.pointer("/messages/0/message/text")?),
        (App::Viber | App::Livechat, "contacts/send") => s(b.pointer("/messages/0/text/text")?),
        _ => None,
    }
}

fn command(
    s: &mut FakeState,
    app: App,
    op: &str,
    c: &str,
    b: &Value,
    fetched: Option<Result<(String, Vec<u8>), ()>>,
) -> Response {
    if op.starts_with("contacts/send") {
        let Some(text) = sent_text(app, op, b) else {
            return bad(StatusCode::BAD_REQUEST);
        };
        let mut data = None;
        if op == "contacts/sendTemplate" {
            // A template of the contact's bot, in its language, approved
            // (a bot with no templates listed takes any name, as the
            // client's shape tests send).
            let bot = &s.contacts[c].bot_id;
            let (name, lang) = (
                b.pointer("/template/name").and_then(Value::as_str),
                b.pointer("/template/language/code").and_then(Value::as_str),
            );
            let known = s.templates.iter().any(|t| {
                &t.bot_id == bot
                    && Some(t.name.as_str()) == name
                    && Some(t.language.as_str()) == lang
                    && t.status == "APPROVED"
            });
            if !known && s.templates.iter().any(|t| &t.bot_id == bot) {
                return bad(StatusCode::BAD_REQUEST);
            }
            data = Some(json!({"type": "template", "template": b.get("template")}));
        }
        match fetched {
            Some(Ok((url, bytes))) => {
                s.fetched.push(Fetched {
                    contact_id: c.to_owned(),
                    url,
                    bytes,
                });
                data = message_of(b).cloned();
            }
            // SendPulse could not download the file.
            Some(Err(())) => return bad(StatusCode::BAD_REQUEST),
            None => {}
        }
        push_message(s, c, 2, &text, data);
        let m = s.messages.last().expect("message");
        return ok(message_json(m));
    }
    if matches!(
        op,
        "contacts/createNote" | "contacts/updateNote" | "contacts/deleteNote"
    ) {
        return note_command(s, op, c, b);
    }
    let contact = s.contacts.get_mut(c).expect("contact");
    match op {
        "contacts/openChat" => contact.opened = true,
        "contacts/closeChat" => contact.opened = false,
        "contacts/operators/assign" => {
            let Some(o) = b.get("operator_id").and_then(Value::as_i64) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            contact.operator = Some(o);
        }
        "contacts/operators/unAssign" => contact.operator = None,
        "contacts/setPauseAutomation" => {
            let Some(m) = b.get("minutes").and_then(Value::as_i64) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            contact.paused_minutes = Some(m);
        }
        "contacts/deletePauseAutomation" => contact.paused_minutes = None,
        "contacts/setVariable" => {
            let Some(vars) = b.get("variables").and_then(Value::as_array) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            for v in vars {
                let (Some(n), Some(val)) = (
                    v.get("variable_name").and_then(Value::as_str),
                    v.get("variable_value"),
                ) else {
                    return bad(StatusCode::BAD_REQUEST);
                };
                contact.variables.insert(n.to_owned(), val.clone());
            }
        }
        "contacts/setTag" => {
            let Some(tags) = b.get("tags").and_then(Value::as_array) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            for t in tags.iter().filter_map(Value::as_str) {
                if !contact.tags.iter().any(|x| x == t) {
                    contact.tags.push(t.to_owned());
                }
            }
        }
        "contacts/deleteTag" => {
            let Some(t) = b.get("tag").and_then(Value::as_str) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            contact.tags.retain(|x| x != t);
        }
        "contacts/disable" => contact.status = 3,
        "contacts/enable" => contact.status = 1,
        "contacts/react" if app == App::Telegram => {
            let (Some(m), Some("emoji"), Some(e)) = (
                b.get("message_id").and_then(Value::as_str),
                b.pointer("/reaction/type").and_then(Value::as_str),
                b.pointer("/reaction/emoji").and_then(Value::as_str),
            ) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            // Only a message of this contact's.
            if !s.messages_of(c).any(|x| x.id == m) {
                return bad(StatusCode::BAD_REQUEST);
            }
            s.reactions.insert(m.to_owned(), e.to_owned());
        }
        "flows/run" => {
            let Some(f) = b.get("flow_id").and_then(Value::as_str) else {
                return bad(StatusCode::BAD_REQUEST);
            };
            // A flow the fake knows must be the contact's bot's (flows run
            // in tests before there was a list are taken as they are).
            let bot = s.contacts[c].bot_id.clone();
            if s.flows.iter().any(|x| x.0 == f && x.1 != bot) {
                return bad(StatusCode::BAD_REQUEST);
            }
            let f = f.to_owned();
            s.flows_run.push((c.to_owned(), f));
        }
        _ => return bad(StatusCode::NOT_FOUND),
    }
    ok(json!(true))
}

fn dialogs(s: &FakeState, query: &[(String, String)], size: usize) -> Response {
    let mut list: Vec<&FakeContact> = s.contacts.values().collect();
    // Newest activity first (ties by id), as `order=desc` asks.
    list.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(a.id.cmp(&b.id)));
    if q(query, "order") == Some("asc") {
        list.reverse();
    }
    // The cursor is the last dialog's id of the previous page.
    let start = q(query, "search_after")
        .and_then(|a| list.iter().position(|c| format!("dlg-{}", c.id) == a))
        .map(|i| i + 1)
        .unwrap_or(0);
    let page: Vec<Value> = list[start..]
        .iter()
        .take(size)
        .map(|c| {
            let last_in = s.messages_of(&c.id).filter(|m| m.direction == 1).last();
            let last_out = s.messages_of(&c.id).filter(|m| m.direction == 2).last();
            json!({
                "_id": format!("dlg-{}", c.id), "bot_id": c.bot_id,
                "contact": {"id": c.id, "full_name": c.name},
                "service": c.app.service_code(),
                "last_inbox_message": last_in.map(|m| json!({"id": m.id, "text": m.text, "date": iso(m.created_at)})),
                "last_outbox_message": last_out.map(|m| json!({"text": m.text, "date": iso(m.created_at)})),
                "inbox_unread_count": c.unread, "is_chat_opened": c.opened,
                "updated_at": iso(c.last_activity),
            })
        })
        .collect();
    let after = page.last().and_then(|d| d.get("_id")).cloned();
    ok(json!({"list": page, "total": list.len(), "size": size,
              "search_after": after, "order": q(query, "order").unwrap_or("desc")}))
}
