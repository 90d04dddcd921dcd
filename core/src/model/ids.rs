//! Typed identifiers. The server (ours or SendPulse) names every entity with
//! an opaque string; wrapping each in its own type keeps a chat id from being
//! passed where a message id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

id_type!(
    /// A bot; each bot belongs to one messaging app.
    BotId
);
id_type!(
    /// A chat between one bot and one subscriber or Telegram group.
    ChatId
);
id_type!(
    /// A subscriber of a bot (or a Telegram group, for group chats).
    SubscriberId
);
id_type!(
    /// A message of a chat's history.
    MessageId
);
id_type!(
    /// An internal note on a chat (C1).
    NoteId
);
id_type!(
    /// A team member of the workspace (D1).
    MemberId
);
id_type!(
    /// A CRM deal (G1–G3).
    DealId
);
