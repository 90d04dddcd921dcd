//! Agent actions as data: what the outbox will keep, and what each backend
//! turns into its own API calls (the Rapport backend: the command routes of
//! docs/openapi.json).

use super::wire::SubscriberEdit;
use crate::model::{ChatId, DealId, MemberId, MessageId, Named, NoteId, SubscriberId};
use crate::policy::window::MessageTag;
use serde::{Deserialize, Serialize};

/// F7 / E3: what to do with the bot pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseAction {
    Start,
    Extend,
    Continue,
}

/// E2: a file as the server knows it: uploaded in parts to `id` (chosen
/// by the client from the command's key, so a restarted upload finds the
/// parts already sent), checked against `sha256` when complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRef {
    pub id: String,
    pub name: String,
    pub size_bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// One agent action (SPEC ids on each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// E1. `message_id`: the id the client chose for its local echo; the
    /// server gives the message that id, so the echo becomes the message.
    SendText {
        chat_id: ChatId,
        text: String,
        #[serde(default)]
        message_id: Option<MessageId>,
    },
    /// E5: a WhatsApp template.
    SendTemplate {
        chat_id: ChatId,
        name: String,
        #[serde(default)]
        message_id: Option<MessageId>,
    },
    /// E5: Messenger text with a message tag.
    SendTagged {
        chat_id: ChatId,
        tag: MessageTag,
        text: String,
        #[serde(default)]
        message_id: Option<MessageId>,
    },
    /// E2: a file, uploaded first (see [`UploadRef`]); the message takes
    /// `message_id` like a text's.
    SendAttachment {
        chat_id: ChatId,
        upload: UploadRef,
        #[serde(default)]
        caption: Option<String>,
        #[serde(default)]
        message_id: Option<MessageId>,
    },
    /// B10.
    MarkRead {
        chat_id: ChatId,
    },
    /// A8.
    Open {
        chat_id: ChatId,
    },
    Close {
        chat_id: ChatId,
    },
    /// D1.
    Assign {
        chat_id: ChatId,
        member_id: Option<MemberId>,
    },
    /// E3/F7.
    Pause {
        chat_id: ChatId,
        action: PauseAction,
    },
    /// B8.
    EditMessage {
        chat_id: ChatId,
        message_id: MessageId,
        text: String,
    },
    DeleteMessage {
        chat_id: ChatId,
        message_id: MessageId,
    },
    /// B7; `None` removes the agent's reaction.
    React {
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Option<String>,
    },
    /// C1.
    AddNote {
        chat_id: ChatId,
        text: String,
    },
    EditNote {
        chat_id: ChatId,
        note_id: NoteId,
        text: String,
    },
    DeleteNote {
        chat_id: ChatId,
        note_id: NoteId,
    },
    /// F5, F6, F8, G2: see [`SubscriberEdit`].
    EditSubscriber {
        subscriber_id: SubscriberId,
        edit: SubscriberEdit,
    },
    /// G1.
    AddDeal {
        subscriber_id: SubscriberId,
        pipeline: Named,
        stage: Named,
        name: String,
        amount_minor: i64,
        currency: String,
    },
    /// G3.
    EditDeal {
        deal_id: DealId,
        stage: Option<Named>,
        name: Option<String>,
        amount_minor: Option<i64>,
    },
}

