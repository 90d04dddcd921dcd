use super::{
    App, BotId, ChatId, ChatKind, ContentKind, Direction, MemberId, MessageId, SubscriberId,
    Timestamp,
};
use serde::{Deserialize, Serialize};

/// Whether the conversation is unfinished (A8: opened by the standard-reply
/// flow, an "open chat" action or by hand) or was closed by an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChatState {
    Open,
    Closed,
}

/// A5: the status a list row shows, derived from state and unread count.
///
/// `Unread` is a subset of open chats: an open chat with unread subscriber
/// messages (filled red dot). `Open` rows with nothing unread show an empty
/// red dot, `Closed` a grey dot. The "open" list and its count therefore
/// include the unread chats, as on SendPulse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChatStatus {
    Open,
    Unread,
    Closed,
}

/// A chat as the server describes it (the `chat_upserted` event) and as the
/// store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Chat {
    pub id: ChatId,
    pub bot_id: BotId,
    pub app: App,
    pub kind: ChatKind,
    /// The subscriber, or for a group chat the group's own card.
    pub subscriber_id: SubscriberId,
    /// The subscriber's name or the group's title: what the list shows and
    /// what name search (A6) matches.
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    pub state: ChatState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<MemberId>,
    /// Newest activity in the chat; the list is ordered by it (A1).
    pub last_activity: Timestamp,
    /// Unread subscriber messages (B10).
    #[serde(default)]
    pub unread_count: u32,
    /// The subscriber's last message: the support window (E4) starts here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Timestamp>,
    /// The bot is paused for this subscriber until then (E3/F7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<Timestamp>,
}

impl Chat {
    pub fn status(&self) -> ChatStatus {
        match (self.state, self.unread_count) {
            (ChatState::Closed, _) => ChatStatus::Closed,
            (ChatState::Open, 0) => ChatStatus::Open,
            (ChatState::Open, _) => ChatStatus::Unread,
        }
    }
}

/// The latest message of a chat in a few words, for the list row and home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    pub message_id: MessageId,
    pub direction: Direction,
    pub kind: ContentKind,
    /// At most [`Preview::MAX_CHARS`] characters of the message's text,
    /// caption, button label or file name.
    pub text: String,
    pub at: Timestamp,
}

impl Preview {
    pub const MAX_CHARS: usize = 120;
}

/// One row of the chat list (A1–A5) or of home (A7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatSummary {
    pub chat: Chat,
    pub status: ChatStatus,
    pub preview: Option<Preview>,
}
