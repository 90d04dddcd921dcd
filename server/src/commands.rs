//! Commands: every agent action, as POST/PATCH/DELETE with an
//! `Idempotency-Key`. The server checks the rules (it is the authority; the
//! same `rapport_core::policy` functions the app runs first), turns the
//! action into events, and answers a repeated key with the first answer.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Hub, Workspace};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rapport_core::model::*;
use rapport_core::policy::{self, Outgoing, SendContext, edit, pause, text, window::MessageTag};
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::sync::wire::{IDEMPOTENCY_HEADER, SubscriberEdit};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Set by the router on every request (any value a client sends is
/// replaced): the method and path, scoping idempotency keys.
pub const ROUTE_HEADER: &str = "x-rapport-route";

type Outcome = ApiResult<(StatusCode, Value)>;

/// Runs a command once per idempotency key, under the workspace's write
/// lock. Answers (success or refusal) are remembered; internal errors are
/// not, so a retry can succeed.
async fn command(
    state: Arc<AppState>,
    caller: Caller,
    headers: &HeaderMap,
    needs_conversations: bool,
    f: impl FnOnce(&Hub, &Workspace, &MemberId) -> Outcome + Send + 'static,
) -> Response {
    let Some(key) = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_owned)
    else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_idempotency_key",
            "commands need an Idempotency-Key header",
        )
        .into_response();
    };
    if needs_conversations && let Err(e) = caller.require_conversations() {
        return e.into_response();
    }
    let ws = caller.workspace.clone();
    let me = caller.member_id();
    // A key means one command of one member on one route: the same key
    // from another member, or on another route, is another command.
    let route = headers
        .get(ROUTE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let key = format!("{me}\n{route}\n{key}");
    let result = tokio::task::spawn_blocking(move || {
        let hub = &state.hub;
        hub.exclusive_as(&ws, &me, Some(&key), || -> ApiResult<(u16, String)> {
            if let Some(first) = hub.idempotent(&ws.id, &key).map_err(ApiError::internal)? {
                return Ok(first);
            }
            let (status, body) = match f(hub, &ws, &me) {
                Ok((status, body)) => (status, body),
                Err(e) if e.status.is_server_error() => return Err(e),
                Err(e) => (e.status, json!({"code": e.code, "message": e.message})),
            };
            let body = body.to_string();
            hub.remember(&ws.id, &key, status.as_u16(), &body)
                .map_err(ApiError::internal)?;
            Ok((status.as_u16(), body))
        })
    })
    .await;
    match result {
        Ok(Ok((status, body))) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

fn emit(hub: &Hub, ws: &Workspace, payloads: Vec<EventPayload>) -> ApiResult<Seq> {
    let events = hub.emit_locked(ws, payloads).map_err(ApiError::internal)?;
    Ok(events.last().map_or(Seq(0), |e| e.seq))
}

fn chat(ws: &Workspace, id: &str) -> ApiResult<Chat> {
    ws.store
        .chat(&ChatId::from(id))?
        .map(|s| s.chat)
        .ok_or_else(|| ApiError::not_found("chat"))
}

fn message(ws: &Workspace, chat: &Chat, id: &str) -> ApiResult<Message> {
    match ws
        .store
        .timeline_item(&chat.id, &TimelineItemId::Message(MessageId::from(id)))?
    {
        Some(TimelineItem::Message(m)) => Ok(m),
        _ => Err(ApiError::not_found("message")),
    }
}

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}-{:016x}{:08x}",
        fastrand::u64(..),
        fastrand::u32(..)
    )
}

fn ok(seq: Seq, extra: Value) -> Outcome {
    let mut body = json!({ "seq": seq });
    if let (Some(b), Value::Object(m)) = (body.as_object_mut(), extra) {
        b.extend(m);
    }
    Ok((StatusCode::OK, body))
}

// ---- E1/E3/E5: send -------------------------------------------------------

#[derive(Deserialize)]
pub struct SendBody {
    #[serde(default)]
    text: Option<String>,
    /// E5: a Messenger tag for text outside the window.
    #[serde(default)]
    tag: Option<MessageTag>,
    /// E5: a WhatsApp template name.
    #[serde(default)]
    template: Option<String>,
    /// E7: the id the client gave its local echo; the message takes it.
    #[serde(default)]
    message_id: Option<String>,
}

/// Client-chosen message ids: short and URL-safe.
pub(crate) fn valid_message_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn send(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SendBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let chat = chat(ws, &chat_id)?;
        let (out, content) = match (&body.template, &body.tag, &body.text) {
            (Some(name), _, _) => (
                Outgoing::Template { name },
                Content::Template {
                    name: name.clone(),
                    text: String::new(),
                },
            ),
            (None, Some(tag), Some(t)) => (
                Outgoing::Tagged { tag: *tag, text: t },
                Content::Text { text: t.clone() },
            ),
            (None, None, Some(t)) => (Outgoing::Text(t), Content::Text { text: t.clone() }),
            _ => return Err(ApiError::bad_request("text or template is required")),
        };
        deliver(hub, ws, me, &chat, &out, content, body.message_id)
    })
    .await
}