/// How the Rapport API carries an action: method, path, body.
pub(super) fn rapport_route(a: &Action) -> (reqwest::Method, String, serde_json::Value) {
    use reqwest::Method;
    use serde_json::json;
    let chat = |c: &ChatId| format!("/v1/chats/{c}");
    match a {
        Action::SendText {
            chat_id,
            text,
            message_id,
        } => (
            Method::POST,
            format!("{}/messages", chat(chat_id)),
            json!({ "text": text, "message_id": message_id }),
        ),
        Action::SendTemplate {
            chat_id,
            name,
            message_id,
        } => (
            Method::POST,
            format!("{}/messages", chat(chat_id)),
            json!({ "template": name, "message_id": message_id }),
        ),
        Action::SendTagged {
            chat_id,
            tag,
            text,
            message_id,
        } => (
            Method::POST,
            format!("{}/messages", chat(chat_id)),
            json!({ "tag": tag, "text": text, "message_id": message_id }),
        ),
        Action::SendAttachment {
            chat_id,
            upload,
            caption,
            message_id,
        } => (
            Method::POST,
            format!("{}/attachments", chat(chat_id)),
            json!({ "upload_id": upload.id, "caption": caption, "message_id": message_id }),
        ),
        Action::MarkRead { chat_id } => {
            (Method::POST, format!("{}/read", chat(chat_id)), json!({}))
        }
        Action::Open { chat_id } => (Method::POST, format!("{}/open", chat(chat_id)), json!({})),
        Action::Close { chat_id } => (Method::POST, format!("{}/close", chat(chat_id)), json!({})),
        Action::Assign { chat_id, member_id } => (
            Method::POST,
            format!("{}/assign", chat(chat_id)),
            json!({ "member_id": member_id }),
        ),
        Action::Pause { chat_id, action } => (
            Method::POST,
            format!("{}/pause", chat(chat_id)),
            json!({ "action": action }),
        ),
        Action::EditMessage {
            chat_id,
            message_id,
            text,
        } => (
            Method::PATCH,
            format!("{}/messages/{message_id}", chat(chat_id)),
            json!({ "text": text }),
        ),
        Action::DeleteMessage {
            chat_id,
            message_id,
        } => (
            Method::DELETE,
            format!("{}/messages/{message_id}", chat(chat_id)),
            json!({}),
        ),
        Action::React {
            chat_id,
            message_id,
            emoji,
        } => (
            Method::POST,
            format!("{}/messages/{message_id}/reactions", chat(chat_id)),
            json!({ "emoji": emoji }),
        ),
        Action::AddNote { chat_id, text } => (
            Method::POST,
            format!("{}/notes", chat(chat_id)),
            json!({ "text": text }),
        ),
        Action::EditNote {
            chat_id,
            note_id,
            text,
        } => (
            Method::PATCH,
            format!("{}/notes/{note_id}", chat(chat_id)),
            json!({ "text": text }),
        ),
        Action::DeleteNote { chat_id, note_id } => (
            Method::DELETE,
            format!("{}/notes/{note_id}", chat(chat_id)),
            json!({}),
        ),
        Action::EditSubscriber {
            subscriber_id,
            edit,
        } => (
            Method::PATCH,
            format!("/v1/subscribers/{subscriber_id}"),
            serde_json::to_value(edit).unwrap_or_default(),
        ),
        Action::AddDeal {
            subscriber_id,
            pipeline,
            stage,
            name,
            amount_minor,
            currency,
        } => (
            Method::POST,
            "/v1/deals".into(),
            json!({ "subscriber_id": subscriber_id, "pipeline": pipeline, "stage": stage, "name": name, "amount_minor": amount_minor, "currency": currency }),
        ),
        Action::EditDeal {
            deal_id,
            stage,
            name,
            amount_minor,
        } => (
            Method::PATCH,
            format!("/v1/deals/{deal_id}"),
            json!({ "stage": stage, "name": name, "amount_minor": amount_minor }),
        ),
    }
}

impl Action {
    /// The chat an action is about (the outbox keeps each chat's order).
    pub fn chat_id(&self) -> Option<&ChatId> {
        match self {
            Action::SendText { chat_id, .. }
            | Action::SendTemplate { chat_id, .. }
            | Action::SendTagged { chat_id, .. }
            | Action::SendAttachment { chat_id, .. }
            | Action::MarkRead { chat_id }
            | Action::Open { chat_id }
            | Action::Close { chat_id }
            | Action::Assign { chat_id, .. }
            | Action::Pause { chat_id, .. }
            | Action::EditMessage { chat_id, .. }
            | Action::DeleteMessage { chat_id, .. }
            | Action::React { chat_id, .. }
            | Action::AddNote { chat_id, .. }
            | Action::EditNote { chat_id, .. }
            | Action::DeleteNote { chat_id, .. } => Some(chat_id),
            Action::EditSubscriber { .. } | Action::AddDeal { .. } | Action::EditDeal { .. } => {
                None
            }
        }
    }
}
