use super::{App, BotId, MemberId, Timestamp};
use serde::{Deserialize, Serialize};

/// A chatbot of the workspace, on one messaging app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bot {
    pub id: BotId,
    pub app: App,
    pub name: String,
    /// When the bot was connected. Viber's free monthly quota (E6) applies
    /// only to bots created before 5 February 2024.
    pub created_at: Timestamp,
}

/// A team member (D1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// The role's display name (roles are custom per workspace).
    pub role: String,
    /// Whether the role grants "Chatbots: conversations and audience": only
    /// such members can be assigned a chat (D1).
    pub conversations_access: bool,
}
