//! Commands: every agent action, as POST/PATCH/DELETE with an
//! `Idempotency-Key` (run by [`crate::command`]). The server is the
//! authority on the rules: each handler gathers the facts from the
//! workspace's store and asks the same `rapport_core::policy::act::check`
//! the app asked before queueing, then turns the action into events.

use crate::command::{ChatPath, Command, Ctx, KeyHeader};
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use rapport_core::model::*;
use rapport_core::policy::access::Assignee;
use rapport_core::policy::act::{self, Act, Target};
use rapport_core::policy::fields::{self, Field};
use rapport_core::policy::{Outgoing, delivery, pause};
use rapport_core::wire::{
    AssignChat, Committed, DealFields, DealSaved, ErrorCode, Flow, FlowList, FlowQuery,
    MessageSent, NoBody, NoteSaved, PauseAction, PauseBot, PauseSet, React, SendAttachment,
    SendMessage, SubscriberEdit, SubscriberSaved, TextBody, valid_message_id,
};

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}-{:016x}{:08x}",
        fastrand::u64(..),
        fastrand::u32(..)
    )
}

/// Checks `act` in `chat` (as the handler read it) now; what it costs (E6).
fn check(cx: &Ctx<'_>, chat: &Chat, act: &Act<'_>) -> ApiResult<rapport_core::policy::Cost> {
    let ctx = cx.ws.store.context_for(chat, cx.now())?;
    Ok(act::check(act, &ctx)?)
}

// ---- E1/E3/E5: send -------------------------------------------------------

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/messages",
    tag = "commands",
    summary = "E1/E5: send text, a WhatsApp template or Messenger tagged text; E3: pauses the bot 60 minutes",
    params(ChatPath, KeyHeader),
    request_body = rapport_core::wire::SendMessage,
    responses((status = 200, description = "done", body = rapport_core::wire::MessageSent), crate::error::Errors),
)]
pub async fn send(Path(chat_id): Path<String>, cmd: Command<SendMessage>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::send(chat_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        if let Some(name) = &body.template {
            fields::check(Field::Template, name)?;
        }
        let chat = cx.chat(&chat_id)?;
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
        let cost = check(cx, &chat, &Act::Send(out))?;
        deliver(cx, &chat, content, cost, body.message_id)
    })
    .await
}

/// Sends an agent's message (text, template or file) the rules allowed:
/// the message takes the client's id, and the bot pauses (E3).
fn deliver(
    cx: &Ctx<'_>,
    chat: &Chat,
    content: Content,
    cost: rapport_core::policy::Cost,
    message_id: Option<MessageId>,
) -> ApiResult<MessageSent> {
    let now = cx.now();
    let id = match message_id {
        Some(id) if !valid_message_id(id.as_str()) => {
            return Err(ApiError::bad_request("message_id: 1-64 of A-Z a-z 0-9 - _"));
        }
        Some(id) => {
            if cx.ws.store.has_message(&id)? {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::DuplicateMessageId,
                    "a message already has this id",
                ));
            }
            id
        }
        None => MessageId(new_id("m")),
    };
    let m = Message {
        id,
        chat_id: chat.id.clone(),
        sender: Sender::Member(cx.me.clone()),
        content,
        sent_at: now,
        // B5: the apps that report delivery start at one tick.
        delivery: delivery::shows_ticks(chat.app).then_some(Delivery::Sent),
        quote: None,
        reactions: Vec::new(),
        edited_at: None,
        deleted_at: None,
        in_reply_to_ad: None,
    };
    // E3: a manual reply pauses the bot for this subscriber.
    let until = pause::after_manual_reply(chat.paused_until, now);
    let seq = cx.emit(vec![
        EventPayload::MessageUpserted(m.clone()),
        EventPayload::PauseChanged {
            chat_id: chat.id.clone(),
            until: Some(until),
        },
    ])?;
    Ok(MessageSent {
        seq,
        message: m,
        paused_until: until,
        cost,
    })
}

