//! Agents' commands in gateway mode: the same rules run first
//! (`policy::act::check`, as the local handlers), then SendPulse's API
//! carries the command out, then the events are emitted (`Command::run_remote`).
//!
//! E7, exactly once without idempotency keys: a send is recorded in
//! `sendpulse_sends` before the call. When SendPulse's answer is lost
//! (`Uncertain`), the contact's history is read (which also applies it, and
//! `ingest` binds a SendPulse message of the same contact and text, no older
//! than the record, to it; an `outgoing_message` webhook does the same) up
//! to `Tuning::lookups` times before the message is sent again. A client's
//! retry with the same key finds the record and looks before sending too.

use super::ingest::{self, SeenContact};
use super::store::{self, SendRow};
use super::{GatewayError, api_error, reconcile};
use crate::AppState;
use crate::command::{Command, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::hub::Workspace;
use axum::http::StatusCode;
use axum::response::Response;
use rapport_core::model::*;
use rapport_core::policy::access::Assignee;
use rapport_core::policy::act::{self, Act};
use rapport_core::policy::fields::{self, Field};
use rapport_core::policy::{Cost, Outgoing, delivery, pause};
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::wire::{
    AssignChat, Committed, ErrorCode, Flow, FlowList, MessageSent, NoBody, PauseAction, PauseBot,
    PauseSet, React, SendAttachment, SendMessage, SubscriberEdit, SubscriberSaved,
    valid_message_id,
};
use rapport_core::wire::{NoteSaved, TextBody};
use rapport_sendpulse::{App as SpApp, Client, MessageTag};
use std::sync::Arc;

/// What the gateway cannot do through SendPulse (README: capability off,
/// or not in this slice): refused, and the refusal kept for the key.
pub async fn unsupported<B: Send + 'static>(cmd: Command<B>, what: &'static str) -> Response {
    cmd.run(move |_, _| -> ApiResult<()> { Err(not_offered(what)) })
        .await
}

fn check(cx: &Ctx<'_>, chat: &Chat, a: &Act<'_>) -> ApiResult<Cost> {
    let ctx = cx.ws.store.context_for(chat, cx.now())?;
    Ok(act::check(a, &ctx)?)
}

/// A gateway chat and its SendPulse contact.
struct Target {
    chat: Chat,
    app: SpApp,
    contact: String,
}

fn target(cx: &Ctx<'_>, chat_id: &str) -> ApiResult<Target> {
    let chat = cx.chat(chat_id)?;
    let contact = ingest::contact_of(&chat.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::NotSupported,
                "this chat is not one of the SendPulse account's",
            )
        })?
        .to_owned();
    Ok(Target {
        app: ingest::sp_app(chat.app),
        chat,
        contact,
    })
}

async fn client(state: &Arc<AppState>, ws: &Workspace) -> ApiResult<Arc<Client>> {
    let st = state.clone();
    let w = ws.id.clone();
    tokio::task::spawn_blocking(move || st.gateway.client(&st.hub, &w))
        .await
        .map_err(ApiError::internal)?
        .map_err(api_error)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GatewayError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(api_error)
}

// ---- E1/E3/E5/E7: send ----------------------------------------------------

struct SendPlan {
    target: Target,
    row: SendRow,
    /// The send was recorded by an earlier attempt: look before sending.
    resume: bool,
    outgoing: rapport_sendpulse::Outgoing,
    content: Content,
    cost: Cost,
}

struct Sent {
    plan: SendPlan,
}

pub async fn send(chat_id: String, cmd: Command<SendMessage>) -> Response {
    cmd.run_remote(
        move |cx, scope, body| {
            let t = target(cx, &chat_id)?;
            let (out, content, outgoing) = match (&body.template, &body.tag, &body.text) {
                // E5: resolved to its language through the bot's template
                // list when it goes out (`resolve_template`).
                (Some(name), _, _) => {
                    fields::check(Field::Template, name)?;
                    (
                        Outgoing::Template { name },
                        Content::Template {
                            name: name.clone(),
                            text: String::new(),
                        },
                        rapport_sendpulse::Outgoing::WhatsappTemplate {
                            name: name.clone(),
                            language: String::new(),
                            components: Vec::new(),
                        },
                    )
                }
                (None, Some(tag), Some(text)) => {
                    // SendPulse's send takes HUMAN_AGENT (and CUSTOMER_FEEDBACK,
                    // which Rapport does not offer); Rapport's other tags have
                    // no SendPulse form.
                    if *tag != rapport_core::policy::window::MessageTag::HumanAgent {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            ErrorCode::NotSupported,
                            "SendPulse sends only the HUMAN_AGENT tag",
                        ));
                    }
                    (
                        Outgoing::Tagged { tag: *tag, text },
                        Content::Text { text: text.clone() },
                        rapport_sendpulse::Outgoing::MessengerTagged {
                            tag: MessageTag::HumanAgent,
                            text: text.clone(),
                        },
                    )
                }
                (None, None, Some(text)) => (
                    Outgoing::Text(text),
                    Content::Text { text: text.clone() },
                    rapport_sendpulse::Outgoing::Text(text.clone()),
                ),
                _ => return Err(ApiError::bad_request("text or template is required")),
            };
            record(
                cx,
                scope,
                cx.now(),
                t,
                Act::Send(out),
                body.message_id,
                outgoing,
                content,
            )
        },
        |state, ws, plan| async move { carry_out(&state, &ws, plan).await },
        |cx, sent: Sent| commit_send(cx, sent),
    )
    .await
}

