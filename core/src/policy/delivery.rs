//! B5: which apps report an outgoing message's delivery (sent, delivered,
//! read: one grey tick, two grey, two blue). The others report nothing, so
//! their messages carry no delivery state and show no ticks.

use crate::model::App;

/// Whether `app` reports sent / delivered / read for outgoing messages.
pub fn shows_ticks(app: App) -> bool {
    matches!(app, App::Instagram | App::Whatsapp | App::Messenger)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b5_ticks_on_instagram_whatsapp_and_messenger_only() {
        let table = [
            (App::Telegram, false),
            (App::Whatsapp, true),
            (App::Instagram, true),
            (App::Messenger, true),
            (App::Viber, false),
            (App::Livechat, false),
        ];
        assert_eq!(table.len(), App::ALL.len());
        for (app, ticks) in table {
            assert_eq!(shows_ticks(app), ticks, "{app:?}");
        }
    }
}
