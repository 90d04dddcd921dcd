//! The platform's codes as enums. A code this crate does not know is kept
//! (`Other`) rather than failing the whole page it came in.

use serde::{Deserialize, Serialize};

/// A messaging app, as SendPulse's API and webhooks name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

    /// The app's path prefix in the API (`/{prefix}/contacts/...`).
    pub fn api_prefix(self) -> &'static str {
        match self {
            App::Telegram => "telegram",
            App::Whatsapp => "whatsapp",
            App::Instagram => "instagram",
            App::Messenger => "messenger",
            App::Viber => "viber/chatbots",
            App::Livechat => "live-chat",
        }
    }

    /// Rapport's name of the app (SPEC "Messaging apps").
    pub fn rapport_name(self) -> &'static str {
        match self {
            App::Telegram => "telegram",
            App::Whatsapp => "whatsapp",
            App::Instagram => "instagram",
            App::Messenger => "messenger",
            App::Viber => "viber",
            App::Livechat => "livechat",
        }
    }

    /// The `service` code of a dialog (`GET /chatbots/dialogs`).
    pub fn from_service_code(code: i64) -> Option<App> {
        Some(match code {
            1 => App::Messenger,
            3 => App::Telegram,
            4 => App::Whatsapp,
            5 => App::Instagram,
            6 => App::Viber,
            7 => App::Livechat,
            _ => return None,
        })
    }

    pub fn service_code(self) -> i64 {
        match self {
            App::Messenger => 1,
            App::Telegram => 3,
            App::Whatsapp => 4,
            App::Instagram => 5,
            App::Viber => 6,
            App::Livechat => 7,
        }
    }

    /// The `service` name of a webhook item.
    pub fn from_webhook_service(name: &str) -> Option<App> {
        Some(match name {
            "telegram" => App::Telegram,
            "whatsapp" => App::Whatsapp,
            "instagram" => App::Instagram,
            "messenger" | "facebook" => App::Messenger,
            "viber" => App::Viber,
            "livechat" | "live-chat" => App::Livechat,
            _ => return None,
        })
    }

    pub fn webhook_service(self) -> &'static str {
        self.rapport_name()
    }
}

macro_rules! int_code {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "i64", into = "i64")]
        pub enum $name {
            $($variant,)+
            /// A code this crate does not know, kept as it came.
            Other(i64),
        }
        impl From<i64> for $name {
            fn from(c: i64) -> Self {
                match c { $($code => $name::$variant,)+ other => $name::Other(other) }
            }
        }
        impl From<$name> for i64 {
            fn from(c: $name) -> i64 {
                match c { $($name::$variant => $code,)+ $name::Other(o) => o }
            }
        }
    };
}

int_code!(
    /// A contact's subscription status.
    ContactStatus { Active = 1, Unsubscribed = 2, Disabled = 3, Blocked = 4 }
);
int_code!(
    /// Who a message went from: `In` from the subscriber, `Out` to them.
    Direction { In = 1, Out = 2 }
);
int_code!(
    /// A message's delivery status.
    MessageStatus { New = 1, Sent = 2, Delivered = 3, Opened = 4, Redirected = 5, Rejected = 6 }
);

/// A Messenger message tag: what may go out outside the 24-hour window (E5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageTag {
    HumanAgent,
    CustomerFeedback,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_unknown_ones() {
        for c in 1..=4 {
            assert_eq!(i64::from(ContactStatus::from(c)), c);
        }
        assert_eq!(ContactStatus::from(4), ContactStatus::Blocked);
        assert_eq!(Direction::from(1), Direction::In);
        assert_eq!(MessageStatus::from(6), MessageStatus::Rejected);
        assert_eq!(MessageStatus::from(9), MessageStatus::Other(9));
        let s: MessageStatus = serde_json::from_str("3").unwrap();
        assert_eq!(s, MessageStatus::Delivered);
        assert_eq!(serde_json::to_string(&Direction::Out).unwrap(), "2");
    }

    #[test]
    fn apps_map_both_ways() {
        for app in App::ALL {
            assert_eq!(App::from_service_code(app.service_code()), Some(app));
            assert_eq!(App::from_webhook_service(app.webhook_service()), Some(app));
        }
        assert_eq!(
            App::from_service_code(8),
            None,
            "TikTok is not a Rapport app"
        );
        assert_eq!(App::Viber.api_prefix(), "viber/chatbots");
    }
}
