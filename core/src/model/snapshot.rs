use super::{Bot, BotId, Chat, Deal, Member, Message, Note, Seq, Subscriber};
use serde::{Deserialize, Serialize};

/// A compact picture of a workspace at one seq (the change feed's
/// `since=0`): its current chats with their latest messages, not the whole
/// log. A client applies it, then follows the feed from `seq`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub seq: Seq,
    pub bots: Vec<Bot>,
    pub members: Vec<Member>,
    pub subscribers: Vec<Subscriber>,
    pub chats: Vec<Chat>,
    /// The latest messages of each chat (older ones are fetched on demand).
    pub messages: Vec<Message>,
    pub notes: Vec<Note>,
    pub deals: Vec<Deal>,
    /// I1: messages sent and received per bot, counted at `seq`.
    #[serde(default)]
    pub stats: Vec<BotStats>,
    /// E6: Viber bot-initiated messages per bot and month.
    #[serde(default)]
    pub viber_usage: Vec<ViberUse>,
    /// The `at` of the event at `seq` (see [`super::Cursor`]); absent from
    /// servers before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<super::Timestamp>,
}

/// E6: one bot's bot-initiated Viber messages in one UTC calendar month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViberUse {
    pub bot_id: BotId,
    /// year * 100 + month (202602 for February 2026).
    pub month: u32,
    pub used: u32,
}

/// I1: one bot's figures (or all bots' together).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BotStats {
    /// `None` for the total of all bots.
    pub bot_id: Option<BotId>,
    pub sent: u64,
    pub received: u64,
    pub subscribers: u64,
}

/// I1 as the server counts it at `seq` (`GET /v1/stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsAt {
    pub seq: Seq,
    pub bots: Vec<BotStats>,
}
