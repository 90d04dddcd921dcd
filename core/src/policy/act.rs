//! The one table of which rule runs for which agent action. The app (before
//! it queues anything, and to grey out a button with the reason) and the
//! server (the authority) both call [`check`] with the facts their own
//! store holds, so the two cannot run different checks for one action.

use super::access::{self, Assignee};
use super::{Cost, Decision, Outgoing, Refusal, SendContext, decide, edit, text};
use crate::model::{MediaKind, Message, Sender, Timestamp};

/// The message an action is about (B7/B8): who sent it and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub sender: &'a Sender,
    pub sent_at: Timestamp,
}

impl<'a> Target<'a> {
    pub fn of(m: &'a Message) -> Target<'a> {
        Target {
            sender: &m.sender,
            sent_at: m.sent_at,
        }
    }
}

/// An agent action, with what its rules look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act<'a> {
    /// E1, E4-E6: text, a template or tagged text.
    Send(Outgoing<'a>),
    /// E2: a file, by its sniffed kind and size, with an optional caption
    /// (see [`caption`]).
    Attach {
        media: MediaKind,
        size_bytes: u64,
        caption: Option<&'a str>,
    },
    /// B8.
    EditMessage {
        target: Target<'a>,
        text: &'a str,
    },
    DeleteMessage {
        target: Target<'a>,
    },
    /// B7.
    React {
        target: Target<'a>,
    },
    /// C1: a note added or edited.
    Note {
        text: &'a str,
    },
    /// D1.
    Assign {
        to: Assignee<'a>,
    },
    /// A8 open/close, B10 read, E3/F7 pause, C1 delete: no rule beyond the
    /// chat existing and the member's access.
    Plain,
}

/// E2: the caption that goes out: trimmed, and none if blank.
pub fn caption(c: Option<&str>) -> Option<&str> {
    c.map(str::trim).filter(|c| !c.is_empty())
}

/// May the action be done now in the chat `ctx` describes? What a message
/// costs (E6) if so; every other action is free.
pub fn check(act: &Act<'_>, ctx: &SendContext) -> Result<Cost, Refusal> {
    let free = |r: Result<(), Refusal>| r.map(|()| Cost::Free);
    let (app, now) = (ctx.app, ctx.now);
    match act {
        Act::Send(out) => allowed(decide(ctx, out)),
        Act::Attach {
            media,
            size_bytes,
            caption: c,
        } => {
            if let Some(c) = caption(*c) {
                text::check(app, c)?;
            }
            allowed(decide(
                ctx,
                &Outgoing::Attachment {
                    media: *media,
                    size_bytes: *size_bytes,
                },
            ))
        }
        Act::EditMessage { target, text: t } => {
            edit::may_edit(app, target.sender, target.sent_at, now)?;
            free(text::check(app, t))
        }
        Act::DeleteMessage { target } => {
            free(edit::may_delete(app, target.sender, target.sent_at, now))
        }
        Act::React { target } => free(edit::may_react(app, target.sender)),
        Act::Note { text: t } => free(text::check_note(t)),
        Act::Assign { to } => free(access::may_assign(*to)),
        Act::Plain => Ok(Cost::Free),
    }
}

fn allowed(d: Decision) -> Result<Cost, Refusal> {
    match d {
        Decision::Allowed { cost, .. } => Ok(cost),
        Decision::Refused { reason, .. } => Err(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::App;
    use crate::policy::HOUR_MS;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn ctx(app: App) -> SendContext {
        SendContext {
            app,
            last_inbound_at: Some(Timestamp(NOW.0 - HOUR_MS)),
            now: NOW,
            viber: None,
        }
    }

    #[test]
    fn b7_b8_c1_d1_e1_each_action_runs_its_rule() {
        let tg = ctx(App::Telegram);
        let bot = Sender::Bot;
        let old = Target {
            sender: &bot,
            sent_at: Timestamp(NOW.0 - 49 * HOUR_MS),
        };
        let code = |r: Result<Cost, Refusal>| r.err().map(|r| r.code());
        assert_eq!(
            code(check(&Act::Send(Outgoing::Text("")), &tg)),
            Some("text_empty")
        );
        assert_eq!(code(check(&Act::Send(Outgoing::Text("hi")), &tg)), None);
        assert_eq!(
            code(check(
                &Act::EditMessage {
                    target: old,
                    text: "x"
                },
                &tg
            )),
            Some("too_old")
        );
        assert_eq!(
            code(check(&Act::DeleteMessage { target: old }, &tg)),
            Some("too_old")
        );
        assert_eq!(
            code(check(&Act::React { target: old }, &tg)),
            Some("wrong_message")
        );
        assert_eq!(
            code(check(&Act::Note { text: " " }, &tg)),
            Some("text_empty")
        );
        assert_eq!(
            code(check(
                &Act::Assign {
                    to: Assignee::Unknown
                },
                &tg
            )),
            Some("not_assignable")
        );
        assert_eq!(code(check(&Act::Plain, &tg)), None);
    }

    #[test]
    fn e2_a_caption_is_trimmed_and_checked_like_text() {
        assert_eq!(caption(Some("  hi  ")), Some("hi"));
        assert_eq!(caption(Some("   ")), None);
        assert_eq!(caption(None), None);
        let long = "a".repeat(513);
        let attach = |c| Act::Attach {
            media: MediaKind::Image,
            size_bytes: 10,
            caption: c,
        };
        let tg = ctx(App::Telegram);
        assert_eq!(
            check(&attach(Some(&long)), &tg).err().map(|r| r.code()),
            Some("text_too_long")
        );
        // 512 characters and surrounding blanks: the blanks do not count.
        let padded = format!("  {}  ", "a".repeat(512));
        assert!(check(&attach(Some(&padded)), &tg).is_ok());
    }
}
