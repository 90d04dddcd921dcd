//! What the gateway learns of SendPulse (a webhook item, or a reconcile
//! pass's chat or message) turned into the workspace's events.
//!
//! Idempotent by construction: each observation is compared with the
//! workspace's state and only a difference is emitted, so a duplicated,
//! replayed or reordered webhook, or a reconcile of a state already known,
//! changes nothing. Ids are derived from SendPulse's (`sp-` + its id), so the
//! mapping is stable across restarts and passes; the one exception is an
//! agent's own message, which keeps the id its phone gave it and is found
//! through `sendpulse_sends` (E7).

use super::store::{self, SendRow};
use super::{Gateway, GatewayStats};
use crate::hub::{Hub, HubResult, Workspace};
use rapport_core::model::*;
use rapport_core::policy::delivery;
use rapport_sendpulse::webhook::{self, Skip, Title};
use rapport_sendpulse::{App as SpApp, ContactStatus, MessageStatus};

/// A contact as SendPulse shows it; `None` fields are not known here.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeenContact {
    pub app: SpApp,
    pub bot_id: String,
    pub contact_id: String,
    pub name: Option<String>,
    pub status: Option<ContactStatus>,
    pub opened: Option<bool>,
    /// SendPulse's unread count (reconcile): 0 reads the chat.
    pub unread: Option<i64>,
    /// F5 (reconcile): the contact's tags and variables (empty ones left out).
    pub tags: Option<Vec<String>>,
    pub variables: Option<std::collections::BTreeMap<String, String>>,
    pub at: Timestamp,
}

/// A message as SendPulse shows it.
#[derive(Clone, PartialEq)]
pub(crate) struct SeenMessage {
    pub contact: SeenContact,
    pub remote_id: String,
    pub inbound: bool,
    pub text: String,
    /// E7: what names it for the lost-send match (`map::send_key`: the
    /// text, a template's name, a file's URL).
    pub key: String,
    pub status: Option<MessageStatus>,
    pub at: Timestamp,
    /// `at` is SendPulse's stored time (the history's, in ms), not a
    /// webhook's (whole seconds): it corrects a time taken from a webhook.
    pub precise: bool,
}

impl std::fmt::Debug for SeenMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenMessage")
            .field("contact", &self.contact.contact_id)
            .field("remote_id", &self.remote_id)
            .field("inbound", &self.inbound)
            .finish_non_exhaustive()
    }
}

/// C1: a note as SendPulse lists it.
#[derive(Clone, PartialEq)]
pub(crate) struct SeenNote {
    pub remote_id: String,
    pub text: String,
    pub at: Timestamp,
}

impl std::fmt::Debug for SeenNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenNote")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

/// The author of a note written in SendPulse's own UI (its API does not
/// say which operator wrote it in a form the link can map to a member).
pub(crate) const SENDPULSE_AUTHOR: &str = "sendpulse";

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Seen {
    /// A bot and its name (reconcile: `GET /{app}/bots`).
    Bot {
        app: SpApp,
        bot_id: String,
        name: String,
        at: Timestamp,
    },
    Contact(SeenContact),
    Message(SeenMessage),
    /// C1: every note of a contact (`GET /{app}/contacts/notes`), the list
    /// asked for at `read_at` (server time).
    Notes {
        contact: SeenContact,
        notes: Vec<SeenNote>,
        read_at: Timestamp,
    },
}

// The mapping of SendPulse's ids and codes is shared with the direct
// connector (rapport_core::sendpulse).
pub(crate) use rapport_core::sendpulse::{app_of, contact_of, local_id, sp_app};
use rapport_core::sendpulse::{delivery_of, rank, status_of};