/// E7: what names a send in SendPulse's history (`map::send_key`): its
/// text, a template's name, a file's URL.
fn key_of(o: &rapport_sendpulse::Outgoing) -> String {
    use rapport_sendpulse::{Outgoing as O, map};
    match o {
        O::Text(t) | O::MessengerTagged { text: t, .. } => t.clone(),
        O::WhatsappTemplate { name, .. } => map::template_key(name),
        O::File { url, .. } => map::file_key(url),
    }
}

/// A send (text, template or file) after the rules, recorded at `at`
/// before it goes out (E7); or, when an earlier attempt of the command
/// recorded it, resumed.
#[allow(clippy::too_many_arguments)]
fn record(
    cx: &Ctx<'_>,
    scope: &str,
    at: Timestamp,
    t: Target,
    act: Act<'_>,
    message_id: Option<MessageId>,
    outgoing: rapport_sendpulse::Outgoing,
    content: Content,
) -> ApiResult<SendPlan> {
    let text = key_of(&outgoing);
    // A retry of a command whose send was recorded resumes it: the
    // rules passed when it was recorded, and it may have gone out,
    // so a window closed since does not refuse it now.
    if let Some(row) = store::send_by_scope(cx.hub, scope)? {
        let cost = check(cx, &t.chat, &act).unwrap_or(Cost::Free);
        return Ok(SendPlan {
            target: t,
            row,
            resume: true,
            outgoing,
            content,
            cost,
        });
    }
    let cost = check(cx, &t.chat, &act)?;
    let id = match message_id {
        Some(id) if !valid_message_id(id.as_str()) => {
            return Err(ApiError::bad_request("message_id: 1-64 of A-Z a-z 0-9 - _"));
        }
        Some(id) => id,
        None => MessageId(format!(
            "m-{:016x}{:08x}",
            fastrand::u64(..),
            fastrand::u32(..)
        )),
    };
    let row = SendRow {
        workspace: cx.ws.id.clone(),
        message_id: id.0.clone(),
        scope: scope.to_owned(),
        chat_id: t.chat.id.0.clone(),
        contact_id: t.contact.clone(),
        author: cx.me.0.clone(),
        text,
        started_at: at.0,
        remote_id: None,
    };
    if cx.ws.store.has_message(&id)? || !store::record_send(cx.hub, &row)? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::DuplicateMessageId,
            "a message already has this id",
        ));
    }
    Ok(SendPlan {
        target: t,
        row,
        resume: false,
        outgoing,
        content,
        cost,
    })
}

/// E2: an agent's uploaded file sent as a message, by a URL of this
/// server's that SendPulse downloads (`files`); the same rules as on a
/// plain workspace (complete, intact, no executable, the app's limit for
/// its kind), then what SendPulse's send takes for the app
/// (`rapport_sendpulse::file_shape`). Exactly once as a text is: the URL
/// names the send in SendPulse's history.
pub async fn attach(chat_id: String, cmd: Command<SendAttachment>) -> Response {
    let state = cmd.state();
    cmd.run_remote(
        move |cx, scope, body: SendAttachment| {
            let t = target(cx, &chat_id)?;
            let file = crate::uploads::complete(cx.hub, cx.ws, cx.me, &body.upload_id)?;
            let sniffed = rapport_core::policy::attachment::sniff(&file.name, &file.bytes)?;
            let caption = act::caption(body.caption.as_deref()).map(str::to_owned);
            let kind = match sniffed.media {
                MediaKind::Image => rapport_sendpulse::FileKind::Image,
                MediaKind::Video => rapport_sendpulse::FileKind::Video,
                MediaKind::Audio => rapport_sendpulse::FileKind::Audio,
                MediaKind::File => rapport_sendpulse::FileKind::Document,
            };
            let size_bytes = file.bytes.len() as u64;
            let said = caption.clone();
            let act = Act::Attach {
                media: sniffed.media,
                size_bytes,
                caption: said.as_deref(),
            };
            if store::send_by_scope(cx.hub, scope)?.is_none() {
                check(cx, &t.chat, &act)?;
                if let Err(what) = rapport_sendpulse::file_shape(t.app, kind, caption.is_some()) {
                    return Err(not_offered(&format!(
                        "{what} on {} (E2)",
                        t.app.rapport_name()
                    )));
                }
            }
            // The URL is made from the record's time, so a resumed send
            // has the one it was recorded with (its name in the history).
            let recorded = store::send_by_scope(cx.hub, scope)?
                .map_or_else(|| cx.now(), |r| Timestamp(r.started_at));
            let url = super::files::url(&state.gateway, &cx.ws.id, &body.upload_id, recorded.0)
                .ok_or_else(|| {
                    not_offered("sending a file without the server's public URL (E2)")
                })?;
            let content = Content::Attachment(Attachment {
                name: file.name,
                size_bytes,
                mime: sniffed.mime,
                media: sniffed.media,
                url: Some(format!("/v1/uploads/{}/content", body.upload_id)),
                caption: caption.clone(),
            });
            let outgoing = rapport_sendpulse::Outgoing::File { kind, url, caption };
            record(
                cx,
                scope,
                recorded,
                t,
                act,
                body.message_id,
                outgoing,
                content,
            )
        },
        |state, ws, plan| async move { carry_out(&state, &ws, plan).await },
        |cx, sent: Sent| commit_send(cx, sent),
    )
    .await
}

