//! The boundary tables of the rules, as data: the core's unit tests run
//! them against [`super::decide`] and the `edit` rules, and the server's
//! tests run the very same rows through its HTTP API with a manual clock,
//! so core and server cannot disagree unnoticed.

use super::window::MessageTag;
use super::{DAY_MS, HOUR_MS};
use crate::model::{App, Sender};

/// What a send case sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseOut {
    Text(String),
    Template(&'static str),
    Tagged(MessageTag, String),
}

/// One row: on `app`, `since_inbound_ms` after the subscriber's last
/// message (`None`: they never wrote), sending `out` gives `expect` (a
/// refusal code) or goes out (`None`).
#[derive(Clone, Debug)]
pub struct SendCase {
    pub app: App,
    pub since_inbound_ms: Option<i64>,
    pub out: CaseOut,
    pub expect: Option<&'static str>,
}

fn text(s: impl Into<String>) -> CaseOut {
    CaseOut::Text(s.into())
}

/// E1, E4, E5 (and E6: Viber goes out after its window).
pub fn send_cases() -> Vec<SendCase> {
    let c = |app, since: Option<i64>, out, expect| SendCase {
        app,
        since_inbound_ms: since,
        out,
        expect,
    };
    let open = Some(0);
    let family = "👩‍👩‍👧";
    vec![
        // E1: 512 characters as seen; the apps' own limits.
        c(App::Telegram, open, text("a".repeat(512)), None),
        c(
            App::Telegram,
            open,
            text("a".repeat(513)),
            Some("text_too_long"),
        ),
        c(App::Whatsapp, open, text("😀".repeat(512)), None),
        c(
            App::Whatsapp,
            open,
            text("😀".repeat(513)),
            Some("text_too_long"),
        ),
        c(App::Instagram, open, text("ж".repeat(500)), None),
        c(
            App::Instagram,
            open,
            text(format!("{}a", "ж".repeat(500))),
            Some("text_too_long"),
        ),
        c(App::Messenger, open, text(family.repeat(250)), None),
        c(
            App::Messenger,
            open,
            text(format!("{}a", family.repeat(250))),
            Some("text_too_long"),
        ),
        c(App::Livechat, open, text("   "), Some("text_empty")),
        // E4: one millisecond either side of each window.
        c(App::Whatsapp, Some(DAY_MS - 1), text("hi"), None),
        c(
            App::Whatsapp,
            Some(DAY_MS + 1),
            text("hi"),
            Some("window_closed"),
        ),
        c(App::Messenger, Some(DAY_MS - 1), text("hi"), None),
        c(
            App::Messenger,
            Some(DAY_MS + 1),
            text("hi"),
            Some("window_closed"),
        ),
        c(App::Livechat, Some(DAY_MS - 1), text("hi"), None),
        c(
            App::Livechat,
            Some(DAY_MS + 1),
            text("hi"),
            Some("window_closed"),
        ),
        c(App::Instagram, Some(7 * DAY_MS - 1), text("hi"), None),
        c(
            App::Instagram,
            Some(7 * DAY_MS + 1),
            text("hi"),
            Some("window_closed"),
        ),
        c(App::Telegram, Some(400 * DAY_MS), text("hi"), None),
        c(App::Whatsapp, None, text("hi"), Some("window_closed")),
        // E6: Viber's bot may start the conversation (quota or paid).
        c(App::Viber, Some(DAY_MS + 1), text("hi"), None),
        // E5: what may go out instead.
        c(
            App::Whatsapp,
            Some(DAY_MS + 1),
            CaseOut::Template("order_update"),
            None,
        ),
        c(
            App::Viber,
            Some(0),
            CaseOut::Template("order_update"),
            Some("not_supported"),
        ),
        c(
            App::Messenger,
            Some(7 * DAY_MS - 1),
            CaseOut::Tagged(MessageTag::HumanAgent, "Sorry for the wait".into()),
            None,
        ),
        c(
            App::Messenger,
            Some(7 * DAY_MS + 1),
            CaseOut::Tagged(MessageTag::HumanAgent, "Sorry for the wait".into()),
            Some("window_closed"),
        ),
        c(
            App::Messenger,
            Some(30 * DAY_MS),
            CaseOut::Tagged(MessageTag::AccountUpdate, "Your card".into()),
            None,
        ),
        c(
            App::Whatsapp,
            Some(0),
            CaseOut::Tagged(MessageTag::AccountUpdate, "x".into()),
            Some("not_supported"),
        ),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageAction {
    Edit,
    Delete,
    React,
}

/// One row: acting on a message of `app` sent by `sender` `age_ms` ago.
#[derive(Clone, Debug)]
pub struct MessageCase {
    pub app: App,
    pub sender: Sender,
    pub age_ms: i64,
    pub action: MessageAction,
    pub expect: Option<&'static str>,
}

/// B7, B8.
pub fn message_cases() -> Vec<MessageCase> {
    let c = |app, sender, age_ms, action, expect| MessageCase {
        app,
        sender,
        age_ms,
        action,
        expect,
    };
    let limit = 48 * HOUR_MS;
    use MessageAction::*;
    vec![
        c(App::Telegram, Sender::Bot, limit - 1, Delete, None),
        c(
            App::Telegram,
            Sender::Bot,
            limit + 1,
            Delete,
            Some("too_old"),
        ),
        c(App::Telegram, Sender::Bot, limit - 1, Edit, None),
        c(App::Telegram, Sender::Bot, limit + 1, Edit, Some("too_old")),
        c(
            App::Telegram,
            Sender::Subscriber,
            0,
            Delete,
            Some("wrong_message"),
        ),
        c(App::Whatsapp, Sender::Bot, 0, Delete, Some("not_supported")),
        c(App::Telegram, Sender::Subscriber, 0, React, None),
        c(App::Telegram, Sender::Bot, 0, React, Some("wrong_message")),
        c(
            App::Instagram,
            Sender::Subscriber,
            0,
            React,
            Some("not_supported"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{Outgoing, SendContext, decide, edit};
    use super::*;
    use crate::model::Timestamp;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn e1_e4_e5_e6_send_table_in_the_core() {
        for (i, case) in send_cases().iter().enumerate() {
            let ctx = SendContext {
                app: case.app,
                last_inbound_at: case.since_inbound_ms.map(|_| T0),
                now: T0.plus_millis(case.since_inbound_ms.unwrap_or(0)),
                viber: None,
            };
            let out = match &case.out {
                CaseOut::Text(t) => Outgoing::Text(t),
                CaseOut::Template(name) => Outgoing::Template { name },
                CaseOut::Tagged(tag, t) => Outgoing::Tagged { tag: *tag, text: t },
            };
            let got = decide(&ctx, &out).refusal().map(|r| r.code());
            assert_eq!(got, case.expect, "row {i}: {case:?}");
        }
    }

    #[test]
    fn b7_b8_message_table_in_the_core() {
        for (i, case) in message_cases().iter().enumerate() {
            let now = T0.plus_millis(case.age_ms);
            let got = match case.action {
                MessageAction::Edit => edit::may_edit(case.app, &case.sender, T0, now),
                MessageAction::Delete => edit::may_delete(case.app, &case.sender, T0, now),
                MessageAction::React => edit::may_react(case.app, &case.sender),
            }
            .err()
            .map(|r| r.code());
            assert_eq!(got, case.expect, "row {i}: {case:?}");
        }
    }
}