/// A webhook item as an observation; `None` for titles Rapport does not use.
pub(crate) fn from_item(it: &webhook::Item) -> Option<Seen> {
    let contact = SeenContact {
        app: it.app,
        bot_id: it.bot_id.clone(),
        contact_id: it.contact_id.clone(),
        name: it.contact_name.clone(),
        status: None,
        opened: None,
        unread: None,
        tags: None,
        variables: None,
        at: Timestamp(it.date.saturating_mul(1000)),
    };
    Some(match it.title {
        Title::IncomingMessage | Title::OutgoingMessage => Seen::Message(SeenMessage {
            remote_id: it.message_id.clone()?,
            inbound: it.title == Title::IncomingMessage,
            text: it.text.clone().unwrap_or_default(),
            key: it.text.clone().unwrap_or_default(),
            status: None,
            at: contact.at,
            precise: false,
            contact,
        }),
        Title::OpenChat => Seen::Contact(SeenContact {
            opened: Some(true),
            ..contact
        }),
        Title::NewSubscriber => Seen::Contact(contact),
        Title::Unsubscribe => Seen::Contact(SeenContact {
            status: Some(ContactStatus::Unsubscribed),
            ..contact
        }),
        Title::BotBlock => Seen::Contact(SeenContact {
            status: Some(ContactStatus::Blocked),
            ..contact
        }),
        Title::RunCustomFlow | Title::LinkClick => return None,
    })
}

fn skip_reason(s: &Skip) -> &'static str {
    match s {
        Skip::UnknownTitle(_) => "unknown_title",
        Skip::UnknownService(_) => "unknown_service",
        Skip::Missing(_) => "missing",
        Skip::NotAnObject => "not_an_object",
    }
}

/// One webhook body, as the worker takes it from the inbox.
pub(crate) fn body(gw: &Gateway, hub: &Hub, ws: &Workspace, body: &[u8]) -> HubResult<()> {
    let parsed = match webhook::parse(body) {
        Ok(p) => p,
        Err(e) => {
            // The route checked it; a body kept by an older build may not be.
            tracing::warn!(error = %e, "webhook body set aside");
            gw.count(|s| s.bodies += 1);
            return Ok(());
        }
    };
    let mut seen = Vec::new();
    let mut unused = 0;
    for it in &parsed.items {
        match from_item(it) {
            Some(s) => seen.push(s),
            None => unused += 1,
        }
    }
    apply(gw, hub, ws, &seen, gw.tuning().match_slack_ms)?;
    gw.count(|s| {
        s.bodies += 1;
        s.items += parsed.items.len() as u64;
        for (_, why) in &parsed.skipped {
            *s.skipped.entry(skip_reason(why).to_owned()).or_default() += 1;
        }
        if unused > 0 {
            *s.skipped.entry("not_used".to_owned()).or_default() += unused;
        }
    });
    Ok(())
}

/// Applies observations under the workspace's write lock, each compared
/// with the state as the previous left it; the number of events emitted.
pub(crate) fn apply(
    gw: &Gateway,
    hub: &Hub,
    ws: &Workspace,
    seen: &[Seen],
    slack_ms: i64,
) -> HubResult<usize> {
    hub.exclusive(ws, None, || {
        let mut events = 0;
        let mut unchanged = 0;
        for s in seen {
            let payloads = match s {
                Seen::Bot {
                    app,
                    bot_id,
                    name,
                    at,
                } => bot(ws, *app, bot_id, name, *at)?,
                Seen::Contact(c) => contact(hub, ws, c)?,
                Seen::Message(m) => message(hub, ws, m, slack_ms)?,
                Seen::Notes {
                    contact,
                    notes: list,
                    read_at,
                } => notes(hub, ws, contact, list, *read_at, slack_ms)?,
            };
            if payloads.is_empty() {
                unchanged += 1;
                continue;
            }
            events += hub.emit_locked(ws, payloads)?.len();
        }
        gw.count(|st: &mut GatewayStats| {
            st.events += events as u64;
            st.unchanged += unchanged;
        });
        Ok(events)
    })
}

