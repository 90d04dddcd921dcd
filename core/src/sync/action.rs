//! Agent actions as data: what the outbox will keep, and what each backend
//! turns into its own API calls (the Rapport backend:
//! [`command_request`], the bodies of [`crate::wire`]).

use crate::model::{ChatId, DealId, MemberId, MessageId, Named, NoteId, SubscriberId};
use crate::policy::window::MessageTag;
use crate::wire::{
    AssignChat, DealFields, Method, NoBody, PauseBot, React, SendAttachment, SendMessage, TextBody,
};
pub use crate::wire::{PauseAction, SubscriberEdit, UploadRef};
use serde::{Deserialize, Serialize};

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

impl Action {
    /// Issue 16 hole 4: its free-form fields within their bounds
    /// ([`crate::policy::fields`]), the checks the server runs on the same
    /// bodies. Messages' texts have their own rules (E1).
    pub fn check_fields(&self) -> Result<(), crate::policy::Refusal> {
        use crate::policy::fields::{Field, check};
        match self {
            Action::SendTemplate { name, .. } => check(Field::Template, name),
            Action::SendAttachment { upload, .. } => upload.check_fields(),
            Action::React { emoji: Some(e), .. } => check(Field::Emoji, e),
            Action::EditSubscriber { edit, .. } => edit.check_fields(),
            Action::AddDeal {
                pipeline,
                stage,
                name,
                currency,
                ..
            } => DealFields {
                pipeline: Some(pipeline.clone()),
                stage: Some(stage.clone()),
                name: Some(name.clone()),
                currency: Some(currency.clone()),
                ..DealFields::default()
            }
            .check_fields(),
            Action::EditDeal { stage, name, .. } => DealFields {
                stage: stage.clone(),
                name: name.clone(),
                ..DealFields::default()
            }
            .check_fields(),
            _ => Ok(()),
        }
    }
}

/// How an action travels on the Rapport API.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct CommandRequest {
    pub(super) method: Method,
    pub(super) path: String,
    /// The JSON body (`{}` when the route takes none).
    pub(super) body: serde_json::Value,
}

fn json(body: impl Serialize) -> serde_json::Value {
    // Plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_value(body).unwrap_or_else(|_| serde_json::json!({}))
}

