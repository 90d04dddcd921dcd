//! The one trait every backend implements: [`super::RapportBackend`] (the
//! reference server's change feed) and [`super::SendPulseBackend`] (issue
//! 17: SendPulse's public API polled, no live feed, no edits, a feed of its
//! own making). A backend states what it can do and the UI hides the rest.

use super::SyncResult;
use crate::model::{ChatId, Cursor, Event, Message, MessageId, Seq, Snapshot, StatsAt};
use futures_util::stream::BoxStream;
use std::future::Future;

/// What a backend can do. The apps hide what is off, and the core refuses
/// it offline ([`crate::policy::Refusal::NotOffered`]) rather than queue a
/// command the platform would refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Live events over a stream (else the engine polls).
    pub live_stream: bool,
    /// B8: edit and delete sent messages.
    pub edit_delete: bool,
    /// B6: reply quotes.
    pub quotes: bool,
    /// Idempotency keys on commands.
    pub idempotency: bool,
    /// E2: files and media sent by the agent.
    pub files: bool,
    /// B7: the agent's reactions.
    pub reactions: bool,
    /// E5: WhatsApp templates.
    pub templates: bool,
    /// F6: starting a subscriber on a flow.
    pub flows: bool,
    /// G1/G3: CRM deals.
    pub deals: bool,
    /// C1: internal notes.
    pub notes: bool,
}

impl Capabilities {
    /// The reference server's, less what the workspace's server says it
    /// cannot do ([`crate::wire::LoginResponse::unsupported`]; issue 17: a
    /// workspace linked to SendPulse).
    pub fn rapport(unsupported: &[String]) -> Capabilities {
        use crate::wire::unsupported as u;
        let has = |name: &str| unsupported.iter().any(|n| n == name);
        Capabilities {
            live_stream: true,
            edit_delete: !has(u::EDIT_DELETE),
            quotes: !has(u::QUOTES),
            idempotency: true,
            files: !has(u::FILES),
            reactions: !has(u::REACTIONS),
            templates: !has(u::TEMPLATES),
            flows: !has(u::FLOWS),
            deals: !has(u::DEALS),
            notes: !has(u::NOTES),
        }
    }

    /// The feature (its name in [`crate::wire::unsupported`]) an action
    /// needs and this backend lacks, if any.
    pub fn lacks(&self, action: &super::Action) -> Option<&'static str> {
        use super::Action as A;
        use crate::wire::unsupported as u;
        let (needed, on) = match action {
            A::SendAttachment { .. } => (u::FILES, self.files),
            A::SendTemplate { .. } => (u::TEMPLATES, self.templates),
            A::EditMessage { .. } | A::DeleteMessage { .. } => (u::EDIT_DELETE, self.edit_delete),
            A::React { .. } => (u::REACTIONS, self.reactions),
            A::AddDeal { .. } | A::EditDeal { .. } => (u::DEALS, self.deals),
            A::EditSubscriber { edit, .. } if edit.flow_id.is_some() => (u::FLOWS, self.flows),
            A::AddNote { .. } | A::EditNote { .. } | A::DeleteNote { .. } => (u::NOTES, self.notes),
            _ => return None,
        };
        (!on).then_some(needed)
    }

    /// [`Capabilities::lacks`] for what the composer is about to send.
    pub fn lacks_outgoing(&self, out: &crate::policy::Outgoing<'_>) -> Option<&'static str> {
        use crate::policy::Outgoing as O;
        use crate::wire::unsupported as u;
        match out {
            O::Attachment { .. } if !self.files => Some(u::FILES),
            O::Template { .. } if !self.templates => Some(u::TEMPLATES),
            _ => None,
        }
    }
}

/// A page of the change feed.
#[derive(Clone, Debug, PartialEq)]
pub enum Pulled {
    Snapshot(Snapshot),
    Events {
        events: Vec<Event>,
        /// Events this version could not decode, with their raw JSON: kept,
        /// never dropped.
        malformed: Vec<Malformed>,
        head: Seq,
    },
    /// Issue 18: one page of a paged snapshot.
    SnapshotPage(crate::wire::SnapshotPage),
}

/// An event that did not decode.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    pub seq: Option<Seq>,
    pub raw: String,
    pub reason: String,
}

/// One item of a live stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Live {
    Events {
        events: Vec<Event>,
        malformed: Vec<Malformed>,
    },
    Heartbeat {
        head: Seq,
    },
}