/// Sends an agent's message (text, template or file) if the rules allow it
/// now: the message takes the client's id, and the bot pauses (E3).
fn deliver(
    hub: &Hub,
    ws: &Workspace,
    me: &MemberId,
    chat: &Chat,
    out: &Outgoing<'_>,
    content: Content,
    message_id: Option<String>,
) -> Outcome {
    let now = hub.now();
    let viber = if chat.app == App::Viber {
        ws.store.viber_quota(&chat.bot_id, now)?
    } else {
        None
    };
    let ctx = SendContext {
        app: chat.app,
        last_inbound_at: chat.last_inbound_at,
        now,
        viber,
    };
    let cost = match policy::decide(&ctx, out) {
        policy::Decision::Refused { reason, .. } => return Err(reason.into()),
        policy::Decision::Allowed { cost, .. } => cost,
    };
    let id = match message_id {
        Some(id) if !valid_message_id(&id) => {
            return Err(ApiError::bad_request("message_id: 1-64 of A-Z a-z 0-9 - _"));
        }
        Some(id) => {
            let taken = ws.store.has_message(&MessageId(id.clone()))?;
            if taken {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "duplicate_message_id",
                    "a message already has this id",
                ));
            }
            MessageId(id)
        }
        None => MessageId(new_id("m")),
    };
    let m = Message {
        id,
        chat_id: chat.id.clone(),
        sender: Sender::Member(me.clone()),
        content,
        sent_at: now,
        delivery: matches!(chat.app, App::Instagram | App::Whatsapp | App::Messenger)
            .then_some(Delivery::Sent),
        quote: None,
        reactions: Vec::new(),
        edited_at: None,
        deleted_at: None,
        in_reply_to_ad: None,
    };
    // E3: a manual reply pauses the bot for this subscriber.
    let until = pause::after_manual_reply(chat.paused_until, now);
    let seq = emit(
        hub,
        ws,
        vec![
            EventPayload::MessageUpserted(m.clone()),
            EventPayload::PauseChanged {
                chat_id: chat.id.clone(),
                until: Some(until),
            },
        ],
    )?;
    ok(
        seq,
        json!({ "message": m, "paused_until": until, "cost": cost }),
    )
}

#[derive(Deserialize)]
pub struct AttachBody {
    upload_id: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    message_id: Option<String>,
}

/// E2: sends a file the member uploaded (see `uploads`): complete, intact,
/// not an executable, within the app's limit for its kind.
pub async fn attach(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AttachBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let chat = chat(ws, &chat_id)?;
        let file = crate::uploads::complete(hub, ws, me, &body.upload_id)?;
        let sniffed = policy::attachment::sniff(&file.name, &file.bytes)?;
        let caption = body.caption.filter(|c| !c.trim().is_empty());
        if let Some(c) = &caption {
            text::check(chat.app, c)?;
        }
        let out = Outgoing::Attachment {
            media: sniffed.media,
            size_bytes: file.bytes.len() as u64,
        };
        let content = Content::Attachment(Attachment {
            name: file.name,
            size_bytes: file.bytes.len() as u64,
            mime: sniffed.mime,
            media: sniffed.media,
            url: Some(format!("/v1/uploads/{}/content", body.upload_id)),
            caption,
        });
        deliver(hub, ws, me, &chat, &out, content, body.message_id)
    })
    .await
}

// ---- A8, B10, D1, E3/F7 ---------------------------------------------------

pub async fn read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let chat = chat(ws, &chat_id)?;
        ok(
            emit(hub, ws, vec![EventPayload::ChatRead { chat_id: chat.id }])?,
            json!({}),
        )
    })
    .await
}

async fn set_state(
    state: Arc<AppState>,
    caller: Caller,
    chat_id: String,
    headers: HeaderMap,
    to: ChatState,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let chat = chat(ws, &chat_id)?;
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::ChatStateChanged {
                chat_id: chat.id,
                state: to,
            }],
        )?;
        ok(seq, json!({}))
    })
    .await
}

pub async fn open(
    State(s): State<Arc<AppState>>,
    c: Caller,
    Path(id): Path<String>,
    h: HeaderMap,
) -> Response {
    set_state(s, c, id, h, ChatState::Open).await
}

pub async fn close(
    State(s): State<Arc<AppState>>,
    c: Caller,
    Path(id): Path<String>,
    h: HeaderMap,
) -> Response {
    set_state(s, c, id, h, ChatState::Closed).await
}