/// E2: sends a file the member uploaded (see `uploads`): complete, intact,
/// not an executable, within the app's limit for its kind.
#[utoipa::path(
    post,
    path = "/v1/chats/{id}/attachments",
    tag = "commands",
    summary = "E2/E3/E7: send an uploaded file as a message (the bot pauses as after any manual reply)",
    params(ChatPath, KeyHeader),
    request_body = rapport_core::wire::SendAttachment,
    responses((status = 200, description = "done", body = rapport_core::wire::MessageSent), crate::error::Errors),
)]
pub async fn attach(Path(chat_id): Path<String>, cmd: Command<SendAttachment>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::attach(chat_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        let chat = cx.chat(&chat_id)?;
        let file = crate::uploads::complete(cx.hub, cx.ws, cx.me, &body.upload_id)?;
        let sniffed = rapport_core::policy::attachment::sniff(&file.name, &file.bytes)?;
        let caption = act::caption(body.caption.as_deref()).map(str::to_owned);
        let size_bytes = file.bytes.len() as u64;
        let cost = check(
            cx,
            &chat,
            &Act::Attach {
                media: sniffed.media,
                size_bytes,
                caption: caption.as_deref(),
            },
        )?;
        let content = Content::Attachment(Attachment {
            name: file.name,
            size_bytes,
            mime: sniffed.mime,
            media: sniffed.media,
            url: Some(format!("/v1/uploads/{}/content", body.upload_id)),
            caption,
        });
        deliver(cx, &chat, content, cost, body.message_id)
    })
    .await
}

// ---- A8, B10, D1, E3/F7 ---------------------------------------------------

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/read",
    tag = "commands",
    summary = "B10: mark the chat read on every device",
    params(ChatPath, KeyHeader),
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn read(Path(chat_id): Path<String>, cmd: Command<NoBody>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::read(chat_id, cmd).await;
    }
    cmd.run(move |cx, _| {
        let chat = cx.chat(&chat_id)?;
        let seq = cx.emit(vec![EventPayload::ChatRead { chat_id: chat.id }])?;
        Ok(Committed { seq })
    })
    .await
}