/// The method, path and typed body that carry `action` (the routes of
/// docs/openapi.json).
pub(super) fn command_request(action: &Action) -> CommandRequest {
    use Method::*;
    let chat = |c: &ChatId| format!("/v1/chats/{c}");
    let (method, path, body) = match action {
        Action::SendText {
            chat_id,
            text,
            message_id,
        } => (
            Post,
            format!("{}/messages", chat(chat_id)),
            json(SendMessage {
                text: Some(text.clone()),
                message_id: message_id.clone(),
                ..SendMessage::default()
            }),
        ),
        Action::SendTemplate {
            chat_id,
            name,
            message_id,
        } => (
            Post,
            format!("{}/messages", chat(chat_id)),
            json(SendMessage {
                template: Some(name.clone()),
                message_id: message_id.clone(),
                ..SendMessage::default()
            }),
        ),
        Action::SendTagged {
            chat_id,
            tag,
            text,
            message_id,
        } => (
            Post,
            format!("{}/messages", chat(chat_id)),
            json(SendMessage {
                text: Some(text.clone()),
                tag: Some(*tag),
                template: None,
                message_id: message_id.clone(),
            }),
        ),
        Action::SendAttachment {
            chat_id,
            upload,
            caption,
            message_id,
        } => (
            Post,
            format!("{}/attachments", chat(chat_id)),
            json(SendAttachment {
                upload_id: upload.id.clone(),
                caption: caption.clone(),
                message_id: message_id.clone(),
            }),
        ),
        Action::MarkRead { chat_id } => (Post, format!("{}/read", chat(chat_id)), json(NoBody {})),
        Action::Open { chat_id } => (Post, format!("{}/open", chat(chat_id)), json(NoBody {})),
        Action::Close { chat_id } => (Post, format!("{}/close", chat(chat_id)), json(NoBody {})),
        Action::Assign { chat_id, member_id } => (
            Post,
            format!("{}/assign", chat(chat_id)),
            json(AssignChat {
                member_id: member_id.clone(),
            }),
        ),
        Action::Pause { chat_id, action } => (
            Post,
            format!("{}/pause", chat(chat_id)),
            json(PauseBot { action: *action }),
        ),
        Action::EditMessage {
            chat_id,
            message_id,
            text,
        } => (
            Patch,
            format!("{}/messages/{message_id}", chat(chat_id)),
            json(TextBody { text: text.clone() }),
        ),
        Action::DeleteMessage {
            chat_id,
            message_id,
        } => (
            Delete,
            format!("{}/messages/{message_id}", chat(chat_id)),
            json(NoBody {}),
        ),
        Action::React {
            chat_id,
            message_id,
            emoji,
        } => (
            Post,
            format!("{}/messages/{message_id}/reactions", chat(chat_id)),
            json(React {
                emoji: emoji.clone(),
            }),
        ),
        Action::AddNote { chat_id, text } => (
            Post,
            format!("{}/notes", chat(chat_id)),
            json(TextBody { text: text.clone() }),
        ),
        Action::EditNote {
            chat_id,
            note_id,
            text,
        } => (
            Patch,
            format!("{}/notes/{note_id}", chat(chat_id)),
            json(TextBody { text: text.clone() }),
        ),
        Action::DeleteNote { chat_id, note_id } => (
            Delete,
            format!("{}/notes/{note_id}", chat(chat_id)),
            json(NoBody {}),
        ),
        Action::EditSubscriber {
            subscriber_id,
            edit,
        } => (
            Patch,
            format!("/v1/subscribers/{subscriber_id}"),
            json(edit),
        ),
        Action::AddDeal {
            subscriber_id,
            pipeline,
            stage,
            name,
            amount_minor,
            currency,
        } => (
            Post,
            "/v1/deals".into(),
            json(DealFields {
                subscriber_id: Some(subscriber_id.clone()),
                pipeline: Some(pipeline.clone()),
                stage: Some(stage.clone()),
                name: Some(name.clone()),
                amount_minor: Some(*amount_minor),
                currency: Some(currency.clone()),
            }),
        ),
        Action::EditDeal {
            deal_id,
            stage,
            name,
            amount_minor,
        } => (
            Patch,
            format!("/v1/deals/{deal_id}"),
            json(DealFields {
                stage: stage.clone(),
                name: name.clone(),
                amount_minor: *amount_minor,
                ..DealFields::default()
            }),
        ),
    };
    CommandRequest { method, path, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::window::MessageTag;

    /// Issue 16 hole 4: the app refuses what the server would, before
    /// queueing: each bounded field of each action.
    #[test]
    fn b7_e2_e5_f5_f8_g1_actions_check_their_bounded_fields() {
        let code = |a: Action| a.check_fields().err().map(|r| r.code());
        let chat_id = ChatId::from("c1");
        let long = |n: usize| "a".repeat(n);
        let react = |e: &str| Action::React {
            chat_id: chat_id.clone(),
            message_id: MessageId::from("m1"),
            emoji: Some(e.into()),
        };
        assert_eq!(code(react("👍")), None);
        assert_eq!(code(react(&long(33))), Some("field_too_long"));
        let template = |n| Action::SendTemplate {
            chat_id: chat_id.clone(),
            name: long(n),
            message_id: None,
        };
        assert_eq!(code(template(256)), None);
        assert_eq!(code(template(257)), Some("field_too_long"));
        let edit = |edit: SubscriberEdit| Action::EditSubscriber {
            subscriber_id: SubscriberId("s1".into()),
            edit,
        };
        assert_eq!(
            code(edit(SubscriberEdit {
                remove_tags: vec![long(257)],
                ..SubscriberEdit::default()
            })),
            Some("field_too_long")
        );
        assert_eq!(
            code(edit(SubscriberEdit {
                variables: [("k".to_owned(), long(4_097))].into(),
                ..SubscriberEdit::default()
            })),
            Some("field_too_long")
        );
        let named = Named {
            id: "p".into(),
            name: "P".into(),
        };
        let deal = |currency: String| Action::AddDeal {
            subscriber_id: SubscriberId("s1".into()),
            pipeline: named.clone(),
            stage: named.clone(),
            name: "Deal".into(),
            amount_minor: 1,
            currency,
        };
        assert_eq!(code(deal("EUR".into())), None);
        assert_eq!(code(deal(long(1_025))), Some("field_too_long"));
        let file = |n| Action::SendAttachment {
            chat_id: chat_id.clone(),
            upload: UploadRef {
                id: "u".into(),
                name: long(n),
                size_bytes: 1,
                sha256: String::new(),
            },
            caption: None,
            message_id: None,
        };
        assert_eq!(code(file(255)), None);
        assert_eq!(code(file(256)), Some("field_too_long"));
    }

    #[test]
    fn bodies_keep_the_shape_the_server_reads() {
        let r = command_request(&Action::SendTagged {
            chat_id: ChatId::from("c1"),
            tag: MessageTag::AccountUpdate,
            text: "hi".into(),
            message_id: Some(MessageId::from("m-1")),
        });
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.path, "/v1/chats/c1/messages");
        let back: SendMessage = serde_json::from_value(r.body).unwrap();
        assert_eq!(back.tag, Some(MessageTag::AccountUpdate));
        assert_eq!(back.text.as_deref(), Some("hi"));
        let r = command_request(&Action::MarkRead {
            chat_id: ChatId::from("c1"),
        });
        assert_eq!(r.body, serde_json::json!({}));
    }
}
