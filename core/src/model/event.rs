//! Server events: every change in a workspace, numbered by one monotonically
//! increasing `seq` (ARCHITECTURE "The sync API").
//!
//! Wire form: `{"seq": 12, "at": 1732000000000, "type": "message_upserted",
//! "data": {...}}`. A type this version does not know decodes to
//! [`EventPayload::Unknown`] and is kept by the store for a later version,
//! never dropped. A known type whose data does not decode is a
//! [`DecodeError`] naming the seq and type.

use super::{
    Bot, Chat, ChatId, ChatState, Deal, DealId, Delivery, Member, MemberId, Message, MessageId,
    Note, NoteId, Reaction, Subscriber, Timestamp,
};
use serde::{Deserialize, Serialize};

/// A position in a workspace's change feed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Seq(pub u64);

/// Where a client stands in the change feed: the seq of the last event it
/// applied and that event's `at`. The server checks the pair against its
/// log (issue 16 hole 7): after a crash that lost the log's tail, new
/// events reuse seqs a client may already hold, and only the time tells
/// the client's event from the new one that took its number. `at` is
/// `None` when unknown (a store from before this field, or a last event
/// this version could not decode): then only the seq is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub seq: Seq,
    pub at: Option<Timestamp>,
}

impl From<Seq> for Cursor {
    fn from(seq: Seq) -> Self {
        Cursor { seq, at: None }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: Seq,
    /// Server time of the change.
    pub at: Timestamp,
    pub payload: EventPayload,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventPayload {
    BotUpserted(Bot),
    MemberUpserted(Member),
    /// F1–F8: the subscriber card, whole.
    SubscriberUpserted(Subscriber),
    /// A chat appeared or its server-side fields changed.
    ChatUpserted(Chat),
    /// A new message, or a whole replacement of a known one.
    MessageUpserted(Message),
    /// B5.
    MessageDelivery {
        chat_id: ChatId,
        message_id: MessageId,
        delivery: Delivery,
    },
    /// B8: a bot message's text was edited.
    MessageEdited {
        chat_id: ChatId,
        message_id: MessageId,
        text: String,
    },
    /// B8: a message was deleted; the history keeps a tombstone.
    MessageDeleted {
        chat_id: ChatId,
        message_id: MessageId,
    },
    /// B7: the message's reactions, whole.
    ReactionsChanged {
        chat_id: ChatId,
        message_id: MessageId,
        reactions: Vec<Reaction>,
    },
    /// A8: opened or closed.
    ChatStateChanged {
        chat_id: ChatId,
        state: ChatState,
    },
    /// D1.
    ChatAssigned {
        chat_id: ChatId,
        assignee: Option<MemberId>,
    },
    /// B10: the chat was read (on any of the agent's devices).
    ChatRead {
        chat_id: ChatId,
    },
    /// E3/F7: the bot pause for this chat's subscriber now ends at `until`
    /// (`None`: no pause).
    PauseChanged {
        chat_id: ChatId,
        until: Option<Timestamp>,
    },
    /// C1.
    NoteUpserted(Note),
    NoteDeleted {
        chat_id: ChatId,
        note_id: NoteId,
    },
    /// G1–G3.
    DealUpserted(Deal),
    DealDeleted {
        deal_id: DealId,
    },
    /// A type this version does not know: kept verbatim for a later version.
    #[serde(skip)]
    Unknown {
        type_name: String,
        data: serde_json::Value,
    },
}

impl EventPayload {
    /// The wire name of every type this version knows.
    pub const KNOWN_TYPES: [&'static str; 17] = [
        "bot_upserted",
        "member_upserted",
        "subscriber_upserted",
        "chat_upserted",
        "message_upserted",
        "message_delivery",
        "message_edited",
        "message_deleted",
        "reactions_changed",
        "chat_state_changed",
        "chat_assigned",
        "chat_read",
        "pause_changed",
        "note_upserted",
        "note_deleted",
        "deal_upserted",
        "deal_deleted",
    ];

    /// The chat an event is about, if any.
    pub fn chat_id(&self) -> Option<&ChatId> {
        match self {
            EventPayload::ChatUpserted(c) => Some(&c.id),
            EventPayload::MessageUpserted(m) => Some(&m.chat_id),
            EventPayload::NoteUpserted(n) => Some(&n.chat_id),
            EventPayload::MessageDelivery { chat_id, .. }
            | EventPayload::MessageEdited { chat_id, .. }
            | EventPayload::MessageDeleted { chat_id, .. }
            | EventPayload::ReactionsChanged { chat_id, .. }
            | EventPayload::ChatStateChanged { chat_id, .. }
            | EventPayload::ChatAssigned { chat_id, .. }
            | EventPayload::ChatRead { chat_id }
            | EventPayload::PauseChanged { chat_id, .. }
            | EventPayload::NoteDeleted { chat_id, .. } => Some(chat_id),
            _ => None,
        }
    }

    /// The wire name of this payload's type.
    pub fn type_name(&self) -> &str {
        match self {
            EventPayload::BotUpserted(_) => "bot_upserted",
            EventPayload::MemberUpserted(_) => "member_upserted",
            EventPayload::SubscriberUpserted(_) => "subscriber_upserted",
            EventPayload::ChatUpserted(_) => "chat_upserted",
            EventPayload::MessageUpserted(_) => "message_upserted",
            EventPayload::MessageDelivery { .. } => "message_delivery",
            EventPayload::MessageEdited { .. } => "message_edited",
            EventPayload::MessageDeleted { .. } => "message_deleted",
            EventPayload::ReactionsChanged { .. } => "reactions_changed",
            EventPayload::ChatStateChanged { .. } => "chat_state_changed",
            EventPayload::ChatAssigned { .. } => "chat_assigned",
            EventPayload::ChatRead { .. } => "chat_read",
            EventPayload::PauseChanged { .. } => "pause_changed",
            EventPayload::NoteUpserted(_) => "note_upserted",
            EventPayload::NoteDeleted { .. } => "note_deleted",
            EventPayload::DealUpserted(_) => "deal_upserted",
            EventPayload::DealDeleted { .. } => "deal_deleted",
            EventPayload::Unknown { type_name, .. } => type_name,
        }
    }
}

/// An event that could not be decoded. Carries no message text.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("event is not a JSON object with seq, at and type: {0}")]
    Envelope(String),
    #[error("event {seq} of type {type_name} has malformed data: {reason}")]
    Data {
        seq: u64,
        type_name: String,
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    seq: Seq,
    at: Timestamp,
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    data: serde_json::Value,
}

impl Event {
    /// Decodes one event from its wire form. The data is parsed once,
    /// straight into its type.
    pub fn from_json(json: &str) -> Result<Event, DecodeError> {
        #[derive(Deserialize)]
        struct RawEnvelope<'a> {
            seq: Seq,
            at: Timestamp,
            #[serde(rename = "type")]
            type_name: String,
            #[serde(borrow, default)]
            data: Option<&'a serde_json::value::RawValue>,
        }
        let env: RawEnvelope<'_> =
            serde_json::from_str(json).map_err(|e| DecodeError::Envelope(e.to_string()))?;
        let data = env.data.map_or("null", |d| d.get());
        let payload = if EventPayload::KNOWN_TYPES.contains(&env.type_name.as_str()) {
            let tagged = format!(r#"{{"type":"{}","data":{data}}}"#, env.type_name);
            serde_json::from_str(&tagged).map_err(|e| DecodeError::Data {
                seq: env.seq.0,
                type_name: env.type_name.clone(),
                reason: e.to_string(),
            })?
        } else {
            EventPayload::Unknown {
                data: serde_json::from_str(data).unwrap_or_default(),
                type_name: env.type_name,
            }
        };
        Ok(Event {
            seq: env.seq,
            at: env.at,
            payload,
        })
    }

    pub fn from_value(value: serde_json::Value) -> Result<Event, DecodeError> {
        Event::from_json(&value.to_string())
    }

    pub fn to_value(&self) -> serde_json::Value {
        let (type_name, data) = match &self.payload {
            EventPayload::Unknown { type_name, data } => (type_name.clone(), data.clone()),
            known => {
                // A known payload serialises as {"type":..,"data":..}.
                let mut v = serde_json::to_value(known).unwrap_or_default();
                let data = v.get_mut("data").map(serde_json::Value::take);
                (known.type_name().to_owned(), data.unwrap_or_default())
            }
        };
        serde_json::to_value(Envelope {
            seq: self.seq,
            at: self.at,
            type_name,
            data,
        })
        .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_event_round_trips() {
        let ev = Event {
            seq: Seq(7),
            at: Timestamp(1_000),
            payload: EventPayload::ChatRead {
                chat_id: ChatId::from("c1"),
            },
        };
        let json = ev.to_json();
        assert!(json.contains("\"type\":\"chat_read\""), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), ev);
    }

    #[test]
    fn every_known_type_name_matches_serde() {
        for name in EventPayload::KNOWN_TYPES {
            // A payload with no data decodes only for unit-like shapes; what
            // matters is that serde recognises the name (an unknown variant
            // error would mention "unknown variant").
            let v = serde_json::json!({"type": name, "data": {}});
            if let Err(e) = serde_json::from_value::<EventPayload>(v) {
                assert!(!e.to_string().contains("unknown variant"), "{name}: {e}");
            }
        }
    }

    #[test]
    fn unknown_type_is_kept_not_dropped() {
        let ev =
            Event::from_json(r#"{"seq":3,"at":5,"type":"poll_created","data":{"q":"?"}}"#).unwrap();
        match &ev.payload {
            EventPayload::Unknown { type_name, data } => {
                assert_eq!(type_name, "poll_created");
                assert_eq!(data["q"], "?");
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
        // And it goes back on the wire unchanged.
        assert_eq!(Event::from_json(&ev.to_json()).unwrap(), ev);
    }

    #[test]
    fn malformed_events_are_typed_errors() {
        assert!(matches!(
            Event::from_json("not json"),
            Err(DecodeError::Envelope(_))
        ));
        assert!(matches!(
            Event::from_json(r#"{"at":1,"type":"chat_read"}"#),
            Err(DecodeError::Envelope(_))
        ));
        let err = Event::from_json(r#"{"seq":9,"at":1,"type":"chat_read","data":{"chat":1}}"#)
            .unwrap_err();
        assert!(matches!(err, DecodeError::Data { seq: 9, .. }), "{err:?}");
    }
}