/// E5: a template is sent in the language SendPulse has it approved in:
/// the bot's list (`GET /whatsapp/templates`), kept per bot and read again
/// when the name is not in it. An unknown name, or one not approved, is
/// refused (`not_supported`) before anything goes out.
async fn resolve_template(
    state: &Arc<AppState>,
    client: &Client,
    ws: &Workspace,
    plan: &mut SendPlan,
) -> ApiResult<()> {
    let rapport_sendpulse::Outgoing::WhatsappTemplate { name, language, .. } = &mut plan.outgoing
    else {
        return Ok(());
    };
    let Some(bot) = plan.target.chat.bot_id.as_str().strip_prefix("sp-") else {
        return Err(not_offered("a template on this bot (E5)"));
    };
    let gw = &state.gateway;
    let mut list = gw.cached_templates(&ws.id, bot);
    if !list
        .as_ref()
        .is_some_and(|l| l.iter().any(|t| t.name == *name))
    {
        let fresh = client
            .whatsapp_templates(bot)
            .await
            .map_err(|e| api_error(e.into()))?;
        list = Some(gw.cache_templates(&ws.id, bot, fresh));
    }
    let list = list.unwrap_or_default();
    let named: Vec<&rapport_sendpulse::Template> =
        list.iter().filter(|t| t.name == *name).collect();
    let Some(t) = named.iter().find(|t| t.approved()) else {
        let why = if named.is_empty() {
            format!("the bot has no WhatsApp template named {name:?}")
        } else {
            format!("the WhatsApp template {name:?} is not approved")
        };
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NotSupported,
            why,
        ));
    };
    *language = t.language.clone();
    if let Content::Template { text, .. } = &mut plan.content {
        *text = t.body_text().unwrap_or_default().to_owned();
    }
    Ok(())
}

/// Whether SendPulse's copy of the recorded send is known (bound).
async fn found(state: &Arc<AppState>, scope: &str) -> ApiResult<bool> {
    let st = state.clone();
    let scope = scope.to_owned();
    blocking(move || {
        Ok(store::send_by_scope(&st.hub, &scope)?.is_some_and(|r| r.remote_id.is_some()))
    })
    .await
}

/// Reads the contact's history (applying it binds the send if it is there),
/// up to `Tuning::lookups` times; whether the send was found.
async fn look(
    state: &Arc<AppState>,
    client: &Client,
    ws: &Arc<Workspace>,
    plan: &SendPlan,
) -> ApiResult<bool> {
    let t = state.gateway.tuning();
    let bot = plan.target.chat.bot_id.as_str();
    let contact = seen_contact(
        &plan.target,
        bot.strip_prefix("sp-").unwrap_or(bot),
        Timestamp(plan.row.started_at),
    );
    for i in 0..t.lookups.max(1) {
        if found(state, &plan.row.scope).await? {
            return Ok(true);
        }
        if i > 0 {
            tokio::time::sleep(t.lookup_wait).await;
        }
        match reconcile::history(state, client, ws, &contact).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "history lookup failed"),
        }
        if found(state, &plan.row.scope).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// At most this many sends of one recorded message per request, each after
/// a lookup found nothing.
const SENDS_PER_REQUEST: u32 = 2;