/// A bot as SendPulse names it (a bot first seen in a webhook has a
/// stand-in name until then).
fn bot(
    ws: &Workspace,
    app: SpApp,
    bot_id: &str,
    name: &str,
    at: Timestamp,
) -> HubResult<Vec<EventPayload>> {
    let id = BotId::from(local_id(bot_id).as_str());
    let known = ws.store.bots()?.into_iter().find(|b| b.id == id);
    let name = if name.trim().is_empty() {
        format!("{} bot {bot_id}", app_of(app).as_str())
    } else {
        name.to_owned()
    };
    Ok(match known {
        Some(b) if b.name == name => Vec::new(),
        Some(mut b) => {
            b.name = name;
            vec![EventPayload::BotUpserted(b)]
        }
        None => vec![EventPayload::BotUpserted(Bot {
            id,
            app: app_of(app),
            name,
            created_at: at,
        })],
    })
}

/// The bot, subscriber and chat of a contact, created where missing.
fn ensure_chat(ws: &Workspace, c: &SeenContact, out: &mut Vec<EventPayload>) -> HubResult<Chat> {
    let chat_id = ChatId::from(local_id(&c.contact_id).as_str());
    if let Some(s) = ws.store.chat(&chat_id)? {
        return Ok(s.chat);
    }
    let app = app_of(c.app);
    let bot_id = BotId::from(local_id(&c.bot_id).as_str());
    if !ws.store.bots()?.iter().any(|b| b.id == bot_id) {
        out.push(EventPayload::BotUpserted(Bot {
            id: bot_id.clone(),
            app,
            name: format!("{} bot {}", app.as_str(), c.bot_id),
            created_at: c.at,
        }));
    }
    let name = c
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Subscriber".to_owned());
    let subscriber_id = SubscriberId::from(local_id(&c.contact_id).as_str());
    if ws.store.subscriber(&subscriber_id)?.is_none() {
        out.push(EventPayload::SubscriberUpserted(Subscriber {
            id: subscriber_id.clone(),
            bot_id: bot_id.clone(),
            app,
            name: name.clone(),
            username: None,
            avatar_url: None,
            email: None,
            phone: None,
            status: SubscriptionStatus::Active,
            subscribed_at: c.at,
            last_activity_at: None,
            group: None,
            instagram: None,
            ad_source: None,
            variables: Default::default(),
            tags: Vec::new(),
            active_flow: None,
            crm_contact: None,
        }));
    }
    let chat = Chat {
        id: chat_id,
        bot_id,
        app,
        kind: ChatKind::Personal,
        subscriber_id,
        title: name,
        avatar_url: None,
        // SendPulse's flag decides; a chat first seen is closed until it
        // says open (open_chat, or is_chat_opened on reconcile).
        state: ChatState::Closed,
        assignee: None,
        last_activity: c.at,
        unread_count: 0,
        last_inbound_at: None,
        paused_until: None,
    };
    out.push(EventPayload::ChatUpserted(chat.clone()));
    Ok(chat)
}

fn contact(_hub: &Hub, ws: &Workspace, c: &SeenContact) -> HubResult<Vec<EventPayload>> {
    let mut out = Vec::new();
    let chat = ensure_chat(ws, c, &mut out)?;
    if let Some(opened) = c.opened {
        let state = if opened {
            ChatState::Open
        } else {
            ChatState::Closed
        };
        if chat.state != state {
            out.push(EventPayload::ChatStateChanged {
                chat_id: chat.id.clone(),
                state,
            });
        }
    }
    if c.unread == Some(0) && chat.unread_count > 0 {
        out.push(EventPayload::ChatRead {
            chat_id: chat.id.clone(),
        });
    }
    if c.status.is_some() || c.tags.is_some() || c.variables.is_some() {
        // A subscriber created in this batch is in `out`.
        let current = match ws.store.subscriber(&chat.subscriber_id)? {
            Some(s) => Some(s),
            None => out.iter().rev().find_map(|p| match p {
                EventPayload::SubscriberUpserted(s) if s.id == chat.subscriber_id => {
                    Some(s.clone())
                }
                _ => None,
            }),
        };
        if let Some(before) = current {
            let mut s = before.clone();
            if let Some(status) = c.status.map(status_of) {
                s.status = status;
            }
            if let Some(tags) = &c.tags
                && {
                    let (mut a, mut b) = (tags.clone(), s.tags.clone());
                    a.sort();
                    b.sort();
                    a != b
                }
            {
                s.tags = tags.clone();
            }
            if let Some(vars) = &c.variables {
                s.variables = vars.clone();
            }
            if s != before {
                out.push(EventPayload::SubscriberUpserted(s));
            }
        }
    }
    Ok(out)
}

