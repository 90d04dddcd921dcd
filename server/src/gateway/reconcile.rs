//! The reconcile pass (issue 17): SendPulse's API read through, so the
//! workspace reaches SendPulse's state whatever webhooks were missed,
//! duplicated or reordered.
//!
//! 1. `GET /chatbots/dialogs`, paged with `search_after` to the end: one
//!    line per chat with its last messages and unread count. A chat whose
//!    line is as the last pass saw it needs no history read.
//! 2. Per app, `GET /{app}/bots`; per bot, `GET /{app}/chats` (paged):
//!    each contact's status, open flag and unread count.
//! 3. Per chat whose dialog changed (or never seen), its history
//!    `GET /{app}/chats/messages` (paged with `search_after`), and its
//!    notes `GET /{app}/contacts/notes` (C1: one request more per history
//!    read; a chat whose line did not change costs none).
//!
//! Everything goes through `ingest::apply`, so a pass over a state already
//! known emits nothing.

use super::GatewayError;
use super::ingest::{self, Seen, SeenContact, SeenMessage, SeenNote};
use crate::AppState;
use rapport_core::model::Timestamp;
use rapport_sendpulse::{App as SpApp, Client, Dialog, Direction};
use std::collections::HashMap;
use std::sync::Arc;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub chats: usize,
    pub histories: usize,
    pub events: usize,
    /// Requests made to SendPulse (token fetches included).
    pub requests: u64,
}

// The reading of SendPulse's answers is shared with the direct connector.
use rapport_core::sendpulse::{name_of, parse_time, text_of, variables_of};

fn dialog_mark(d: &Dialog) -> String {
    let last = |m: &Option<rapport_sendpulse::client::LastMessage>| {
        m.as_ref()
            .map(|m| format!("{:?}|{:?}", m.id, m.date))
            .unwrap_or_default()
    };
    format!(
        "{}|{:?}|{:?}|{}|{}",
        d.updated_at.as_deref().unwrap_or(""),
        d.inbox_unread_count,
        d.is_chat_opened,
        last(&d.last_inbox_message),
        last(&d.last_outbox_message),
    )
}

/// One pass over a linked workspace.
pub async fn pass(state: &Arc<AppState>, workspace: &str) -> Result<Reconciled, GatewayError> {
    let (client, ws) = {
        let st = state.clone();
        let w = workspace.to_owned();
        tokio::task::spawn_blocking(move || {
            let c = st.gateway.client(&st.hub, &w)?;
            let ws = st.hub.workspace(&w).ok_or(GatewayError::NoWorkspace)?;
            Ok::<_, GatewayError>((c, ws))
        })
        .await
        .map_err(|e| GatewayError::BadLink(e.to_string()))??
    };
    let before = client.stats().requests;
    let mut out = Reconciled::default();
    let marks = {
        let st = state.clone();
        let w = workspace.to_owned();
        tokio::task::spawn_blocking(move || super::store::dialog_marks(&st.hub, &w))
            .await
            .map_err(|e| GatewayError::BadLink(e.to_string()))??
    };
    let dialogs: HashMap<String, String> = client
        .dialogs_all()
        .await?
        .iter()
        .map(|d| (d.contact.id.clone(), dialog_mark(d)))
        .collect();
    for app in SpApp::ALL {
        for bot in client.bots(app).await? {
            let chats = client.chats_all(app, &bot.id).await?;
            let mut seen = Vec::with_capacity(chats.len() + 1);
            seen.push(Seen::Bot {
                app,
                bot_id: bot.id.clone(),
                name: name_of(&bot.channel_data).unwrap_or_default(),
                at: bot
                    .created_at
                    .as_deref()
                    .and_then(parse_time)
                    .unwrap_or(Timestamp(0)),
            });
            let mut stale = Vec::new();
            for chat in chats {
                let c = &chat.contact;
                let at = c
                    .created_at
                    .as_deref()
                    .and_then(parse_time)
                    .unwrap_or(Timestamp(0));
                let contact = SeenContact {
                    app,
                    bot_id: bot.id.clone(),
                    contact_id: c.id.clone(),
                    name: name_of(&c.channel_data),
                    status: c.status,
                    opened: c.is_chat_opened,
                    unread: chat.inbox_unread,
                    tags: Some(c.tags.clone()),
                    variables: Some(variables_of(&c.variables)),
                    at,
                };
                let mark = dialogs.get(&c.id).cloned();
                if mark.is_none() || marks.get(&c.id) != mark.as_ref() {
                    stale.push((contact.clone(), mark));
                }
                seen.push(Seen::Contact(contact));
            }
            out.chats += seen.len() - 1;
            out.events += apply(state, &ws, seen).await?;
            for (contact, mark) in stale {
                out.events += history(state, &client, &ws, &contact).await?;
                out.events += notes(state, &client, &ws, &contact).await?;
                out.histories += 1;
                // The unread count after the history (its messages count as
                // unread as they arrive; SendPulse's count decides).
                out.events += apply(state, &ws, vec![Seen::Contact(contact.clone())]).await?;
                if let Some(m) = mark {
                    let st = state.clone();
                    let (w, c) = (workspace.to_owned(), contact.contact_id.clone());
                    tokio::task::spawn_blocking(move || {
                        super::store::set_dialog_mark(&st.hub, &w, &c, &m)
                    })
                    .await
                    .map_err(|e| GatewayError::BadLink(e.to_string()))??;
                }
            }
        }
    }
    out.requests = client.stats().requests - before;
    Ok(out)
}