async fn carry_out(
    state: &Arc<AppState>,
    ws: &Arc<Workspace>,
    mut plan: SendPlan,
) -> ApiResult<Sent> {
    let client = client(state, ws).await?;
    if let Err(e) = resolve_template(state, &client, ws, &mut plan).await {
        if !plan.resume && e.status == StatusCode::UNPROCESSABLE_ENTITY {
            // Refused before anything went out: no record to look for.
            let st = state.clone();
            let (w, m) = (ws.id.clone(), plan.row.message_id.clone());
            blocking(move || Ok(store::forget_send(&st.hub, &w, &m)?)).await?;
        }
        return Err(e);
    }
    if plan.resume && look(state, &client, ws, &plan).await? {
        return Ok(Sent { plan });
    }
    // Whether an earlier attempt may have gone out unseen.
    let mut maybe_sent = plan.resume;
    for _ in 0..SENDS_PER_REQUEST {
        match client
            .send(plan.target.app, &plan.target.contact, &plan.outgoing)
            .await
        {
            Ok(receipt) => {
                if let Some(rid) = receipt.message_id {
                    let st = state.clone();
                    let (w, m) = (ws.id.clone(), plan.row.message_id.clone());
                    blocking(move || Ok(store::bind_send(&st.hub, &w, &m, &rid)?)).await?;
                }
                pause_after_reply(&client, &plan).await;
                return Ok(Sent { plan });
            }
            Err(rapport_sendpulse::Error::Uncertain(why)) => {
                tracing::info!(why, "send's answer lost; looking for the message");
                maybe_sent = true;
                if look(state, &client, ws, &plan).await? {
                    pause_after_reply(&client, &plan).await;
                    return Ok(Sent { plan });
                }
            }
            Err(e) => {
                let e = GatewayError::from(e);
                if maybe_sent {
                    // An earlier attempt may have gone out: the outcome is
                    // not known, so the record stays and the retry looks.
                    tracing::info!(error = %super::shown(&e), "send refused after an unconfirmed attempt");
                    break;
                }
                if let GatewayError::SendPulse(
                    rapport_sendpulse::Error::Refused { .. } | rapport_sendpulse::Error::Rejected,
                ) = &e
                {
                    // Refused: nothing went out, so nothing to look for later.
                    let st = state.clone();
                    let (w, m) = (ws.id.clone(), plan.row.message_id.clone());
                    blocking(move || Ok(store::forget_send(&st.hub, &w, &m)?)).await?;
                }
                return Err(api_error(e));
            }
        }
    }
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        "SendPulse did not confirm the message; retry with the same key",
    );
    e.retry_after = Some(5);
    Err(e)
}

/// E3: a manual reply pauses the bot for an hour at SendPulse too. Best
/// effort: the message went out; a failure here is logged, not returned.
async fn pause_after_reply(client: &Client, plan: &SendPlan) {
    let minutes = pause::PAUSE_MS / 60_000;
    if let Err(e) = client
        .pause_set(plan.target.app, &plan.target.contact, minutes)
        .await
    {
        let e = super::shown(&e.into());
        tracing::warn!(error = %e, "pause after a reply not set at SendPulse");
    }
}

fn commit_send(cx: &Ctx<'_>, sent: Sent) -> ApiResult<MessageSent> {
    let plan = sent.plan;
    let chat = cx.chat(plan.target.chat.id.as_str())?;
    let now = cx.now();
    let id = MessageId(plan.row.message_id.clone());
    let mut payloads = Vec::new();
    let message = match cx
        .ws
        .store
        .timeline_item(&chat.id, &TimelineItemId::Message(id.clone()))?
    {
        // Already applied from a webhook or the history, which show a
        // template or a file as SendPulse keeps it: the agent's content.
        Some(TimelineItem::Message(mut m)) => {
            if m.content != plan.content {
                m.content = plan.content;
                payloads.push(EventPayload::MessageUpserted(m.clone()));
            }
            m
        }
        _ => {
            let m = Message {
                id,
                chat_id: chat.id.clone(),
                sender: Sender::Member(MemberId(plan.row.author.clone())),
                content: plan.content,
                sent_at: now,
                delivery: delivery::shows_ticks(chat.app).then_some(Delivery::Sent),
                quote: None,
                reactions: Vec::new(),
                edited_at: None,
                deleted_at: None,
                in_reply_to_ad: None,
            };
            payloads.push(EventPayload::MessageUpserted(m.clone()));
            m
        }
    };
    let until = pause::after_manual_reply(chat.paused_until, now);
    payloads.push(EventPayload::PauseChanged {
        chat_id: chat.id.clone(),
        until: Some(until),
    });
    let seq = cx.emit(payloads)?;
    Ok(MessageSent {
        seq,
        message,
        paused_until: until,
        cost: plan.cost,
    })
}

// ---- A8, B10, D1, E3/F7 ---------------------------------------------------

