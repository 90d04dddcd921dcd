//! Plain data for every entity of SPEC.md. No I/O, no logic beyond derived
//! properties (a chat's displayed status, a message's direction).
//!
//! Everything here is serde-serialisable: the same types travel on the wire
//! (server events, see [`event`]) and come out of the store's queries.

mod app;
mod chat;
pub mod event;
mod ids;
mod member;
mod message;
mod note;
mod snapshot;
mod subscriber;
mod time;

pub use app::{App, ChatKind};
pub use chat::{Chat, ChatState, ChatStatus, ChatSummary, Preview};
pub use event::{Cursor, DecodeError, Event, EventPayload, Seq};
pub use ids::{BotId, ChatId, DealId, MemberId, MessageId, NoteId, SubscriberId};
pub use member::{Bot, Member};
pub use message::{
    AdRef, Attachment, Content, ContentKind, Delivery, Direction, MediaKind, Message, Quote,
    Reaction, ReactionBy, Sender,
};
pub use note::Note;
pub use snapshot::{BotStats, Snapshot, StatsAt, ViberUse};
pub use subscriber::{
    ActiveFlow, CrmContact, Deal, GroupInfo, InstagramFollow, Named, Subscriber, SubscriptionStatus,
};
pub use time::Timestamp;
