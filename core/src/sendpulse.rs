//! SendPulse's codes as Rapport's model (issue 17), shared by the gateway
//! (rapport-server) and the direct connector ([`crate::sync::SendPulseBackend`]):
//! apps, contact statuses, message statuses, ids. The pure reading of
//! SendPulse's answers (times, names, texts, the lost-send lookup) is
//! [`rapport_sendpulse::map`].

use crate::model::{App, ChatId, Delivery, SubscriptionStatus, Timestamp};
use rapport_sendpulse::{App as SpApp, ContactStatus, MessageStatus};

/// The SendPulse API crate itself (its client, codes and webhook items).
pub use rapport_sendpulse as api;
pub use rapport_sendpulse::map::{
    find_send, is_send_of, local_id, name_of, remote_id, text_of, variables_of,
};

/// SendPulse's time as a [`Timestamp`].
pub fn parse_time(s: &str) -> Option<Timestamp> {
    rapport_sendpulse::map::parse_time(s).map(Timestamp)
}

pub fn app_of(app: SpApp) -> App {
    match app {
        SpApp::Telegram => App::Telegram,
        SpApp::Whatsapp => App::Whatsapp,
        SpApp::Instagram => App::Instagram,
        SpApp::Messenger => App::Messenger,
        SpApp::Viber => App::Viber,
        SpApp::Livechat => App::Livechat,
    }
}

pub fn sp_app(app: App) -> SpApp {
    match app {
        App::Telegram => SpApp::Telegram,
        App::Whatsapp => SpApp::Whatsapp,
        App::Instagram => SpApp::Instagram,
        App::Messenger => SpApp::Messenger,
        App::Viber => SpApp::Viber,
        App::Livechat => SpApp::Livechat,
    }
}

/// The SendPulse contact id of a chat (`sp-` + the id), if it is one.
pub fn contact_of(chat: &ChatId) -> Option<&str> {
    remote_id(chat.as_str())
}

/// A contact's status as a subscription.
pub fn status_of(s: ContactStatus) -> SubscriptionStatus {
    match s {
        ContactStatus::Active | ContactStatus::Other(_) => SubscriptionStatus::Active,
        // Rapport has no "blocked": a contact who blocked the bot cannot be
        // written to, as one who unsubscribed.
        ContactStatus::Unsubscribed | ContactStatus::Blocked => SubscriptionStatus::Unsubscribed,
        ContactStatus::Disabled => SubscriptionStatus::Disabled,
    }
}

/// A message's status as a delivery tick (`None`: no tick to show).
pub fn delivery_of(s: MessageStatus) -> Option<Delivery> {
    match s {
        MessageStatus::Sent | MessageStatus::New => Some(Delivery::Sent),
        MessageStatus::Delivered => Some(Delivery::Delivered),
        MessageStatus::Opened => Some(Delivery::Read),
        MessageStatus::Rejected => Some(Delivery::Failed),
        MessageStatus::Redirected | MessageStatus::Other(_) => None,
    }
}

/// Ticks only move forward: pending < sent < delivered < read < failed.
pub fn rank(d: Delivery) -> u8 {
    match d {
        Delivery::Pending => 0,
        Delivery::Sent => 1,
        Delivery::Delivered => 2,
        Delivery::Read => 3,
        Delivery::Failed => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_round_trip_and_ticks_only_move_forward() {
        for a in SpApp::ALL {
            assert_eq!(sp_app(app_of(a)), a);
        }
        assert_eq!(contact_of(&ChatId::from("sp-c1")), Some("c1"));
        assert!(rank(Delivery::Sent) < rank(Delivery::Read));
        assert_eq!(delivery_of(MessageStatus::Opened), Some(Delivery::Read));
        assert_eq!(
            status_of(ContactStatus::Blocked),
            SubscriptionStatus::Unsubscribed
        );
    }
}
