//! What the app screens (issue 14) need beyond issue 13's exports, in one
//! block: the composer's counter of what is left to type, and the kind of a
//! push (the Android notification channel it goes to).

use crate::error::Result;
use rapport_core::model::App;
use rapport_core::policy::text::LengthUnit;
use rapport_core::push::{self, NotificationError, PushKind};

#[uniffi::remote(Enum)]
pub enum PushKind {
    NewMessage,
    ChatOpened,
    ChatRead,
}

/// H2/D2: why a push came (a subscriber wrote, a chat opened for the
/// member, a chat was read), from what the platform handed the app: the
/// app files it under a notification channel per kind. A push that is not
/// Rapport's, or is malformed, throws `InvalidArgument`.
#[uniffi::export]
pub fn push_kind(platform_json: String) -> Result<PushKind> {
    push::decode(&platform_json)
        .map(|p| p.kind)
        .map_err(|e| NotificationError::Push(e).into())
}

/// E1: what is left to type in a reply to a chat of `app`, in the unit that
/// binds first (characters, or UTF-8 bytes on Instagram); negative once
/// the text is too long. The counter under the composer.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct TextLeft {
    pub left: i64,
    pub unit: LengthUnit,
}

/// E1: the composer's counter for `text` in a chat of `app` (no store, no
/// network: cheap enough to call on each keystroke).
#[uniffi::export]
pub fn text_left(app: App, text: String) -> TextLeft {
    let (left, unit) = rapport_core::policy::text::remaining(app, &text);
    TextLeft { left, unit }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e1_text_left_counts_in_the_unit_that_binds_first() {
        assert_eq!(
            text_left(App::Telegram, "hello".into()),
            TextLeft {
                left: 507,
                unit: LengthUnit::Characters
            }
        );
        // Instagram: 1000 bytes of UTF-8 bind before 512 characters.
        let emoji = "😀".repeat(200); // 200 characters, 800 bytes
        assert_eq!(
            text_left(App::Instagram, emoji),
            TextLeft {
                left: 200,
                unit: LengthUnit::Utf8Bytes
            }
        );
        assert!(text_left(App::Whatsapp, "a".repeat(600)).left < 0);
    }

    #[test]
    fn h2_push_kind_names_the_channel_and_refuses_a_foreign_push() {
        let inner = r#"{"v":1,"kind":"chat_opened","workspace_id":"w","chat_id":"c1","message_id":"m1","seq":3,"sent_at":1,"title":"Ana"}"#;
        let json = format!(r#"{{"rapport":{inner}}}"#);
        assert!(matches!(push_kind(json), Ok(PushKind::ChatOpened)));
        let err = push_kind(r#"{"other":"x"}"#.into())
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.code(), "invalid_argument");
    }
}