async fn apply(
    state: &Arc<AppState>,
    ws: &Arc<crate::hub::Workspace>,
    seen: Vec<Seen>,
) -> Result<usize, GatewayError> {
    if seen.is_empty() {
        return Ok(0);
    }
    let st = state.clone();
    let ws = ws.clone();
    let slack = st.gateway.tuning().match_slack_ms;
    tokio::task::spawn_blocking(move || ingest::apply(&st.gateway, &st.hub, &ws, &seen, slack))
        .await
        .map_err(|e| GatewayError::BadLink(e.to_string()))?
        .map_err(GatewayError::from)
}

/// Reads one contact's whole history and applies it; the events emitted.
pub(crate) async fn history(
    state: &Arc<AppState>,
    client: &Client,
    ws: &Arc<crate::hub::Workspace>,
    contact: &SeenContact,
) -> Result<usize, GatewayError> {
    let messages = client
        .messages_all(contact.app, &contact.contact_id)
        .await?;
    let seen = messages
        .into_iter()
        .map(|m| {
            let at = m
                .created_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(contact.at);
            Seen::Message(SeenMessage {
                contact: SeenContact {
                    status: None,
                    opened: None,
                    unread: None,
                    tags: None,
                    variables: None,
                    ..contact.clone()
                },
                remote_id: m.id,
                inbound: m.direction == Direction::In,
                text: text_of(&m.data),
                key: rapport_core::sendpulse::api::map::send_key(&m.data),
                status: m.status,
                precise: m.created_at.is_some(),
                at,
            })
        })
        .collect();
    apply(state, ws, seen).await
}

/// C1: reads one contact's notes and applies the list; the events emitted.
pub(crate) async fn notes(
    state: &Arc<AppState>,
    client: &Client,
    ws: &Arc<crate::hub::Workspace>,
    contact: &SeenContact,
) -> Result<usize, GatewayError> {
    let read_at = state.hub.now();
    let list = client
        .notes(contact.app, &contact.bot_id, &contact.contact_id)
        .await?;
    let notes = list
        .into_iter()
        .map(|n| SeenNote {
            at: n
                .created_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(read_at),
            text: text_of(&n.data),
            remote_id: n.id,
        })
        .collect();
    let contact = SeenContact {
        status: None,
        opened: None,
        unread: None,
        tags: None,
        variables: None,
        ..contact.clone()
    };
    apply(
        state,
        ws,
        vec![Seen::Notes {
            contact,
            notes,
            read_at,
        }],
    )
    .await
}
