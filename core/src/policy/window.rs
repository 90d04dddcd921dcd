//! E4/E5: the support window, and what may go out after it closes.
//!
//! Window per app (E4): Instagram 7 days; WhatsApp, Messenger, Viber and
//! live chat 24 hours; Telegram none. It runs from the subscriber's last
//! message and is half-open: at exactly `last + length` it is closed.
//!
//! Outside it (E5) only pre-approved messages go out: WhatsApp templates,
//! Messenger messages with a tag (HUMAN_AGENT lets a person answer up to 7
//! days after the subscriber's last message; the other tags have no time
//! limit). Viber lets a bot start a conversation at any time: such messages
//! count against its monthly quota or are paid (E6, [`super::viber`]).

use super::{Cost, DAY_MS, Decision, HOUR_MS, Outgoing, Refusal, SendContext, viber};
use crate::model::{App, Timestamp};
use serde::{Deserialize, Serialize};

/// How long the window stays open after a subscriber's message; `None`:
/// no window (Telegram).
pub fn length_ms(app: App) -> Option<i64> {
    match app {
        App::Telegram => None,
        App::Instagram => Some(7 * DAY_MS),
        App::Whatsapp | App::Messenger | App::Viber | App::Livechat => Some(24 * HOUR_MS),
    }
}

/// Messenger's HUMAN_AGENT tag: a person may answer this long after the
/// subscriber's last message.
pub const HUMAN_AGENT_MS: i64 = 7 * DAY_MS;

/// "May I send free text now, and until when?"
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WindowState {
    /// Telegram: free text at any time.
    Unlimited,
    Open {
        closes_at: Timestamp,
    },
    /// Closed at `closed_at`; `None` if the subscriber never wrote.
    Closed {
        closed_at: Option<Timestamp>,
    },
}

impl WindowState {
    pub fn is_open(self) -> bool {
        !matches!(self, WindowState::Closed { .. })
    }

    /// Time left in the window, for the countdown WhatsApp, Messenger and
    /// Instagram chats show (E4).
    pub fn time_left_ms(self, now: Timestamp) -> Option<i64> {
        match self {
            WindowState::Open { closes_at } => Some((closes_at.0 - now.0).max(0)),
            _ => None,
        }
    }
}

pub fn closes_at(app: App, last_inbound_at: Option<Timestamp>) -> Option<Timestamp> {
    Some(last_inbound_at?.plus_millis(length_ms(app)?))
}

pub fn state(app: App, last_inbound_at: Option<Timestamp>, now: Timestamp) -> WindowState {
    if length_ms(app).is_none() {
        return WindowState::Unlimited;
    }
    match closes_at(app, last_inbound_at) {
        Some(t) if now < t => WindowState::Open { closes_at: t },
        closed_at => WindowState::Closed { closed_at },
    }
}

/// E5: Messenger message tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageTag {
    /// A person's reply, up to 7 days after the subscriber's last message.
    HumanAgent,
    ConfirmedEventUpdate,
    PostPurchaseUpdate,
    AccountUpdate,
}

impl MessageTag {
    pub const ALL: [MessageTag; 4] = [
        MessageTag::HumanAgent,
        MessageTag::ConfirmedEventUpdate,
        MessageTag::PostPurchaseUpdate,
        MessageTag::AccountUpdate,
    ];
}

/// What may be sent instead of free text (E5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "tag", rename_all = "snake_case")]
pub enum Alternative {
    WhatsappTemplate,
    MessengerTag(MessageTag),
}

fn tag_allowed(tag: MessageTag, last_inbound_at: Option<Timestamp>, now: Timestamp) -> bool {
    match tag {
        MessageTag::HumanAgent => {
            last_inbound_at.is_some_and(|t| now < t.plus_millis(HUMAN_AGENT_MS))
        }
        _ => true,
    }
}

/// What may go out now in place of free text.
pub fn alternatives(
    app: App,
    last_inbound_at: Option<Timestamp>,
    now: Timestamp,
) -> Vec<Alternative> {
    match app {
        App::Whatsapp => vec![Alternative::WhatsappTemplate],
        App::Messenger => MessageTag::ALL
            .into_iter()
            .filter(|t| tag_allowed(*t, last_inbound_at, now))
            .map(Alternative::MessengerTag)
            .collect(),
        _ => Vec::new(),
    }
}

