//! The rules of SPEC.md E and B8, in one place (issue: policy and timers).
//!
//! Every rule is a pure function of its inputs, `now` (server time) always
//! passed in, never read: the UI asks "may I send this now, and until
//! when?", the outbox checks before queueing, and the reference server runs
//! the same functions as the authority. Each rule lives in its own file
//! with its boundary table:
//! - [`text`]: E1, text length (grapheme clusters, and each app's own limit);
//! - [`attachment`]: E2, attachment sizes per app and media kind;
//! - [`window`]: E4/E5, the support window and what may go out after it;
//! - [`viber`]: E6, Viber's monthly bot-initiated quota;
//! - [`pause`]: E3/F7, the 60-minute bot pause;
//! - [`edit`]: B7/B8, reacting to, editing and deleting Telegram messages;
//! - [`access`]: D1, who may be assigned a chat;
//! - [`delivery`]: B5, which apps report delivery ticks;
//! - [`fields`]: the bounds of free-form fields (issue 16 hole 4).
//!
//! [`decide`] combines them for one outgoing message (with the window's
//! countdown and the alternatives, for the composer); [`act::check`] is the
//! one entry point that says which rule runs for which agent action, called
//! by the app before it queues and by the server as the authority.

pub mod access;
pub mod act;
pub mod attachment;
pub mod cases;
pub mod delivery;
pub mod edit;
pub mod fields;
pub mod pause;
pub mod text;
pub mod viber;
pub mod window;

use crate::model::{App, MediaKind, Timestamp};
use serde::{Deserialize, Serialize};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Why something may not be sent or done. `code()` (in `crate::wire`) is the
/// stable string the server's `{code, message}` errors use, so both sides
/// name a refusal alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    #[error("the message is empty")]
    TextEmpty,
    /// E1: over 512 characters, or over the app's own limit.
    #[error("the text is {actual} {unit} long; at most {limit} are allowed")]
    TextTooLong {
        limit: u32,
        actual: u32,
        unit: text::LengthUnit,
    },
    /// E2.
    #[error("the file is {actual_bytes} bytes; at most {limit_bytes} are allowed")]
    AttachmentTooLarge { limit_bytes: u64, actual_bytes: u64 },
    /// E2: the file is a program (or an installer): `kind` says which
    /// (`pe`, `elf`, `mach_o`, `script`, `apk`, `jar`, `msi`, ... or the
    /// runnable extension).
    #[error("executable files cannot be sent ({kind})")]
    Executable { kind: String },
    /// D1: only members whose role grants conversations and audience can
    /// be assigned a chat.
    #[error("this member cannot be assigned chats")]
    NotAssignable,
    /// E2: a file with no bytes.
    #[error("the file is empty")]
    FileEmpty,
    /// E4/E5: outside the support window, this may not go out.
    #[error("the support window is closed")]
    WindowClosed { closed_at: Option<Timestamp> },
    /// The messaging app has no such feature (B7/B8 outside Telegram, a
    /// WhatsApp template on Viber...).
    #[error("{app:?} does not support this")]
    NotSupported { app: App },
    /// B8: only messages sent to the subscriber can be edited or deleted;
    /// B7: only the subscriber's messages get the agent's reactions.
    #[error("not allowed on this message")]
    WrongMessage,
    /// B8: past the 48-hour limit.
    #[error("the message is too old (the limit passed at {deadline:?})")]
    TooOld { deadline: Timestamp },
    /// The workspace's platform does not offer this (issue 17: a workspace
    /// linked to SendPulse has no edits, reactions, files... through its
    /// API): `feature` is its name in [`crate::wire::unsupported`]. The
    /// apps hide such controls ([`crate::sync::Capabilities`]).
    #[error("this workspace's platform does not offer {feature}")]
    NotOffered { feature: String },
    /// A free-form field over its bound ([`fields`]): `field` names it.
    #[error("{field} is {actual} {unit} long; at most {limit} are allowed")]
    FieldTooLong {
        field: String,
        limit: u32,
        actual: u32,
        unit: text::LengthUnit,
    },
}

/// What an agent wants to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// Free text (E1).
    Text(&'a str),
    /// A file (E2).
    Attachment { media: MediaKind, size_bytes: u64 },
    /// E5: a pre-approved WhatsApp template.
    Template { name: &'a str },
    /// E5: Messenger text with a message tag.
    Tagged {
        tag: window::MessageTag,
        text: &'a str,
    },
}

/// What the core knows of the chat when deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendContext {
    pub app: App,
    /// The subscriber's last message: the window restarts there (E4).
    pub last_inbound_at: Option<Timestamp>,
    /// Server time now.
    pub now: Timestamp,
    /// E6: for Viber, whether the bot has the free monthly quota and how
    /// much of this month's it used.
    pub viber: Option<viber::QuotaState>,
}

/// What sending costs (E6): free, one of the month's free bot-initiated
/// messages, or a paid one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cost {
    Free,
    FreeQuota { remaining_after: u32 },
    Paid,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It may go out. `window` says until when free text may (the UI's
    /// countdown); `cost` what Viber charges.
    Allowed {
        window: window::WindowState,
        cost: Cost,
    },
    /// It may not; `instead` lists what may go out now (E5).
    Refused {
        reason: Refusal,
        instead: Vec<window::Alternative>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Decision::Refused { reason, .. } => Some(reason),
            Decision::Allowed { .. } => None,
        }
    }
}

/// May this go out now? Content rules first (a too-long text is refused
/// whatever the window), then the window and its alternatives.
pub fn decide(ctx: &SendContext, out: &Outgoing<'_>) -> Decision {
    let refuse = |reason| Decision::Refused {
        reason,
        instead: Vec::new(),
    };
    let content = match out {
        Outgoing::Text(t) | Outgoing::Tagged { text: t, .. } => text::check(ctx.app, t),
        Outgoing::Attachment { media, size_bytes } => {
            attachment::check(ctx.app, *media, *size_bytes)
        }
        Outgoing::Template { name } if name.trim().is_empty() => Err(Refusal::TextEmpty),
        Outgoing::Template { .. } => Ok(()),
    };
    if let Err(r) = content {
        return refuse(r);
    }
    window::decide(ctx, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(app: App, last_inbound_ago_ms: Option<i64>) -> SendContext {
        let now = Timestamp(1_800_000_000_000);
        SendContext {
            app,
            last_inbound_at: last_inbound_ago_ms.map(|a| Timestamp(now.0 - a)),
            now,
            viber: None,
        }
    }

    #[test]
    fn content_is_checked_before_the_window() {
        let long = "a".repeat(513);
        let d = decide(&ctx(App::Whatsapp, None), &Outgoing::Text(&long));
        assert_eq!(d.refusal().map(Refusal::code), Some("text_too_long"));
        let d = decide(&ctx(App::Whatsapp, None), &Outgoing::Text("hi"));
        assert_eq!(d.refusal().map(Refusal::code), Some("window_closed"));
    }

    #[test]
    fn refusal_codes_are_stable_and_serialise_with_their_code() {
        let r = Refusal::WindowClosed { closed_at: None };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["code"], r.code());
    }
}
