//! The command routes: every agent action's request body and answer. The
//! server reads the same types the client writes.

use super::PauseAction;
use crate::model::{
    Deal, MemberId, Message, MessageId, Named, Note, Seq, Subscriber, SubscriberId, Timestamp,
};
use crate::policy::{Cost, window::MessageTag};
use serde::{Deserialize, Serialize};

/// An HTTP method of the API (no I/O types here: each side maps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Client-chosen message ids (E7: the echo's id becomes the message's):
/// 1-64 of `A-Z a-z 0-9 - _`, so they are safe in a URL path.
pub fn valid_message_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A command with no body (`{}`): read, open, close, delete.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoBody {}

/// `POST /v1/chats/{id}/messages` (E1, E5): free text, text with a
/// Messenger tag, or a WhatsApp template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessage {
    #[serde(default)]
    pub text: Option<String>,
    /// E5: a Messenger tag for text outside the window.
    #[serde(default)]
    pub tag: Option<MessageTag>,
    /// E5: a WhatsApp template name.
    #[serde(default)]
    pub template: Option<String>,
    /// E7: the id the client gave its local echo; the message takes it.
    #[serde(default)]
    pub message_id: Option<MessageId>,
}

/// `POST /v1/chats/{id}/attachments` (E2): a completed upload as a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendAttachment {
    pub upload_id: String,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub message_id: Option<MessageId>,
}

/// `POST /v1/chats/{id}/assign` (D1); `None` unassigns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignChat {
    pub member_id: Option<MemberId>,
}

/// `POST /v1/chats/{id}/pause` (E3/F7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PauseBot {
    pub action: PauseAction,
}

/// `PATCH .../messages/{message_id}` (B8), `POST .../notes` and
/// `PATCH .../notes/{note_id}` (C1): the new text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextBody {
    pub text: String,
}

/// `POST .../messages/{message_id}/reactions` (B7): the agent's reaction;
/// `None` (or `""`) removes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct React {
    pub emoji: Option<String>,
}

/// `POST /v1/deals` (G1: `subscriber_id`, `pipeline`, `stage` and `name`
/// required) and `PATCH /v1/deals/{id}` (G3: what changes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealFields {
    #[serde(default)]
    pub subscriber_id: Option<SubscriberId>,
    #[serde(default)]
    pub pipeline: Option<Named>,
    #[serde(default)]
    pub stage: Option<Named>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub amount_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

// ---- answers ---------------------------------------------------------------

/// The answer of a command: the seq of its last event (the client's feed
/// holds the command's effect once it reaches this seq).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Committed {
    pub seq: Seq,
}

/// The answer of a message sent (E1, E2, E5): the message, the bot's pause
/// it started (E3) and what it cost (E6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageSent {
    pub seq: Seq,
    pub message: Message,
    pub paused_until: Timestamp,
    pub cost: Cost,
}

/// The answer of `POST .../pause`: the pause now (`None`: the bot runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PauseSet {
    pub seq: Seq,
    pub paused_until: Option<Timestamp>,
}

/// The answer of a note added or edited (C1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoteSaved {
    pub seq: Seq,
    pub note: Note,
}

/// The answer of `PATCH /v1/subscribers/{id}` (F5, F6, F8, G2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriberSaved {
    pub seq: Seq,
    pub subscriber: Subscriber,
}

/// The answer of a deal added or edited (G1, G3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealSaved {
    pub seq: Seq,
    pub deal: Deal,
}

/// F6: a flow a subscriber can be started on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flow {
    pub id: String,
    pub name: String,
}

/// `GET /v1/flows?q=`: the flows whose name contains `q`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowList {
    pub flows: Vec<Flow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_url_safe() {
        assert!(valid_message_id("m-abc_1"));
        assert!(!valid_message_id(""));
        assert!(!valid_message_id("a/b"));
        assert!(!valid_message_id(&"a".repeat(65)));
    }
}
