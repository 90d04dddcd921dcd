use super::{ChatId, MemberId, NoteId, Timestamp};
use serde::{Deserialize, Serialize};

/// An internal note on a chat (C1): never sent to the subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Note {
    pub id: NoteId,
    pub chat_id: ChatId,
    pub author: MemberId,
    pub text: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
}
