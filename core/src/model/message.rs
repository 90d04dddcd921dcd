use super::{ChatId, MemberId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};

/// A message of a chat's history (B1–B9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    /// Who sent it (B9); the direction follows from it.
    pub sender: Sender,
    pub content: Content,
    pub sent_at: Timestamp,
    /// B5: sent / delivered / read of an outgoing message, where the app
    /// reports it (Instagram, WhatsApp, Messenger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// B6: the message this one answers (Telegram).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// B7: reactions to this message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// B8: when a bot message was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// B8: when it was deleted; the history keeps a tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// F4: a subscriber's message sent after an ad shows as a response to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_ad: Option<AdRef>,
}

impl Message {
    /// A text message with its delivery ticks, and none of what only some
    /// messages have (quote, reactions, edits, an ad).
    pub fn text(
        id: MessageId,
        chat_id: ChatId,
        sender: Sender,
        text: String,
        sent_at: Timestamp,
        delivery: Option<Delivery>,
    ) -> Message {
        Message {
            id,
            chat_id,
            sender,
            content: Content::Text { text },
            sent_at,
            delivery,
            quote: None,
            reactions: Vec::new(),
            edited_at: None,
            deleted_at: None,
            in_reply_to_ad: None,
        }
    }

    pub fn direction(&self) -> Direction {
        self.sender.direction()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the subscriber.
    Inbound,
    /// To the subscriber.
    Outbound,
}

/// B9: who sent a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "member_id", rename_all = "snake_case")]
pub enum Sender {
    Subscriber,
    /// The platform's bot (flows, autoreplies).
    Bot,
    /// A third-party app, e.g. a business inbox of the messaging app.
    ThirdPartyApp,
    /// A team member: the UI shows their name and avatar.
    Member(MemberId),
}

impl Sender {
    pub fn direction(&self) -> Direction {
        match self {
            Sender::Subscriber => Direction::Inbound,
            _ => Direction::Outbound,
        }
    }
}

/// What a message carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    Text {
        text: String,
    },
    /// B2: a button the subscriber pressed, shown as their message.
    ButtonPress {
        label: String,
    },
    /// B3: a file, image, video or voice message.
    Attachment(Attachment),
    /// B4: an Instagram ad click-through notice.
    AdClick {
        ad: AdRef,
        #[serde(default)]
        text: Option<String>,
    },
    /// B4: the subscriber mentioned the business in an Instagram story.
    StoryMention {
        story_url: String,
    },
    /// E5: a pre-approved message sent outside the support window (a
    /// WhatsApp template or a Messenger message with a tag).
    Template {
        name: String,
        text: String,
    },
}

impl Content {
    pub fn kind(&self) -> ContentKind {
        match self {
            Content::Text { .. } => ContentKind::Text,
            Content::ButtonPress { .. } => ContentKind::ButtonPress,
            Content::Attachment(_) => ContentKind::Attachment,
            Content::AdClick { .. } => ContentKind::AdClick,
            Content::StoryMention { .. } => ContentKind::StoryMention,
            Content::Template { .. } => ContentKind::Template,
        }
    }

    /// The words a list row or a notification shows for this content.
    pub fn summary(&self) -> &str {
        match self {
            Content::Text { text } | Content::Template { text, .. } => text,
            Content::ButtonPress { label } => label,
            Content::Attachment(a) => a.caption.as_deref().unwrap_or(&a.name),
            Content::AdClick { ad, text } => text.as_deref().unwrap_or(&ad.name),
            Content::StoryMention { .. } => "",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Text,
    ButtonPress,
    Attachment,
    AdClick,
    StoryMention,
    Template,
}

/// B3: an attachment's name, size and type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub name: String,
    pub size_bytes: u64,
    /// The MIME type as sniffed from the content.
    pub mime: String,
    pub media: MediaKind,
    /// Telegram files carry a download link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

/// F4/B4: an ad campaign (name and link to view it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdRef {
    pub name: String,
    pub url: String,
}

/// B5: one grey tick, two grey ticks, two blue ticks; or refused by the app.
/// `Pending` is local: an agent's message stored in the outbox (E7), not yet
/// confirmed by the server (a clock icon).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    Sent,
    Delivered,
    Read,
    Failed,
    Pending,
}

impl Delivery {
    pub const fn code(self) -> u8 {
        match self {
            Delivery::Sent => 0,
            Delivery::Delivered => 1,
            Delivery::Read => 2,
            Delivery::Failed => 3,
            Delivery::Pending => 4,
        }
    }
    pub fn from_code(code: i64) -> Option<Delivery> {
        [
            Delivery::Sent,
            Delivery::Delivered,
            Delivery::Read,
            Delivery::Failed,
            Delivery::Pending,
        ]
        .into_iter()
        .find(|d| i64::from(d.code()) == code)
    }
}

/// B6: the quoted message above a Telegram reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quote {
    pub message_id: MessageId,
    /// A short excerpt of the quoted message.
    pub text: String,
}

/// B7: one reaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub by: ReactionBy,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "member_id", rename_all = "snake_case")]
pub enum ReactionBy {
    Subscriber,
    Member(MemberId),
}