/// E7: the recorded send a SendPulse message is, if any: the one bound to
/// its id, else the oldest unbound send to the contact with the same text,
/// recorded no later than `slack_ms` after the message.
fn claim(hub: &Hub, ws: &Workspace, m: &SeenMessage, slack_ms: i64) -> HubResult<Option<SendRow>> {
    if let Some(s) = store::send_by_remote(hub, &ws.id, &m.remote_id)? {
        return Ok(Some(s));
    }
    // A message known already under its own id (a bot's, say, with the same
    // text just before the send) is not the agent's.
    if m.inbound
        || ws
            .store
            .has_message(&MessageId::from(local_id(&m.remote_id).as_str()))?
    {
        return Ok(None);
    }
    let open = store::open_sends(hub, &ws.id, &m.contact.contact_id)?;
    let Some(s) = open.into_iter().find(|s| {
        rapport_core::sendpulse::is_send_of(&s.text, s.started_at, &m.key, m.at.0, slack_ms)
    }) else {
        return Ok(None);
    };
    if store::bind_send(hub, &ws.id, &s.message_id, &m.remote_id)? {
        tracing::debug!(message = s.message_id, "a recorded send found at SendPulse");
    }
    Ok(Some(s))
}

fn message(
    hub: &Hub,
    ws: &Workspace,
    m: &SeenMessage,
    slack_ms: i64,
) -> HubResult<Vec<EventPayload>> {
    let mut out = Vec::new();
    let chat = ensure_chat(ws, &m.contact, &mut out)?;
    let own = claim(hub, ws, m, slack_ms)?;
    let id = MessageId::from(
        own.as_ref()
            .map_or_else(|| local_id(&m.remote_id), |s| s.message_id.clone())
            .as_str(),
    );
    let ticks = delivery::shows_ticks(chat.app);
    let remote_delivery = if m.inbound || !ticks {
        None
    } else {
        Some(m.status.and_then(delivery_of).unwrap_or(Delivery::Sent))
    };
    if let Some(rapport_core::store::TimelineItem::Message(known)) = ws.store.timeline_item(
        &chat.id,
        &rapport_core::store::TimelineItemId::Message(id.clone()),
    )? {
        // Known: the delivery tick moves (forward only), and the history's
        // precise time replaces a webhook's whole second (so messages of
        // one second keep SendPulse's order).
        let forward = remote_delivery
            .filter(|_| m.status.is_some())
            .filter(|to| known.delivery.is_none_or(|d| rank(d) < rank(*to)));
        if m.precise && known.sent_at != m.at {
            let mut fixed = known;
            fixed.sent_at = m.at;
            if let Some(to) = forward {
                fixed.delivery = Some(to);
            }
            out.push(EventPayload::MessageUpserted(fixed));
        } else if let Some(to) = forward {
            out.push(EventPayload::MessageDelivery {
                chat_id: chat.id.clone(),
                message_id: id,
                delivery: to,
            });
        }
        return Ok(out);
    }
    let sender = match (&own, m.inbound) {
        (_, true) => Sender::Subscriber,
        (Some(s), false) => Sender::Member(MemberId(s.author.clone())),
        (None, false) => Sender::Bot,
    };
    out.push(EventPayload::MessageUpserted(Message::text(
        id,
        chat.id.clone(),
        sender,
        m.text.clone(),
        m.at,
        remote_delivery,
    )));
    Ok(out)
}

