use serde::{Deserialize, Serialize};

/// The six messaging apps (channels) a bot can run on (SPEC "Messaging apps").
///
/// `code()` is the value kept in SQLite: stable forever, never reordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum App {
    Telegram,
    Whatsapp,
    Instagram,
    Messenger,
    Viber,
    Livechat,
}

impl App {
    pub const ALL: [App; 6] = [
        App::Telegram,
        App::Whatsapp,
        App::Instagram,
        App::Messenger,
        App::Viber,
        App::Livechat,
    ];

    pub const fn code(self) -> u8 {
        match self {
            App::Telegram => 0,
            App::Whatsapp => 1,
            App::Instagram => 2,
            App::Messenger => 3,
            App::Viber => 4,
            App::Livechat => 5,
        }
    }

    pub fn from_code(code: i64) -> Option<App> {
        App::ALL.into_iter().find(|a| i64::from(a.code()) == code)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            App::Telegram => "telegram",
            App::Whatsapp => "whatsapp",
            App::Instagram => "instagram",
            App::Messenger => "messenger",
            App::Viber => "viber",
            App::Livechat => "livechat",
        }
    }

    pub fn parse(s: &str) -> Option<App> {
        App::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A3: a chat is with one subscriber, or with a Telegram group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Personal,
    Group,
}

impl ChatKind {
    pub const ALL: [ChatKind; 2] = [ChatKind::Personal, ChatKind::Group];

    pub const fn code(self) -> u8 {
        match self {
            ChatKind::Personal => 0,
            ChatKind::Group => 1,
        }
    }

    pub fn from_code(code: i64) -> Option<ChatKind> {
        ChatKind::ALL
            .into_iter()
            .find(|k| i64::from(k.code()) == code)
    }
}