/// A command that sets a state at SendPulse (safe to repeat), then emits.
async fn simple<B, P, Fut>(
    chat_id: String,
    cmd: Command<B>,
    prepare: impl FnOnce(&Ctx<'_>, &Target, B) -> ApiResult<P> + Send + 'static,
    call: impl FnOnce(Arc<Client>, SpApp, String, P) -> Fut + Send + 'static,
    commit: impl FnOnce(&Chat, P) -> Vec<EventPayload> + Send + 'static,
) -> Response
where
    B: Send + 'static,
    P: Send + 'static,
    Fut: std::future::Future<Output = Result<P, rapport_sendpulse::Error>> + Send,
{
    cmd.run_remote(
        move |cx, _scope, body| {
            let t = target(cx, &chat_id)?;
            let p = prepare(cx, &t, body)?;
            Ok((t, p))
        },
        |state, ws, (t, p): (Target, P)| async move {
            let client = client(&state, &ws).await?;
            let p = call(client, t.app, t.contact.clone(), p)
                .await
                .map_err(|e| api_error(e.into()))?;
            Ok((t, p))
        },
        move |cx, (t, p)| {
            let chat = cx.chat(t.chat.id.as_str())?;
            let seq = cx.emit(commit(&chat, p))?;
            Ok(Committed { seq })
        },
    )
    .await
}

pub async fn read(chat_id: String, cmd: Command<NoBody>) -> Response {
    simple(
        chat_id,
        cmd,
        |_, _, _| Ok(()),
        |c, app, contact, ()| async move { c.mark_read(app, &contact).await.map(drop) },
        |chat, ()| {
            vec![EventPayload::ChatRead {
                chat_id: chat.id.clone(),
            }]
        },
    )
    .await
}

pub async fn set_state(chat_id: String, cmd: Command<NoBody>, to: ChatState) -> Response {
    simple(
        chat_id,
        cmd,
        |_, _, _| Ok(()),
        move |c, app, contact, ()| async move {
            match to {
                ChatState::Open => c.open_chat(app, &contact).await,
                ChatState::Closed => c.close_chat(app, &contact).await,
            }
        },
        move |chat, ()| {
            vec![EventPayload::ChatStateChanged {
                chat_id: chat.id.clone(),
                state: to,
            }]
        },
    )
    .await
}

/// B7: the agent's reaction to a subscriber's message, through Telegram's
/// `contacts/react` (the core's rule already keeps reactions to Telegram
/// and to the subscriber's messages). SendPulse has no way to take a
/// reaction back, so removing one is refused.
pub async fn react(chat_id: String, message_id: String, cmd: Command<React>) -> Response {
    simple(
        chat_id,
        cmd,
        move |cx, t, body: React| {
            let Some(emoji) = body.emoji.filter(|e| !e.is_empty()) else {
                return Err(not_offered("taking a reaction back (B7)"));
            };
            fields::check(Field::Emoji, &emoji)?;
            let m = cx.message(&t.chat, &message_id)?;
            check(
                cx,
                &t.chat,
                &Act::React {
                    target: act::Target::of(&m),
                },
            )?;
            // A message read from SendPulse keeps its id after `sp-`; one
            // whose id was too long for that is hashed and cannot be named.
            let remote =
                m.id.as_str()
                    .strip_prefix("sp-")
                    .map(str::to_owned)
                    .ok_or_else(|| not_offered("a reaction to this message (B7)"))?;
            let by = ReactionBy::Member(cx.me.clone());
            let mut reactions: Vec<Reaction> =
                m.reactions.into_iter().filter(|r| r.by != by).collect();
            reactions.push(Reaction {
                emoji: emoji.clone(),
                by,
            });
            Ok((remote, emoji, m.id, reactions))
        },
        |c, _, contact, (remote, emoji, id, reactions)| async move {
            c.telegram_react(&contact, &remote, &emoji).await?;
            Ok((remote, emoji, id, reactions))
        },
        |chat, (_, _, message_id, reactions)| {
            vec![EventPayload::ReactionsChanged {
                chat_id: chat.id.clone(),
                message_id,
                reactions,
            }]
        },
    )
    .await
}

fn not_offered(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::NotSupported,
        format!("{what} is not available through SendPulse"),
    )
}

/// F6: the linked account's active flows whose name contains `q`
/// (case-insensitive), read from SendPulse for each of the workspace's
/// bots; their ids are `sp-` and SendPulse's. Which flows a subscriber is
/// on is not offered by the API.
pub async fn flows(state: &Arc<AppState>, ws: &Arc<Workspace>, q: &str) -> ApiResult<FlowList> {
    let client = client(state, ws).await?;
    let bots = {
        let ws = ws.clone();
        tokio::task::spawn_blocking(move || ws.store.bots())
            .await
            .map_err(ApiError::internal)??
    };
    let needle = q.to_lowercase();
    let mut flows = Vec::new();
    for b in bots {
        // A bot whose id was too long to keep is hashed and cannot be named.
        let Some(remote) = b.id.as_str().strip_prefix("sp-") else {
            continue;
        };
        let list = client
            .flows_all(ingest::sp_app(b.app), remote)
            .await
            .map_err(|e| api_error(e.into()))?;
        flows.extend(
            list.into_iter()
                .filter(|f| f.status != Some(2) && f.name.to_lowercase().contains(&needle))
                .map(|f| Flow {
                    id: format!("sp-{}", f.id),
                    name: f.name,
                }),
        );
    }
    Ok(FlowList { flows })
}

/// D1: assigning needs the member's SendPulse operator id (the link's
/// operator map; the API lists no team).
pub async fn assign(chat_id: String, cmd: Command<AssignChat>) -> Response {
    simple(
        chat_id,
        cmd,
        |cx, t, body: AssignChat| {
            let members = cx.ws.store.members(false)?;
            let to = Assignee::find(body.member_id.as_ref(), &members);
            check(cx, &t.chat, &Act::Assign { to })?;
            let operator = match &body.member_id {
                None => None,
                Some(m) => Some(super::operator(cx.hub, &cx.ws.id, m.as_str())?.ok_or_else(
                    || {
                        ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            ErrorCode::NotAssignable,
                            "this member has no SendPulse operator id in the link",
                        )
                    },
                )?),
            };
            Ok((body.member_id, operator))
        },
        |c, app, contact, (member, operator)| async move {
            match operator {
                Some(o) => c.assign(app, &contact, o).await?,
                None => c.unassign(app, &contact).await?,
            }
            Ok((member, operator))
        },
        |chat, (member, _)| {
            vec![EventPayload::ChatAssigned {
                chat_id: chat.id.clone(),
                assignee: member,
            }]
        },
    )
    .await
}