/// C1: a contact's notes as SendPulse lists them, against the chat's notes.
/// A listed note is the agent's recorded note bound to its id, else the
/// oldest unbound recorded note of the contact with the same text (a
/// `createNote` whose answer was lost: it is bound now), else one written
/// in SendPulse's UI (`sp-` + its id). New ones are added, changed texts
/// replace Rapport's, and a note SendPulse knew that is no longer listed
/// is deleted. A note changed in Rapport after the list was asked for
/// (`read_at`) is left as it is: the list may predate the change.
fn notes(
    hub: &Hub,
    ws: &Workspace,
    c: &SeenContact,
    list: &[SeenNote],
    read_at: Timestamp,
    slack_ms: i64,
) -> HubResult<Vec<EventPayload>> {
    use rapport_core::store::{TimelineItem, TimelineItemId};
    let mut out = Vec::new();
    let chat = ensure_chat(ws, c, &mut out)?;
    let records = store::notes_of(hub, &ws.id, &c.contact_id)?;
    let mut open: Vec<_> = records.iter().filter(|r| r.remote_id.is_none()).collect();
    let known = |id: &NoteId| -> HubResult<Option<Note>> {
        Ok(
            match ws
                .store
                .timeline_item(&chat.id, &TimelineItemId::Note(id.clone()))?
            {
                Some(TimelineItem::Note(n)) => Some(n),
                _ => None,
            },
        )
    };
    let changed_since = |n: &Note| n.edited_at.unwrap_or(n.created_at) > read_at;
    let mut listed = std::collections::HashSet::new();
    for n in list {
        let bound = records
            .iter()
            .find(|r| r.remote_id.as_deref() == Some(n.remote_id.as_str()));
        let own_id = NoteId::from(local_id(&n.remote_id).as_str());
        let (id, author, created) = if let Some(r) = bound {
            (NoteId(r.note_id.clone()), r.author.clone(), r.started_at)
        } else if let Some(i) = open
            .iter()
            .position(|r| {
                rapport_core::sendpulse::is_send_of(
                    &r.text,
                    r.started_at,
                    &n.text,
                    n.at.0,
                    slack_ms,
                )
            })
            .filter(|_| known(&own_id).ok().flatten().is_none())
        {
            let r = open.remove(i);
            if store::bind_note(hub, &ws.id, &r.note_id, &n.remote_id)? {
                tracing::debug!(note = r.note_id, "a recorded note found at SendPulse");
            }
            (NoteId(r.note_id.clone()), r.author.clone(), r.started_at)
        } else {
            (own_id, SENDPULSE_AUTHOR.to_owned(), n.at.0)
        };
        listed.insert(id.clone());
        match known(&id)? {
            Some(mut k) => {
                if k.text != n.text && !changed_since(&k) {
                    k.text = n.text.clone();
                    k.edited_at = Some(hub.now());
                    out.push(EventPayload::NoteUpserted(k));
                }
            }
            None => out.push(EventPayload::NoteUpserted(Note {
                id,
                chat_id: chat.id.clone(),
                author: MemberId(author),
                text: n.text.clone(),
                created_at: Timestamp(created),
                edited_at: None,
            })),
        }
    }
    // Notes SendPulse knew (written there, or bound to its id) and no
    // longer lists: deleted there.
    let page = ws.store.timeline_page(&chat.id, None, u32::MAX)?;
    for item in page.items {
        let TimelineItem::Note(n) = item else {
            continue;
        };
        if listed.contains(&n.id) || changed_since(&n) {
            continue;
        }
        let record = records.iter().find(|r| r.note_id == n.id.as_str());
        let sendpulses = match record {
            Some(r) => r.remote_id.is_some(),
            None => {
                n.author.as_str() == SENDPULSE_AUTHOR
                    && (n.id.as_str().starts_with("sp-") || n.id.as_str().starts_with("sph-"))
            }
        };
        if !sendpulses {
            continue;
        }
        if record.is_some() {
            store::forget_note(hub, &ws.id, n.id.as_str())?;
        }
        out.push(EventPayload::NoteDeleted {
            chat_id: chat.id.clone(),
            note_id: n.id,
        });
    }
    Ok(out)
}
