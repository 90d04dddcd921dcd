use super::{Bot, Chat, Deal, Member, Message, Note, Seq, Subscriber};
use serde::{Deserialize, Serialize};

/// A compact picture of a workspace at one seq (the change feed's
/// `since=0`): its current chats with their latest messages, not the whole
/// log. A client applies it, then follows the feed from `seq`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: Seq,
    pub bots: Vec<Bot>,
    pub members: Vec<Member>,
    pub subscribers: Vec<Subscriber>,
    pub chats: Vec<Chat>,
    /// The latest messages of each chat (older ones are fetched on demand).
    pub messages: Vec<Message>,
    pub notes: Vec<Note>,
    pub deals: Vec<Deal>,
}
