//! B7/B8: acting on sent Telegram messages.
//!
//! Telegram lets a bot delete a message only while it is under 48 hours
//! old, and edit its own messages at any time; Rapport applies the 48 hours
//! to edits too (SPEC: the product's choice), so that what the agent sees
//! as editable and deletable is the same set. Only messages sent to the
//! subscriber (by the bot, a member or a third-party app through the bot)
//! are edited or deleted; only the subscriber's messages get the agent's
//! reactions.

use super::{HOUR_MS, Refusal};
use crate::model::{App, Sender, Timestamp};

pub const EDIT_DELETE_MS: i64 = 48 * HOUR_MS;

/// When the message stops being editable and deletable, if it ever is.
pub fn deadline(app: App, sender: &Sender, sent_at: Timestamp) -> Option<Timestamp> {
    (app == App::Telegram && *sender != Sender::Subscriber)
        .then(|| sent_at.plus_millis(EDIT_DELETE_MS))
}

fn check(app: App, sender: &Sender, sent_at: Timestamp, now: Timestamp) -> Result<(), Refusal> {
    if app != App::Telegram {
        return Err(Refusal::NotSupported { app });
    }
    match deadline(app, sender, sent_at) {
        None => Err(Refusal::WrongMessage),
        Some(d) if now < d => Ok(()),
        Some(d) => Err(Refusal::TooOld { deadline: d }),
    }
}

/// B8: may the agent delete this message now?
pub fn may_delete(
    app: App,
    sender: &Sender,
    sent_at: Timestamp,
    now: Timestamp,
) -> Result<(), Refusal> {
    check(app, sender, sent_at, now)
}

/// B8: may the agent edit this message now? (The new text is checked by
/// [`super::text::check`].)
pub fn may_edit(
    app: App,
    sender: &Sender,
    sent_at: Timestamp,
    now: Timestamp,
) -> Result<(), Refusal> {
    check(app, sender, sent_at, now)
}

/// B7: may the agent react to this message?
pub fn may_react(app: App, sender: &Sender) -> Result<(), Refusal> {
    match (app, sender) {
        (App::Telegram, Sender::Subscriber) => Ok(()),
        (App::Telegram, _) => Err(Refusal::WrongMessage),
        (app, _) => Err(Refusal::NotSupported { app }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MemberId;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn b8_boundary_table() {
        let member = Sender::Member(MemberId::from("u1"));
        let cases: Vec<(App, Sender, i64, Option<&str>)> = vec![
            (App::Telegram, Sender::Bot, EDIT_DELETE_MS - 1, None),
            (App::Telegram, Sender::Bot, EDIT_DELETE_MS, Some("too_old")),
            (
                App::Telegram,
                Sender::Bot,
                EDIT_DELETE_MS + 1,
                Some("too_old"),
            ),
            (App::Telegram, member.clone(), EDIT_DELETE_MS - 1, None),
            (App::Telegram, Sender::Subscriber, 0, Some("wrong_message")),
            (App::Whatsapp, Sender::Bot, 0, Some("not_supported")),
        ];
        for (app, sender, age, want) in cases {
            let now = T0.plus_millis(age);
            let got = may_delete(app, &sender, T0, now).err().map(|r| r.code());
            assert_eq!(got, want, "delete {app:?} {sender:?} +{age}");
            let got = may_edit(app, &sender, T0, now).err().map(|r| r.code());
            assert_eq!(got, want, "edit {app:?} {sender:?} +{age}");
        }
        assert_eq!(
            deadline(App::Telegram, &Sender::Bot, T0),
            Some(T0.plus_millis(EDIT_DELETE_MS))
        );
    }

    #[test]
    fn b7_reactions_only_on_telegram_subscriber_messages() {
        assert!(may_react(App::Telegram, &Sender::Subscriber).is_ok());
        assert_eq!(
            may_react(App::Telegram, &Sender::Bot).unwrap_err().code(),
            "wrong_message"
        );
        assert_eq!(
            may_react(App::Instagram, &Sender::Subscriber)
                .unwrap_err()
                .code(),
            "not_supported"
        );
    }
}