/// E3/F7: start (60 minutes), extend (+60 on what SendPulse has left) or
/// continue (end) the bot's pause, at SendPulse.
pub async fn pause_bot(chat_id: String, cmd: Command<PauseBot>) -> Response {
    cmd.run_remote(
        move |cx, _, body: PauseBot| Ok((target(cx, &chat_id)?, body.action)),
        |state, ws, (t, action)| async move {
            let client = client(&state, &ws).await?;
            let now = state.hub.now();
            let err = |e: rapport_sendpulse::Error| api_error(e.into());
            let until = match action {
                PauseAction::Continue => {
                    client.pause_delete(t.app, &t.contact).await.map_err(err)?;
                    pause::continue_autoflows()
                }
                PauseAction::Start | PauseAction::Extend => {
                    // SendPulse's own count of what is left decides.
                    let left = client.pause_get(t.app, &t.contact).await.map_err(err)?;
                    let current = left.map(|m| now.plus_millis(m * 60_000));
                    let until = if action == PauseAction::Start {
                        pause::after_manual_reply(current, now)
                    } else {
                        pause::extend(current, now)
                    };
                    let minutes = (until.0 - now.0 + 59_999) / 60_000;
                    client
                        .pause_set(t.app, &t.contact, minutes)
                        .await
                        .map_err(err)?;
                    Some(until)
                }
            };
            Ok((t, until))
        },
        |cx, (t, until): (Target, Option<Timestamp>)| {
            let seq = cx.emit(vec![EventPayload::PauseChanged {
                chat_id: t.chat.id,
                until,
            }])?;
            Ok(PauseSet {
                seq,
                paused_until: until,
            })
        },
    )
    .await
}

// ---- F5, F8 -----------------------------------------------------------------

/// F5 variables and tags, F8 disable, at SendPulse (`setVariable`, `setTag`,
/// `deleteTag`, `disable`), then the card. A variable set to "" is removed
/// from the card (SendPulse keeps it empty). Starting a flow (F6: SendPulse's
/// flow ids are not the catalogue's) and the CRM contact (G2) are refused.
pub async fn edit_subscriber(subscriber_id: String, cmd: Command<SubscriberEdit>) -> Response {
    cmd.run_remote(
        move |cx, _, body: SubscriberEdit| {
            body.check_fields()?;
            if body.crm_contact.is_some() {
                return Err(not_offered("the CRM contact (G2)"));
            }
            // F6: a flow from the account's list (`flows`) runs; SendPulse
            // has no way to stop one.
            let flow = match body.flow_id.as_deref() {
                None => None,
                Some(id) => Some(
                    id.strip_prefix("sp-")
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .ok_or_else(|| not_offered("stopping a flow, or a flow not of SendPulse's (F6)"))?,
                ),
            };
            let s = cx
                .ws
                .store
                .subscriber(&SubscriberId(subscriber_id))?
                .ok_or_else(|| ApiError::not_found("subscriber"))?;
            let contact =
                s.id.as_str()
                    .strip_prefix("sp-")
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            ErrorCode::NotSupported,
                            "this subscriber is not one of the SendPulse account's",
                        )
                    })?
                    .to_owned();
            Ok((s, contact, body, flow))
        },
        |state, ws, (s, contact, body, flow): (Subscriber, String, SubscriberEdit, Option<String>)| async move {
            let client = client(&state, &ws).await?;
            let app = ingest::sp_app(s.app);
            let err = |e: rapport_sendpulse::Error| api_error(e.into());
            for (k, v) in &body.variables {
                client
                    .set_variable(app, &contact, k, serde_json::Value::String(v.clone()))
                    .await
                    .map_err(err)?;
            }
            if !body.add_tags.is_empty() {
                client
                    .add_tags(app, &contact, &body.add_tags)
                    .await
                    .map_err(err)?;
            }
            for t in &body.remove_tags {
                client.remove_tag(app, &contact, t).await.map_err(err)?;
            }
            if body.disable {
                client.disable_contact(app, &contact).await.map_err(err)?;
            }
            if let Some(f) = &flow {
                client.run_flow(app, &contact, f, None).await.map_err(err)?;
            }
            Ok((s, body))
        },
        |cx, (s, body): (Subscriber, SubscriberEdit)| {
            // The card as it is now (a webhook may have changed it meanwhile).
            let mut s = cx.ws.store.subscriber(&s.id)?.unwrap_or(s);
            body.apply_to(&mut s);
            let seq = cx.emit(vec![EventPayload::SubscriberUpserted(s.clone())])?;
            Ok(SubscriberSaved { seq, subscriber: s })
        },
    )
    .await
}

// ---- C1: notes ----------------------------------------------------------------