/// The window part of [`super::decide`] (content already checked).
pub(super) fn decide(ctx: &SendContext, out: &Outgoing<'_>) -> Decision {
    let st = state(ctx.app, ctx.last_inbound_at, ctx.now);
    let allowed = |cost| Decision::Allowed { window: st, cost };
    let refused = |reason| Decision::Refused {
        reason,
        instead: Vec::new(),
    };
    match out {
        Outgoing::Template { .. } if ctx.app == App::Whatsapp => allowed(Cost::Free),
        Outgoing::Tagged { tag, .. } if ctx.app == App::Messenger => {
            if tag_allowed(*tag, ctx.last_inbound_at, ctx.now) {
                allowed(Cost::Free)
            } else {
                Decision::Refused {
                    reason: Refusal::WindowClosed {
                        closed_at: ctx.last_inbound_at.map(|t| t.plus_millis(HUMAN_AGENT_MS)),
                    },
                    instead: alternatives(ctx.app, ctx.last_inbound_at, ctx.now),
                }
            }
        }
        Outgoing::Template { .. } | Outgoing::Tagged { .. } => {
            refused(Refusal::NotSupported { app: ctx.app })
        }
        Outgoing::Text(_) | Outgoing::Attachment { .. } => match st {
            WindowState::Unlimited | WindowState::Open { .. } => allowed(Cost::Free),
            // E6: a bot-initiated Viber message.
            WindowState::Closed { .. } if ctx.app == App::Viber => allowed(viber::cost(ctx.viber)),
            WindowState::Closed { closed_at } => Decision::Refused {
                reason: Refusal::WindowClosed { closed_at },
                instead: alternatives(ctx.app, ctx.last_inbound_at, ctx.now),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Decision, Outgoing, SendContext, decide};
    use super::*;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    fn at(app: App, since_last_ms: i64, out: Outgoing<'_>) -> Decision {
        decide(
            &SendContext {
                app,
                last_inbound_at: Some(T0),
                now: T0.plus_millis(since_last_ms),
                viber: None,
            },
            &out,
        )
    }

    #[test]
    fn e4_boundary_table() {
        let day = DAY_MS;
        let cases = [
            (App::Whatsapp, day - 1, true),
            (App::Whatsapp, day, false),
            (App::Whatsapp, day + 1, false),
            (App::Messenger, day - 1, true),
            (App::Messenger, day + 1, false),
            (App::Livechat, day - 1, true),
            (App::Livechat, day + 1, false),
            (App::Instagram, day + 1, true),
            (App::Instagram, 7 * day - 1, true),
            (App::Instagram, 7 * day + 1, false),
            (App::Telegram, 365 * day, true),
            (App::Viber, day - 1, true),
        ];
        for (app, since, open) in cases {
            let st = state(app, Some(T0), T0.plus_millis(since));
            assert_eq!(st.is_open(), open, "{app:?} +{since}ms");
            assert_eq!(
                at(app, since, Outgoing::Text("hi")).is_allowed(),
                open || app == App::Viber
            );
        }
    }

    #[test]
    fn e4_every_subscriber_message_restarts_the_window_and_counts_down() {
        let st = state(App::Whatsapp, Some(T0), T0.plus_millis(23 * HOUR_MS));
        assert_eq!(st.time_left_ms(T0.plus_millis(23 * HOUR_MS)), Some(HOUR_MS));
        let later = T0.plus_millis(23 * HOUR_MS);
        let st = state(App::Whatsapp, Some(later), T0.plus_millis(25 * HOUR_MS));
        assert_eq!(
            st,
            WindowState::Open {
                closes_at: later.plus_millis(DAY_MS)
            }
        );
        assert_eq!(
            state(App::Viber, None, T0),
            WindowState::Closed { closed_at: None },
            "no subscriber message: no window"
        );
    }

    #[test]
    fn e5_outside_the_window_lists_what_may_go_out_instead() {
        let d = at(App::Whatsapp, DAY_MS + 1, Outgoing::Text("hi"));
        assert_eq!(
            d,
            Decision::Refused {
                reason: Refusal::WindowClosed {
                    closed_at: Some(T0.plus_millis(DAY_MS))
                },
                instead: vec![Alternative::WhatsappTemplate],
            }
        );
        assert!(
            at(
                App::Whatsapp,
                DAY_MS + 1,
                Outgoing::Template {
                    name: "order_update"
                }
            )
            .is_allowed()
        );
        assert!(!at(App::Viber, 0, Outgoing::Template { name: "x" }).is_allowed());
        match at(App::Messenger, DAY_MS + 1, Outgoing::Text("hi")) {
            Decision::Refused { instead, .. } => {
                assert_eq!(instead.len(), 4);
                assert!(instead.contains(&Alternative::MessengerTag(MessageTag::HumanAgent)));
            }
            other => panic!("{other:?}"),
        }
        match at(App::Instagram, 7 * DAY_MS + 1, Outgoing::Text("hi")) {
            Decision::Refused { instead, .. } => assert!(instead.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn e5_human_agent_tag_boundary() {
        let tagged = |since| {
            at(
                App::Messenger,
                since,
                Outgoing::Tagged {
                    tag: MessageTag::HumanAgent,
                    text: "Sorry for the wait",
                },
            )
        };
        assert!(tagged(7 * DAY_MS - 1).is_allowed());
        assert!(!tagged(7 * DAY_MS + 1).is_allowed());
        let other = Outgoing::Tagged {
            tag: MessageTag::AccountUpdate,
            text: "Your card",
        };
        assert!(at(App::Messenger, 30 * DAY_MS, other).is_allowed());
        match tagged(7 * DAY_MS + 1) {
            Decision::Refused { instead, .. } => {
                assert!(!instead.contains(&Alternative::MessengerTag(MessageTag::HumanAgent)));
                assert_eq!(instead.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !at(
                App::Whatsapp,
                0,
                Outgoing::Tagged {
                    tag: MessageTag::AccountUpdate,
                    text: "x"
                }
            )
            .is_allowed()
        );
    }
}