async fn set_state(chat_id: String, cmd: Command<NoBody>, to: ChatState) -> Response {
    if cmd.linked() {
        return crate::gateway::out::set_state(chat_id, cmd, to).await;
    }
    cmd.run(move |cx, _| {
        let chat = cx.chat(&chat_id)?;
        let seq = cx.emit(vec![EventPayload::ChatStateChanged {
            chat_id: chat.id,
            state: to,
        }])?;
        Ok(Committed { seq })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/open",
    tag = "commands",
    summary = "A8: open the chat by hand",
    params(ChatPath, KeyHeader),
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn open(Path(id): Path<String>, cmd: Command<NoBody>) -> Response {
    set_state(id, cmd, ChatState::Open).await
}

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/close",
    tag = "commands",
    summary = "A8: close the chat",
    params(ChatPath, KeyHeader),
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn close(Path(id): Path<String>, cmd: Command<NoBody>) -> Response {
    set_state(id, cmd, ChatState::Closed).await
}

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/assign",
    tag = "commands",
    summary = "D1: assign to a member whose role grants conversations and audience (else not_assignable); null unassigns",
    params(ChatPath, KeyHeader),
    request_body = rapport_core::wire::AssignChat,
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn assign(Path(chat_id): Path<String>, cmd: Command<AssignChat>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::assign(chat_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        let chat = cx.chat(&chat_id)?;
        let members = cx.ws.store.members(false)?;
        let to = Assignee::find(body.member_id.as_ref(), &members);
        check(cx, &chat, &Act::Assign { to })?;
        let seq = cx.emit(vec![EventPayload::ChatAssigned {
            chat_id: chat.id,
            assignee: body.member_id,
        }])?;
        Ok(Committed { seq })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/pause",
    tag = "commands",
    summary = "E3/F7: start, extend (+60 min) or continue (end) the bot pause",
    params(ChatPath, KeyHeader),
    request_body = rapport_core::wire::PauseBot,
    responses((status = 200, description = "done", body = rapport_core::wire::PauseSet), crate::error::Errors),
)]
pub async fn pause_bot(Path(chat_id): Path<String>, cmd: Command<PauseBot>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::pause_bot(chat_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        let chat = cx.chat(&chat_id)?;
        let now = cx.now();
        let until = match body.action {
            PauseAction::Start => Some(pause::after_manual_reply(chat.paused_until, now)),
            PauseAction::Extend => Some(pause::extend(chat.paused_until, now)),
            PauseAction::Continue => pause::continue_autoflows(),
        };
        let seq = cx.emit(vec![EventPayload::PauseChanged {
            chat_id: chat.id,
            until,
        }])?;
        Ok(PauseSet {
            seq,
            paused_until: until,
        })
    })
    .await
}

// ---- B7/B8 ----------------------------------------------------------------

#[utoipa::path(
    patch,
    path = "/v1/chats/{id}/messages/{message_id}",
    tag = "commands",
    summary = "B8: edit a message sent to the subscriber (Telegram, under 48 hours)",
    params(ChatPath, ("message_id" = String, Path), KeyHeader),
    request_body = rapport_core::wire::TextBody,
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn edit_message(
    Path((chat_id, message_id)): Path<(String, String)>,
    cmd: Command<TextBody>,
) -> Response {
    if cmd.linked() {
        return crate::gateway::out::unsupported(cmd, "editing a sent message (B8)").await;
    }
    cmd.run(move |cx, body| {
        let chat = cx.chat(&chat_id)?;
        let m = cx.message(&chat, &message_id)?;
        let edit = Act::EditMessage {
            target: Target::of(&m),
            text: &body.text,
        };
        check(cx, &chat, &edit)?;
        let seq = cx.emit(vec![EventPayload::MessageEdited {
            chat_id: chat.id,
            message_id: m.id,
            text: body.text,
        }])?;
        Ok(Committed { seq })
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/v1/chats/{id}/messages/{message_id}",
    tag = "commands",
    summary = "B8: delete a message sent to the subscriber (Telegram, under 48 hours)",
    params(ChatPath, ("message_id" = String, Path), KeyHeader),
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn delete_message(
    Path((chat_id, message_id)): Path<(String, String)>,
    cmd: Command<NoBody>,
) -> Response {
    if cmd.linked() {
        return crate::gateway::out::unsupported(cmd, "deleting a sent message (B8)").await;
    }
    cmd.run(move |cx, _| {
        let chat = cx.chat(&chat_id)?;
        let m = cx.message(&chat, &message_id)?;
        check(
            cx,
            &chat,
            &Act::DeleteMessage {
                target: Target::of(&m),
            },
        )?;
        let seq = cx.emit(vec![EventPayload::MessageDeleted {
            chat_id: chat.id,
            message_id: m.id,
        }])?;
        Ok(Committed { seq })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/messages/{message_id}/reactions",
    tag = "commands",
    summary = "B7: the agent's reaction to a subscriber message (Telegram); null removes it",
    params(ChatPath, ("message_id" = String, Path), KeyHeader),
    request_body = rapport_core::wire::React,
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn react(
    Path((chat_id, message_id)): Path<(String, String)>,
    cmd: Command<React>,
) -> Response {
    if cmd.linked() {
        return crate::gateway::out::react(chat_id, message_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        if let Some(e) = &body.emoji {
            fields::check(Field::Emoji, e)?;
        }
        let chat = cx.chat(&chat_id)?;
        let m = cx.message(&chat, &message_id)?;
        check(
            cx,
            &chat,
            &Act::React {
                target: Target::of(&m),
            },
        )?;
        let by = ReactionBy::Member(cx.me.clone());
        let mut reactions: Vec<Reaction> = m.reactions.into_iter().filter(|r| r.by != by).collect();
        if let Some(emoji) = body.emoji.filter(|e| !e.is_empty()) {
            reactions.push(Reaction { emoji, by });
        }
        let seq = cx.emit(vec![EventPayload::ReactionsChanged {
            chat_id: chat.id,
            message_id: m.id,
            reactions,
        }])?;
        Ok(Committed { seq })
    })
    .await
}

// ---- C1 -------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/v1/chats/{id}/notes",
    tag = "commands",
    summary = "C1: add a note (at most 2000 characters)",
    params(ChatPath, KeyHeader),
    request_body = rapport_core::wire::TextBody,
    responses((status = 200, description = "done", body = rapport_core::wire::NoteSaved), crate::error::Errors),
)]
pub async fn add_note(Path(chat_id): Path<String>, cmd: Command<TextBody>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::add_note(chat_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        let chat = cx.chat(&chat_id)?;
        check(cx, &chat, &Act::Note { text: &body.text })?;
        let note = Note {
            id: NoteId(new_id("n")),
            chat_id: chat.id,
            author: cx.me.clone(),
            text: body.text,
            created_at: cx.now(),
            edited_at: None,
        };
        let seq = cx.emit(vec![EventPayload::NoteUpserted(note.clone())])?;
        Ok(NoteSaved { seq, note })
    })
    .await
}

#[utoipa::path(
    patch,
    path = "/v1/chats/{id}/notes/{note_id}",
    tag = "commands",
    summary = "C1: edit one's own note",
    params(ChatPath, ("note_id" = String, Path), KeyHeader),
    request_body = rapport_core::wire::TextBody,
    responses((status = 200, description = "done", body = rapport_core::wire::NoteSaved), crate::error::Errors),
)]
pub async fn edit_note(
    Path((chat_id, note_id)): Path<(String, String)>,
    cmd: Command<TextBody>,
) -> Response {
    if cmd.linked() {
        return crate::gateway::out::edit_note(chat_id, note_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        let chat = cx.chat(&chat_id)?;
        let mut note = cx.own_note(&chat, &note_id)?;
        check(cx, &chat, &Act::Note { text: &body.text })?;
        note.text = body.text;
        note.edited_at = Some(cx.now());
        let seq = cx.emit(vec![EventPayload::NoteUpserted(note.clone())])?;
        Ok(NoteSaved { seq, note })
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/v1/chats/{id}/notes/{note_id}",
    tag = "commands",
    summary = "C1: delete one's own note",
    params(ChatPath, ("note_id" = String, Path), KeyHeader),
    responses((status = 200, description = "done", body = rapport_core::wire::Committed), crate::error::Errors),
)]
pub async fn delete_note(
    Path((chat_id, note_id)): Path<(String, String)>,
    cmd: Command<NoBody>,
) -> Response {
    if cmd.linked() {
        return crate::gateway::out::delete_note(chat_id, note_id, cmd).await;
    }
    cmd.run(move |cx, _| {
        let chat = cx.chat(&chat_id)?;
        let note = cx.own_note(&chat, &note_id)?;
        let seq = cx.emit(vec![EventPayload::NoteDeleted {
            chat_id: chat.id,
            note_id: note.id,
        }])?;
        Ok(Committed { seq })
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

#[utoipa::path(
    patch,
    path = "/v1/subscribers/{id}",
    tag = "commands",
    summary = "F5 variables and tags, F6 start (flow_id) or stop (\"\") a flow, F8 disable, G2 CRM contact",
    params(("id" = String, Path, description = "the subscriber"), KeyHeader),
    request_body = rapport_core::wire::SubscriberEdit,
    responses((status = 200, description = "done", body = rapport_core::wire::SubscriberSaved), crate::error::Errors),
)]
pub async fn edit_subscriber(
    Path(subscriber_id): Path<String>,
    cmd: Command<SubscriberEdit>,
) -> Response {
    if cmd.linked() {
        return crate::gateway::out::edit_subscriber(subscriber_id, cmd).await;
    }
    cmd.run(move |cx, body| {
        body.check_fields()?;
        let mut s = cx
            .ws
            .store
            .subscriber(&SubscriberId(subscriber_id))?
            .ok_or_else(|| ApiError::not_found("subscriber"))?;
        body.apply_to(&mut s);
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
        let seq = cx.emit(vec![EventPayload::SubscriberUpserted(s.clone())])?;
        Ok(SubscriberSaved { seq, subscriber: s })
    })
    .await
}

/// F6: flows searchable by name.
#[utoipa::path(
    get,
    path = "/v1/flows",
    tag = "commands",
    summary = "F6: flows whose name contains `q`",
    params(rapport_core::wire::FlowQuery),
    responses((status = 200, description = "done", body = rapport_core::wire::FlowList), crate::error::Errors),
)]
pub async fn flows(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::AppState>>,
    caller: crate::auth::Caller,
    Query(q): Query<FlowQuery>,
) -> ApiResult<axum::Json<FlowList>> {
    caller.require_conversations()?;
    if state.gateway.linked(&caller.workspace.id) {
        // Issue 17: a linked workspace's flows live at SendPulse.
        return Ok(axum::Json(
            crate::gateway::out::flows(&state, &caller.workspace, &q.q).await?,
        ));
    }
    let needle = q.q.to_lowercase();
    let flows = FLOWS
        .iter()
        .enumerate()
        .filter(|(_, n)| n.to_lowercase().contains(&needle))
        .map(|(i, n)| Flow {
            id: format!("flow-{i}"),
            name: (*n).to_owned(),
        })
        .collect();
    Ok(axum::Json(FlowList { flows }))
}

// ---- G1/G3 ----------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/v1/deals",
    tag = "commands",
    summary = "G1: add a deal (subscriber_id, pipeline, stage and name required)",
    params(KeyHeader),
    request_body = rapport_core::wire::DealFields,
    responses((status = 200, description = "done", body = rapport_core::wire::DealSaved), crate::error::Errors),
)]
pub async fn add_deal(cmd: Command<DealFields>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::unsupported(cmd, "a CRM deal (G1)").await;
    }
    cmd.run(move |cx, b| {
        b.check_fields()?;
        let (Some(subscriber_id), Some(pipeline), Some(stage), Some(name)) =
            (b.subscriber_id, b.pipeline, b.stage, b.name)
        else {
            return Err(ApiError::bad_request(
                "subscriber_id, pipeline, stage and name are required",
            ));
        };
        if cx.ws.store.subscriber(&subscriber_id)?.is_none() {
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
            responsible: Some(cx.me.clone()),
            updated_at: cx.now(),
        };
        let seq = cx.emit(vec![EventPayload::DealUpserted(deal.clone())])?;
        Ok(DealSaved { seq, deal })
    })
    .await
}

#[utoipa::path(
    patch,
    path = "/v1/deals/{id}",
    tag = "commands",
    summary = "G3: edit a deal's stage, name or amount",
    params(("id" = String, Path, description = "the deal"), KeyHeader),
    request_body = rapport_core::wire::DealFields,
    responses((status = 200, description = "done", body = rapport_core::wire::DealSaved), crate::error::Errors),
)]
pub async fn edit_deal(Path(deal_id): Path<String>, cmd: Command<DealFields>) -> Response {
    if cmd.linked() {
        return crate::gateway::out::unsupported(cmd, "a CRM deal (G3)").await;
    }
    cmd.run(move |cx, b| {
        b.check_fields()?;
        let mut deal = cx
            .ws
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
        deal.updated_at = cx.now();
        let seq = cx.emit(vec![EventPayload::DealUpserted(deal.clone())])?;
        Ok(DealSaved { seq, deal })
    })
    .await
}