/// SendPulse's bot id of a gateway chat (the notes calls name it).
fn remote_bot(t: &Target) -> ApiResult<String> {
    rapport_core::sendpulse::remote_id(t.chat.bot_id.as_str())
        .map(str::to_owned)
        .ok_or_else(|| not_offered("a note on this bot's chat (C1)"))
}

/// The contact of a gateway chat as the reconcile reads it.
/// The chat's contact as a lookup reads it: what the read brings (history,
/// notes) and nothing of the card.
fn seen_contact(t: &Target, bot_id: &str, at: Timestamp) -> SeenContact {
    SeenContact {
        app: t.app,
        bot_id: bot_id.to_owned(),
        contact_id: t.contact.clone(),
        name: None,
        status: None,
        opened: None,
        unread: None,
        tags: None,
        variables: None,
        at,
    }
}

struct NotePlan {
    target: Target,
    row: store::NoteRow,
    /// Recorded by an earlier attempt: look before writing.
    resume: bool,
}

/// C1: an agent's note on a linked workspace goes to SendPulse
/// (`createNote`), so the team sees it there too. As a send (E7): recorded
/// before the call; after a lost answer (or on the retry of a recorded
/// one) the contact's notes are read, which binds the note if it is there,
/// before it is written again.
pub async fn add_note(chat_id: String, cmd: Command<TextBody>) -> Response {
    cmd.run_remote(
        move |cx, scope, body: TextBody| {
            let t = target(cx, &chat_id)?;
            let bot = remote_bot(&t)?;
            if let Some(row) = store::note_by_scope(cx.hub, scope)? {
                return Ok(NotePlan {
                    target: t,
                    row,
                    resume: true,
                });
            }
            check(cx, &t.chat, &Act::Note { text: &body.text })?;
            let row = store::NoteRow {
                workspace: cx.ws.id.clone(),
                note_id: format!("n-{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..)),
                scope: scope.to_owned(),
                chat_id: t.chat.id.0.clone(),
                contact_id: t.contact.clone(),
                bot_id: bot,
                author: cx.me.0.clone(),
                text: body.text,
                started_at: cx.now().0,
                remote_id: None,
            };
            if !store::record_note(cx.hub, &row)? {
                return Err(ApiError::internal(
                    "a note with this id is recorded already",
                ));
            }
            Ok(NotePlan {
                target: t,
                row,
                resume: false,
            })
        },
        |state, ws, plan| async move { write_note(&state, &ws, plan).await },
        |cx, plan: NotePlan| {
            let chat = cx.chat(plan.target.chat.id.as_str())?;
            let id = NoteId(plan.row.note_id.clone());
            // The reconcile may have applied it already (found at SendPulse).
            let note = match cx
                .ws
                .store
                .timeline_item(&chat.id, &TimelineItemId::Note(id.clone()))?
            {
                Some(TimelineItem::Note(n)) => n,
                _ => Note {
                    id,
                    chat_id: chat.id.clone(),
                    author: MemberId(plan.row.author.clone()),
                    text: plan.row.text.clone(),
                    created_at: Timestamp(plan.row.started_at),
                    edited_at: None,
                },
            };
            let seq = cx.emit(vec![EventPayload::NoteUpserted(note.clone())])?;
            Ok(NoteSaved { seq, note })
        },
    )
    .await
}

/// Whether the recorded note is bound to SendPulse's note.
async fn note_found(state: &Arc<AppState>, scope: &str) -> ApiResult<bool> {
    let st = state.clone();
    let scope = scope.to_owned();
    blocking(move || {
        Ok(store::note_by_scope(&st.hub, &scope)?.is_some_and(|r| r.remote_id.is_some()))
    })
    .await
}

/// Reads the contact's notes (applying them binds the recorded note if it
/// is there), up to `Tuning::lookups` times; whether it was found.
async fn look_note(
    state: &Arc<AppState>,
    client: &Client,
    ws: &Arc<Workspace>,
    plan: &NotePlan,
) -> ApiResult<bool> {
    let t = state.gateway.tuning();
    let contact = seen_contact(
        &plan.target,
        &plan.row.bot_id,
        plan.target.chat.last_activity,
    );
    for i in 0..t.lookups.max(1) {
        if i > 0 {
            tokio::time::sleep(t.lookup_wait).await;
        }
        if let Err(e) = reconcile::notes(state, client, ws, &contact).await {
            tracing::debug!(error = %super::shown(&e), "notes lookup failed");
        }
        if note_found(state, &plan.row.scope).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn write_note(
    state: &Arc<AppState>,
    ws: &Arc<Workspace>,
    plan: NotePlan,
) -> ApiResult<NotePlan> {
    let client = client(state, ws).await?;
    if plan.resume
        && (note_found(state, &plan.row.scope).await?
            || look_note(state, &client, ws, &plan).await?)
    {
        return Ok(plan);
    }
    let (app, row) = (plan.target.app, &plan.row);
    match client
        .create_note(app, &row.bot_id, &row.contact_id, &row.text)
        .await
    {
        Ok(Some(remote)) => {
            let st = state.clone();
            let (w, n) = (ws.id.clone(), row.note_id.clone());
            blocking(move || Ok(store::bind_note(&st.hub, &w, &n, &remote)?)).await?;
            Ok(plan)
        }
        // Written, its id not given: the next read of the notes binds it.
        Ok(None) => Ok(plan),
        Err(rapport_sendpulse::Error::Uncertain(why)) => {
            tracing::info!(why, "note's answer lost; looking for the note");
            if look_note(state, &client, ws, &plan).await? {
                return Ok(plan);
            }
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "SendPulse did not confirm the note; retry with the same key",
            );
            e.retry_after = Some(5);
            Err(e)
        }
        Err(e) => {
            let refused = matches!(
                e,
                rapport_sendpulse::Error::Refused { .. } | rapport_sendpulse::Error::Rejected
            );
            if refused && !plan.resume {
                // Nothing was written: nothing to look for later.
                let st = state.clone();
                let (w, n) = (ws.id.clone(), row.note_id.clone());
                blocking(move || Ok(store::forget_note(&st.hub, &w, &n)?)).await?;
            }
            Err(api_error(e.into()))
        }
    }
}

/// SendPulse's id of a Rapport note on a linked workspace: the recorded
/// note's (an agent's), or the id a note written in SendPulse's UI was
/// named from. `Ok(None)`: a note only Rapport has (written before the
/// link). A recorded note whose write is not confirmed yet cannot be
/// changed until it is.
fn remote_note(cx: &Ctx<'_>, note: &Note) -> ApiResult<Option<String>> {
    match store::note_by_id(cx.hub, &cx.ws.id, note.id.as_str())? {
        Some(r) => r.remote_id.map(Some).ok_or_else(|| {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the note is not confirmed at SendPulse yet; retry",
            );
            e.retry_after = Some(5);
            e
        }),
        None if note.author.as_str() == ingest::SENDPULSE_AUTHOR => {
            Ok(rapport_core::sendpulse::remote_id(note.id.as_str()).map(str::to_owned))
        }
        None => Ok(None),
    }
}

/// C1: the author edits their note, at SendPulse too (`updateNote`).
pub async fn edit_note(chat_id: String, note_id: String, cmd: Command<TextBody>) -> Response {
    cmd.run_remote(
        move |cx, _, body: TextBody| {
            let t = target(cx, &chat_id)?;
            let mut note = cx.own_note(&t.chat, &note_id)?;
            check(cx, &t.chat, &Act::Note { text: &body.text })?;
            let remote = remote_note(cx, &note)?;
            let bot = match &remote {
                Some(_) => Some(remote_bot(&t)?),
                None => None,
            };
            note.text = body.text;
            Ok((t, note, remote.zip(bot)))
        },
        |state, ws, (t, note, remote): (Target, Note, Option<(String, String)>)| async move {
            if let Some((id, bot)) = &remote {
                client(&state, &ws)
                    .await?
                    .update_note(t.app, bot, &t.contact, id, &note.text)
                    .await
                    .map_err(|e| api_error(e.into()))?;
            }
            Ok(note)
        },
        |cx, mut note: Note| {
            note.edited_at = Some(cx.now());
            let seq = cx.emit(vec![EventPayload::NoteUpserted(note.clone())])?;
            Ok(NoteSaved { seq, note })
        },
    )
    .await
}

/// C1: the author deletes their note, at SendPulse too (`deleteNote`). A
/// refusal after an attempt whose answer was lost is checked against the
/// contact's notes: gone is done.
pub async fn delete_note(chat_id: String, note_id: String, cmd: Command<NoBody>) -> Response {
    cmd.run_remote(
        move |cx, _, _: NoBody| {
            let t = target(cx, &chat_id)?;
            let note = cx.own_note(&t.chat, &note_id)?;
            let remote = remote_note(cx, &note)?;
            let bot = match &remote {
                Some(_) => Some(remote_bot(&t)?),
                None => None,
            };
            Ok((t, note, remote.zip(bot)))
        },
        |state, ws, (t, note, remote): (Target, Note, Option<(String, String)>)| async move {
            if let Some((id, bot)) = &remote {
                let client = client(&state, &ws).await?;
                if let Err(e) = client.delete_note(t.app, bot, &t.contact, id).await {
                    let refused = matches!(
                        e,
                        rapport_sendpulse::Error::Refused { .. }
                            | rapport_sendpulse::Error::Rejected
                    );
                    let gone = refused
                        && client
                            .notes(t.app, bot, &t.contact)
                            .await
                            .is_ok_and(|l| l.iter().all(|n| &n.id != id));
                    if !gone {
                        return Err(api_error(e.into()));
                    }
                }
            }
            Ok(note)
        },
        |cx, note: Note| {
            store::forget_note(cx.hub, &cx.ws.id, note.id.as_str())?;
            let seq = cx.emit(vec![EventPayload::NoteDeleted {
                chat_id: note.chat_id,
                note_id: note.id,
            }])?;
            Ok(Committed { seq })
        },
    )
    .await
}