pub trait Backend: Send + Sync + 'static {
    fn capabilities(&self) -> Capabilities;

    /// `since.seq == 0`: a snapshot; else up to `limit` events after it, or
    /// a fresh snapshot when the feed cannot resume from `since` (it lost
    /// the events the client holds: issue 16 hole 7).
    fn pull(&self, since: Cursor, limit: u32) -> impl Future<Output = SyncResult<Pulled>> + Send;

    /// Issue 18: like [`Backend::pull`], taking a snapshot in pages of
    /// `page_size` chats: `since == 0` without a cursor answers the first
    /// page, a `cursor` (a page's `next`) the page after it, and a `since`
    /// the server finds too far behind (or ahead of its head) the first
    /// page of a fresh snapshot. A server that does not page answers as
    /// `pull` does.
    fn pull_paged(
        &self,
        since: Cursor,
        cursor: Option<&str>,
        limit: u32,
        page_size: u32,
    ) -> impl Future<Output = SyncResult<Pulled>> + Send;

    /// Events after `since`, live, until the stream ends or fails.
    fn stream(
        &self,
        since: Cursor,
    ) -> impl Future<Output = SyncResult<BoxStream<'static, SyncResult<Live>>>> + Send;

    /// Runs an agent action once per idempotency key (a repeat gets the
    /// first answer) and returns the server's answer.
    fn run(
        &self,
        action: &super::Action,
        idempotency_key: &str,
    ) -> impl Future<Output = SyncResult<serde_json::Value>> + Send;

    /// E2: opens the upload `upload.id` (or finds it, after an
    /// interruption) and returns how many bytes the server already has.
    fn upload_open(
        &self,
        upload: &super::UploadRef,
    ) -> impl Future<Output = SyncResult<u64>> + Send;

    /// E2: sends the bytes that start at `offset`; returns how many the
    /// server has now. A wrong offset is refused with the server's count
    /// (code `upload_offset`): open the upload again to learn it.
    fn upload_part(
        &self,
        upload_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> impl Future<Output = SyncResult<u64>> + Send;

    /// I1: the server's figures and the seq they were counted at.
    fn stats(&self) -> impl Future<Output = SyncResult<StatsAt>> + Send;

    /// B1: up to `limit` messages of `chat` older than `before`, oldest
    /// first, and whether there are more.
    fn history(
        &self,
        chat: &ChatId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> impl Future<Output = SyncResult<(Vec<Message>, bool)>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChatId, MessageId, SubscriberId};
    use crate::sync::Action;
    use crate::wire::{SubscriberEdit, unsupported as u};

    #[test]
    fn a_backend_lacking_a_feature_names_it_for_the_actions_that_need_it() {
        let all = Capabilities::rapport(&[]);
        let none = Capabilities::rapport(
            &[
                u::EDIT_DELETE,
                u::QUOTES,
                u::FILES,
                u::REACTIONS,
                u::TEMPLATES,
                u::FLOWS,
                u::DEALS,
                u::NOTES,
            ]
            .map(str::to_owned),
        );
        let chat = || ChatId::from("c1");
        let flow = SubscriberEdit {
            flow_id: Some("f1".into()),
            ..Default::default()
        };
        let cases = [
            (
                Action::SendText {
                    chat_id: chat(),
                    text: "hi".into(),
                    message_id: None,
                },
                None,
            ),
            (
                Action::SendTemplate {
                    chat_id: chat(),
                    name: "t".into(),
                    message_id: None,
                },
                Some(u::TEMPLATES),
            ),
            (
                Action::DeleteMessage {
                    chat_id: chat(),
                    message_id: MessageId::from("m1"),
                },
                Some(u::EDIT_DELETE),
            ),
            (
                Action::React {
                    chat_id: chat(),
                    message_id: MessageId::from("m1"),
                    emoji: None,
                },
                Some(u::REACTIONS),
            ),
            (
                Action::EditSubscriber {
                    subscriber_id: SubscriberId::from("s1"),
                    edit: flow,
                },
                Some(u::FLOWS),
            ),
            (
                Action::EditSubscriber {
                    subscriber_id: SubscriberId::from("s1"),
                    edit: SubscriberEdit {
                        add_tags: vec!["vip".into()],
                        ..Default::default()
                    },
                },
                None,
            ),
            (
                Action::Pause {
                    chat_id: chat(),
                    action: crate::sync::PauseAction::Start,
                },
                None,
            ),
            (
                Action::AddNote {
                    chat_id: chat(),
                    text: "call back".into(),
                },
                Some(u::NOTES),
            ),
            (
                Action::DeleteNote {
                    chat_id: chat(),
                    note_id: crate::model::NoteId::from("n1"),
                },
                Some(u::NOTES),
            ),
        ];
        for (action, lacking) in cases {
            assert_eq!(all.lacks(&action), None, "{action:?}");
            assert_eq!(none.lacks(&action), lacking, "{action:?}");
        }
        use crate::policy::Outgoing;
        let file = Outgoing::Attachment {
            media: crate::model::MediaKind::File,
            size_bytes: 1,
        };
        assert_eq!(none.lacks_outgoing(&file), Some(u::FILES));
        assert_eq!(none.lacks_outgoing(&Outgoing::Text("hi")), None);
        assert_eq!(all.lacks_outgoing(&file), None);
        assert!(!none.edit_delete && !none.quotes && !none.deals && none.live_stream);
        assert!(all.notes && !none.notes);
    }
}
