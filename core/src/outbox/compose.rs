//! "Check, then queue with the echo": the one path every agent action
//! takes into the outbox, for the app's [`crate::Client`] and for the
//! notification process's reply alike. The rules are
//! [`policy::act::check`] with the facts this store holds, on server time;
//! a refusal queues nothing.

use super::{echo, valid_key};
use crate::model::{
    Attachment, ChatId, Content, MediaKind, MemberId, Message, MessageId, Timestamp,
};
use crate::policy::access::Assignee;
use crate::policy::act::{self, Act, Target};
use crate::policy::{self, Outgoing, Refusal, SendContext, window::MessageTag};
use crate::store::{Store, StoreError, TimelineItem, TimelineItemId};
use crate::sync::{Action, Capabilities, UploadRef};

/// A message to the subscriber, as the agent composed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draft<'a> {
    /// E1.
    Text(&'a str),
    /// E5: a WhatsApp template (outside the window).
    Template { name: &'a str },
    /// E5: Messenger text with a message tag.
    Tagged { tag: MessageTag, text: &'a str },
    /// E2: a file; its bytes decide what it is.
    File {
        name: &'a str,
        bytes: &'a [u8],
        caption: Option<&'a str>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no such chat")]
    UnknownChat,
    #[error("no such message")]
    UnknownMessage,
    /// An idempotency key must be 1-62 of A-Z a-z 0-9 - _.
    #[error("invalid idempotency key")]
    InvalidKey,
    #[error("refused: {0}")]
    Refused(Refusal),
}

impl From<Refusal> for ComposeError {
    fn from(r: Refusal) -> Self {
        ComposeError::Refused(r)
    }
}

pub type ComposeResult<T> = Result<T, ComposeError>;

/// Checks and queues the actions of one member on one store, at one
/// moment of server time.
pub struct Composer<'a> {
    pub store: &'a Store,
    pub me: MemberId,
    /// Server time now.
    pub now: Timestamp,
    /// What the backend offers: an action it lacks is refused here
    /// ([`Refusal::NotOffered`]), not queued for the platform to refuse.
    pub capabilities: Capabilities,
}

impl Composer<'_> {
    fn context(&self, chat: &ChatId) -> ComposeResult<Option<SendContext>> {
        Ok(self.store.send_context(chat, self.now)?)
    }

    /// Sends a message: checked (a refusal queues nothing), then stored
    /// with its pending echo, and its file, in one transaction before any
    /// network call. A chat the store has not synced yet (a push's chat
    /// in the notification process) is queued without checks or echo when
    /// `unknown_chat_ok`: the server decides alone. Returns the message's
    /// id: its echo's, and the server's message's.
    pub fn send(
        &self,
        chat: &ChatId,
        draft: Draft<'_>,
        key: &str,
        unknown_chat_ok: bool,
    ) -> ComposeResult<MessageId> {
        if !valid_key(key) {
            return Err(ComposeError::InvalidKey);
        }
        let ctx = self.context(chat)?;
        if ctx.is_none() && !unknown_chat_ok {
            return Err(ComposeError::UnknownChat);
        }
        let message_id = MessageId(format!("m-{key}"));
        let (act, content, action, file) = self.build(chat, draft, key, &message_id)?;
        self.offered(&action)?;
        action.check_fields()?;
        if let Some(ctx) = &ctx {
            act::check(&act, ctx)?;
        }
        let echo = ctx.map(|_| echo(message_id.clone(), chat, self.me.clone(), content, self.now));
        self.store
            .enqueue_with_file(&action, key, echo.as_ref(), file, self.now)?;
        Ok(message_id)
    }

    /// The rules' view of a draft, its echo's content, its command and
    /// its file.
    fn build<'d>(
        &self,
        chat: &ChatId,
        draft: Draft<'d>,
        key: &str,
        id: &MessageId,
    ) -> ComposeResult<(Act<'d>, Content, Action, Option<&'d [u8]>)> {
        let chat_id = chat.clone();
        let message_id = Some(id.clone());
        Ok(match draft {
            Draft::Text(text) => (
                Act::Send(Outgoing::Text(text)),
                Content::Text { text: text.into() },
                Action::SendText {
                    chat_id,
                    text: text.into(),
                    message_id,
                },
                None,
            ),
            Draft::Template { name } => (
                Act::Send(Outgoing::Template { name }),
                Content::Template {
                    name: name.into(),
                    text: String::new(),
                },
                Action::SendTemplate {
                    chat_id,
                    name: name.into(),
                    message_id,
                },
                None,
            ),
            Draft::Tagged { tag, text } => (
                Act::Send(Outgoing::Tagged { tag, text }),
                Content::Text { text: text.into() },
                Action::SendTagged {
                    chat_id,
                    tag,
                    text: text.into(),
                    message_id,
                },
                None,
            ),
            Draft::File {
                name,
                bytes,
                caption,
            } => {
                use sha2::Digest;
                let sniffed = policy::attachment::sniff(name, bytes)?;
                let caption = act::caption(caption);
                let size_bytes = bytes.len() as u64;
                let upload = UploadRef {
                    id: format!("up-{key}"),
                    name: name.into(),
                    size_bytes,
                    sha256: hex::encode(sha2::Sha256::digest(bytes)),
                };
                (
                    Act::Attach {
                        media: sniffed.media,
                        size_bytes,
                        caption,
                    },
                    Content::Attachment(Attachment {
                        name: name.into(),
                        size_bytes,
                        mime: sniffed.mime,
                        media: sniffed.media,
                        url: None,
                        caption: caption.map(str::to_owned),
                    }),
                    Action::SendAttachment {
                        chat_id,
                        upload,
                        caption: caption.map(str::to_owned),
                        message_id,
                    },
                    Some(bytes),
                )
            }
        })
    }

    fn offered(&self, action: &Action) -> ComposeResult<()> {
        match self.capabilities.lacks(action) {
            Some(feature) => Err(Refusal::NotOffered {
                feature: feature.to_owned(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Queues any other action after its rules (a refusal queues nothing).
    pub fn queue(&self, action: &Action, key: &str) -> ComposeResult<()> {
        if !valid_key(key) {
            return Err(ComposeError::InvalidKey);
        }
        action.check_fields()?;
        self.check(action)?;
        self.store.enqueue(action, key, None, self.now)?;
        Ok(())
    }

    /// The rules of an action with the facts this store holds (the server
    /// checks them again, as the authority). Messages are checked with
    /// what the command carries; a file's kind is known only from its
    /// bytes (see [`Composer::send`]).
    pub fn check(&self, action: &Action) -> ComposeResult<()> {
        self.offered(action)?;
        let Some(chat) = action.chat_id() else {
            // F5-F8, G1-G3: no rule of the chat's.
            return Ok(());
        };
        let ctx = self.context(chat)?.ok_or(ComposeError::UnknownChat)?;
        let message = |id: &MessageId| -> ComposeResult<Message> {
            match self
                .store
                .timeline_item(chat, &TimelineItemId::Message(id.clone()))?
            {
                Some(TimelineItem::Message(m)) => Ok(m),
                _ => Err(ComposeError::UnknownMessage),
            }
        };
        let (members, m);
        let act = match action {
            Action::SendText { text, .. } => Act::Send(Outgoing::Text(text)),
            Action::SendTemplate { name, .. } => Act::Send(Outgoing::Template { name }),
            Action::SendTagged { tag, text, .. } => Act::Send(Outgoing::Tagged { tag: *tag, text }),
            Action::SendAttachment {
                upload, caption, ..
            } => Act::Attach {
                media: MediaKind::File,
                size_bytes: upload.size_bytes,
                caption: caption.as_deref(),
            },
            Action::EditMessage {
                message_id, text, ..
            } => {
                m = message(message_id)?;
                Act::EditMessage {
                    target: Target::of(&m),
                    text,
                }
            }
            Action::DeleteMessage { message_id, .. } => {
                m = message(message_id)?;
                Act::DeleteMessage {
                    target: Target::of(&m),
                }
            }
            Action::React { message_id, .. } => {
                m = message(message_id)?;
                Act::React {
                    target: Target::of(&m),
                }
            }
            Action::AddNote { text, .. } | Action::EditNote { text, .. } => Act::Note { text },
            Action::Assign { member_id, .. } => {
                members = self.store.members(false)?;
                Act::Assign {
                    to: Assignee::find(member_id.as_ref(), &members),
                }
            }
            // The last three have no chat (returned above).
            Action::MarkRead { .. }
            | Action::Open { .. }
            | Action::Close { .. }
            | Action::Pause { .. }
            | Action::DeleteNote { .. }
            | Action::EditSubscriber { .. }
            | Action::AddDeal { .. }
            | Action::EditDeal { .. } => Act::Plain,
        };
        act::check(&act, &ctx)?;
        Ok(())
    }
}