#[derive(Deserialize)]
pub struct AssignBody {
    member_id: Option<MemberId>,
}

pub async fn assign(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AssignBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let chat = chat(ws, &chat_id)?;
        if let Some(m) = &body.member_id {
            let assignable = ws.store.members(true)?;
            if !assignable.iter().any(|x| &x.id == m) {
                return Err(policy::Refusal::NotAssignable.into());
            }
        }
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::ChatAssigned {
                chat_id: chat.id,
                assignee: body.member_id,
            }],
        )?;
        ok(seq, json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseAction {
    Start,
    Extend,
    Continue,
}

#[derive(Deserialize)]
pub struct PauseBody {
    action: PauseAction,
}

pub async fn pause_bot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<PauseBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let chat = chat(ws, &chat_id)?;
        let now = hub.now();
        let until = match body.action {
            PauseAction::Start => Some(pause::after_manual_reply(chat.paused_until, now)),
            PauseAction::Extend => Some(pause::extend(chat.paused_until, now)),
            PauseAction::Continue => pause::continue_autoflows(),
        };
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::PauseChanged {
                chat_id: chat.id,
                until,
            }],
        )?;
        ok(seq, json!({ "paused_until": until }))
    })
    .await
}

// ---- B7/B8 ----------------------------------------------------------------

#[derive(Deserialize)]
pub struct EditBody {
    text: String,
}

pub async fn edit_message(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<EditBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let chat = chat(ws, &chat_id)?;
        let m = message(ws, &chat, &message_id)?;
        edit::may_edit(chat.app, &m.sender, m.sent_at, hub.now())?;
        text::check(chat.app, &body.text)?;
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::MessageEdited {
                chat_id: chat.id,
                message_id: m.id,
                text: body.text,
            }],
        )?;
        ok(seq, json!({}))
    })
    .await
}

pub async fn delete_message(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let chat = chat(ws, &chat_id)?;
        let m = message(ws, &chat, &message_id)?;
        edit::may_delete(chat.app, &m.sender, m.sent_at, hub.now())?;
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::MessageDeleted {
                chat_id: chat.id,
                message_id: m.id,
            }],
        )?;
        ok(seq, json!({}))
    })
    .await
}

#[derive(Deserialize)]
pub struct ReactBody {
    /// The agent's reaction; `None` removes it.
    emoji: Option<String>,
}

pub async fn react(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<ReactBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let chat = chat(ws, &chat_id)?;
        let m = message(ws, &chat, &message_id)?;
        edit::may_react(chat.app, &m.sender)?;
        let by = ReactionBy::Member(me.clone());
        let mut reactions: Vec<Reaction> = m.reactions.into_iter().filter(|r| r.by != by).collect();
        if let Some(emoji) = body.emoji.filter(|e| !e.is_empty()) {
            reactions.push(Reaction { emoji, by });
        }
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::ReactionsChanged {
                chat_id: chat.id,
                message_id: m.id,
                reactions,
            }],
        )?;
        ok(seq, json!({}))
    })
    .await
}

// ---- C1 -------------------------------------------------------------------

#[derive(Deserialize)]
pub struct NoteBody {
    text: String,
}

pub async fn add_note(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<NoteBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let chat = chat(ws, &chat_id)?;
        text::check_note(&body.text)?;
        let note = Note {
            id: NoteId(new_id("n")),
            chat_id: chat.id,
            author: me.clone(),
            text: body.text,
            created_at: hub.now(),
            edited_at: None,
        };
        let seq = emit(hub, ws, vec![EventPayload::NoteUpserted(note.clone())])?;
        ok(seq, json!({ "note": note }))
    })
    .await
}

fn own_note(ws: &Workspace, chat: &Chat, id: &str, me: &MemberId) -> ApiResult<Note> {
    match ws
        .store
        .timeline_item(&chat.id, &TimelineItemId::Note(NoteId::from(id)))?
    {
        Some(TimelineItem::Note(n)) if &n.author == me => Ok(n),
        Some(TimelineItem::Note(_)) => {
            Err(ApiError::forbidden("only the author can change a note"))
        }
        _ => Err(ApiError::not_found("note")),
    }
}

pub async fn edit_note(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((chat_id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<NoteBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let chat = chat(ws, &chat_id)?;
        let mut note = own_note(ws, &chat, &note_id, me)?;
        text::check_note(&body.text)?;
        note.text = body.text;
        note.edited_at = Some(hub.now());
        let seq = emit(hub, ws, vec![EventPayload::NoteUpserted(note.clone())])?;
        ok(seq, json!({ "note": note }))
    })
    .await
}

pub async fn delete_note(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((chat_id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let chat = chat(ws, &chat_id)?;
        let note = own_note(ws, &chat, &note_id, me)?;
        let seq = emit(
            hub,
            ws,
            vec![EventPayload::NoteDeleted {
                chat_id: chat.id,
                note_id: note.id,
            }],
        )?;
        ok(seq, json!({}))
    })
    .await
}

// ---- F5, F6, F8, G2 -------------------------------------------------------

/// F6: the flows a subscriber can be started on (the reference server's
/// catalogue; a real platform lists a bot's flows).
pub const FLOWS: [&str; 6] = [
    "Welcome",
    "Order status",
    "Refund request",
    "Talk to a person",
    "Feedback survey",
    "Autumn sale",
];

pub async fn edit_subscriber(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(subscriber_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SubscriberEdit>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let mut s = ws
            .store
            .subscriber(&SubscriberId(subscriber_id))?
            .ok_or_else(|| ApiError::not_found("subscriber"))?;
        for (k, v) in body.variables {
            if v.is_empty() {
                s.variables.remove(&k);
            } else {
                s.variables.insert(k, v);
            }
        }
        s.tags.retain(|t| !body.remove_tags.contains(t));
        for t in body.add_tags {
            if !s.tags.contains(&t) {
                s.tags.push(t);
            }
        }
        if body.disable {
            s.status = SubscriptionStatus::Disabled;
        }
        match body.flow_id.as_deref() {
            Some("") => s.active_flow = None,
            Some(id) => {
                let name = id
                    .strip_prefix("flow-")
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| FLOWS.get(i))
                    .ok_or_else(|| ApiError::not_found("flow"))?;
                s.active_flow = Some(ActiveFlow {
                    flow_id: id.to_owned(),
                    name: (*name).to_owned(),
                    queued_messages: 3,
                });
            }
            None => {}
        }
        if let Some(c) = body.crm_contact {
            s.crm_contact = Some(c);
        }
        let seq = emit(hub, ws, vec![EventPayload::SubscriberUpserted(s.clone())])?;
        ok(seq, json!({ "subscriber": s }))
    })
    .await
}

#[derive(Deserialize)]
pub struct FlowQuery {
    #[serde(default)]
    q: String,
}

/// F6: flows searchable by name.
pub async fn flows(caller: Caller, Query(q): Query<FlowQuery>) -> ApiResult<Json<Value>> {
    caller.require_conversations()?;
    let needle = q.q.to_lowercase();
    let list: Vec<Value> = FLOWS
        .iter()
        .enumerate()
        .filter(|(_, n)| n.to_lowercase().contains(&needle))
        .map(|(i, n)| json!({ "id": format!("flow-{i}"), "name": n }))
        .collect();
    Ok(Json(json!({ "flows": list })))
}

// ---- G1/G3 ----------------------------------------------------------------

#[derive(Deserialize)]
pub struct DealBody {
    #[serde(default)]
    subscriber_id: Option<SubscriberId>,
    #[serde(default)]
    pipeline: Option<Named>,
    #[serde(default)]
    stage: Option<Named>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    amount_minor: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

pub async fn add_deal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Json(b): Json<DealBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, me| {
        let (Some(subscriber_id), Some(pipeline), Some(stage), Some(name)) =
            (b.subscriber_id, b.pipeline, b.stage, b.name)
        else {
            return Err(ApiError::bad_request(
                "subscriber_id, pipeline, stage and name are required",
            ));
        };
        if ws.store.subscriber(&subscriber_id)?.is_none() {
            return Err(ApiError::not_found("subscriber"));
        }
        let id = DealId(new_id("d"));
        let deal = Deal {
            url: Some(format!("https://crm.example/deals/{id}")),
            id,
            subscriber_id,
            pipeline,
            stage,
            name,
            amount_minor: b.amount_minor.unwrap_or(0),
            currency: b.currency.unwrap_or_else(|| "USD".into()),
            responsible: Some(me.clone()),
            updated_at: hub.now(),
        };
        let seq = emit(hub, ws, vec![EventPayload::DealUpserted(deal.clone())])?;
        ok(seq, json!({ "deal": deal }))
    })
    .await
}

pub async fn edit_deal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(deal_id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<DealBody>,
) -> Response {
    command(state, caller, &headers, true, move |hub, ws, _| {
        let mut deal = ws
            .store
            .deal(&DealId(deal_id))?
            .ok_or_else(|| ApiError::not_found("deal"))?;
        if let Some(s) = b.stage {
            deal.stage = s;
        }
        if let Some(n) = b.name {
            deal.name = n;
        }
        if let Some(a) = b.amount_minor {
            deal.amount_minor = a;
        }
        deal.updated_at = hub.now();
        let seq = emit(hub, ws, vec![EventPayload::DealUpserted(deal.clone())])?;
        ok(seq, json!({ "deal": deal }))
    })
    .await
}
