//! The wire contract of the sync API (docs/protocol.md): every request and
//! response body, query, header and error code, in one place with no I/O,
//! used by both the reference server and the core's Rapport backend.
//!
//! Events travel as raw JSON and are decoded one by one with
//! [`Event::from_json`], so that one malformed or unknown event is a typed
//! error or a kept event, never a failed page.

use crate::model::{Event, MemberId, Message, Seq, Snapshot, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod commands;
mod error;

pub use commands::{
    AssignChat, Committed, DealFields, DealSaved, Flow, FlowList, MessageSent, Method, NoBody,
    NoteSaved, PauseBot, PauseSet, React, SendAttachment, SendMessage, SubscriberSaved, TextBody,
    valid_message_id,
};
pub use error::{ErrorBody, ErrorCode};

/// Header carrying the server's time (ms since the epoch) on every response.
pub const SERVER_TIME_HEADER: &str = "x-server-time";
/// Header carrying a command's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Short-lived: sent as the bearer token.
    pub token: String,
    /// Long-lived: exchanged for a new pair at `/v1/refresh`. Secret.
    pub refresh_token: String,
    pub expires_at: Timestamp,
    pub member_id: MemberId,
    pub workspace_id: String,
    /// Issue 17: what this workspace's server refuses with `not_supported`
    /// whatever the chat (a workspace linked to SendPulse: its API has no
    /// such call), from [`unsupported`]'s names; the apps hide it. Absent:
    /// nothing. Read again at every refresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

/// The names of [`LoginResponse::unsupported`]. A client ignores names it
/// does not know.
pub mod unsupported {
    /// B8: editing and deleting sent messages.
    pub const EDIT_DELETE: &str = "edit_delete";
    /// B6: reply quotes.
    pub const QUOTES: &str = "quotes";
    /// E2: files and media sent by the agent.
    pub const FILES: &str = "files";
    /// B7: reactions.
    pub const REACTIONS: &str = "reactions";
    /// E5: WhatsApp templates.
    pub const TEMPLATES: &str = "templates";
    /// F6: running flows.
    pub const FLOWS: &str = "flows";
    /// G1/G3: CRM deals.
    pub const DEALS: &str = "deals";
    /// C1: internal notes.
    pub const NOTES: &str = "notes";
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `GET /v1/sync`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncPage {
    /// `since=0`, or a cursor the feed cannot resume from (a `since` ahead
    /// of the head, or a `since_at` the log's event there does not have):
    /// the workspace now (the client replaces what it derived from the feed
    /// with it).
    Snapshot(Box<Snapshot>),
    /// `since>0` up to the head: the events after it, in order, and the
    /// feed's head.
    Events {
        /// Each `{seq, at, type, data}` (docs/events.md).
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
        events: Vec<Box<RawValue>>,
        head: Seq,
    },
    /// Issue 18: asked with `page_size` (`since=0`, a `cursor`, or a since
    /// the server answers with a fresh snapshot: ahead of the head or too
    /// far behind it): one page of the workspace at the page's `seq`.
    SnapshotPage(Box<SnapshotPage>),
}

// ---- issue 18: paged snapshots ---------------------------------------------

/// One page of a paged snapshot (docs/protocol.md): the snapshot's fields
/// for this page's chats, read at `seq`, and the cursor of the next page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPage {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// `GET /v1/sync?since=0&page_size=&cursor=` with this value for the
    /// next page; absent after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The first page of a fresh snapshot for a client that had state (its
    /// since was ahead of the head, or too far behind it): the client
    /// replaces what it derived from the feed, keeping its outbox and local
    /// state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
}

/// A client this many events behind the head or more gets a fresh paged
/// snapshot instead of the events (when it asks with `page_size`).
pub const FAR_BEHIND_EVENTS: u64 = 100_000;

/// The WebSocket close code of a live stream whose session ended (logout,
/// revocation, expiry): the client reconnects, which refreshes or logs out.
/// The close reason is the [`ErrorCode`] string.
pub const STREAM_CLOSED_SESSION_ENDED: u16 = 4401;
/// The close code of a live stream whose member lost conversations access
/// (D1: a role change): reconnecting will not help.
pub const STREAM_CLOSED_FORBIDDEN: u16 = 4403;
/// The close code of a live stream opened with a `since` ahead of the
/// feed's head, or whose `since_at` is not the time of the log's event at
/// `since` (the server lost its log's tail in a crash, issue 16 hole 7):
/// the client pulls `GET /v1/sync` with the same cursor, which answers a
/// fresh snapshot. The close reason is `resync`.
pub const STREAM_CLOSED_RESYNC: u16 = 4409;

/// One frame of `GET /v1/stream` (a WebSocket text message).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamFrame {
    Events {
        /// Each `{seq, at, type, data}` (docs/events.md).
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
        events: Vec<Box<RawValue>>,
    },
    /// Sent when the stream is idle, so both ends notice a dead link.
    Heartbeat { head: Seq, server_time: Timestamp },
}

/// How a client reads a `kind: events` page: a plain struct, since serde
/// cannot keep raw JSON inside an internally tagged enum when decoding.
#[derive(Debug, Deserialize)]
pub struct EventsPageIn {
    pub events: Vec<Box<RawValue>>,
    pub head: Seq,
}

/// How a client reads a stream frame (see [`EventsPageIn`]).
#[derive(Debug, Deserialize)]
pub struct StreamFrameIn {
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Box<RawValue>>,
    #[serde(default)]
    pub head: Option<Seq>,
}

/// `GET /v1/chats/{id}/messages`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// `PATCH /v1/subscribers/{id}`: F5 variables (an empty value removes one)
/// and tags, F6 a flow to start (`""` stops the active one), F8 disable,
/// G2 the CRM contact.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberEdit {
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    #[serde(default)]
    pub disable: bool,
    #[serde(default)]
    pub flow_id: Option<String>,
    #[serde(default)]
    pub crm_contact: Option<crate::model::CrmContact>,
}

/// `POST /v1/uploads` and `PUT /v1/uploads/{id}/content` (E2): how many
/// bytes of the upload the server holds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub id: String,
    pub size_bytes: u64,
    pub received: u64,
}

/// F7 / E3: what to do with the bot pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PauseAction {
    Start,
    Extend,
    Continue,
}

/// E2: a file as the server knows it (`POST /v1/uploads`): uploaded in
/// parts to `id` (chosen by the client from the command's key, so a
/// restarted upload finds the parts already sent), checked against `sha256`
/// when complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadRef {
    pub id: String,
    pub name: String,
    pub size_bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// `GET /v1/sync?since=&limit=`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SyncQuery {
    /// `0`: a snapshot; otherwise the events after this seq.
    pub since: u64,
    /// The `at` (ms) of the client's event at `since`: when the log's event
    /// there has another time (the server lost its tail in a crash and gave
    /// the seq to a new event), the answer is a fresh snapshot.
    pub since_at: Option<i64>,
    /// Events per page.
    pub limit: Option<u32>,
    /// Issue 18: chats per snapshot page. A client that sends it takes a
    /// snapshot in pages (`kind: snapshot_page`); without it, `since=0` is
    /// answered with the whole snapshot at once (older clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Issue 18: the `next` of the previous snapshot page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `GET /v1/stream?since=`: live events after this seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct StreamQuery {
    pub since: u64,
    /// As in [`SyncQuery::since_at`]; a mismatch closes with
    /// [`STREAM_CLOSED_RESYNC`].
    pub since_at: Option<i64>,
}

/// `GET /v1/chats/{id}/messages?before=&limit=` (B1: older history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// The oldest message the client holds; absent: the newest page.
    pub before: Option<String>,
    pub limit: Option<u32>,
}

/// `PUT /v1/uploads/{id}/content?offset=` (E2): where this part starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PartQuery {
    pub offset: u64,
}

/// `GET /v1/flows?q=` (F6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct FlowQuery {
    #[serde(default)]
    pub q: String,
}

/// Events as they travel. (The server sends its log's JSON as it is.)
pub fn events_to_raw(events: &[Event]) -> Vec<Box<RawValue>> {
    events
        .iter()
        .filter_map(|e| RawValue::from_string(e.to_json()).ok())
        .collect()
}

/// Where a device gets its pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PushPlatform {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
}

/// H2: a device registered for pushes (`PUT /v1/devices`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRegistration {
    /// The app's own id for the installation (stable across token changes).
    pub device_id: String,
    pub platform: PushPlatform,
    /// The FCM registration token or APNs device token. Secret.
    pub token: String,
}

/// H4: how the member is told about new conversations (`/v1/settings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    /// H1: an email about the latest open chat, at most once an hour.
    pub email: bool,
    /// Messages from the notifications bot (a Telegram bot of the
    /// platform's).
    pub notifications_bot: bool,
    /// H2: pushes to the member's devices.
    pub push: bool,
    /// Whether a push carries a short preview of the message (off: only
    /// "New message", for lock screens others see).
    pub push_preview: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            email: true,
            notifications_bot: false,
            push: true,
            push_preview: true,
        }
    }
}

// ---- issue 16 hole 4: the bounded fields of the bodies ----------------------

use crate::policy::fields::{Field, check_all};

impl SubscriberEdit {
    /// F5/F6/F8: its tags, flow and variables within their bounds.
    pub fn check_fields(&self) -> Result<(), crate::policy::Refusal> {
        let tags = self.add_tags.iter().chain(&self.remove_tags);
        check_all(
            tags.map(|t| (Field::Tag, t.as_str()))
                .chain(self.flow_id.iter().map(|f| (Field::Flow, f.as_str())))
                .chain(self.variables.iter().flat_map(|(k, v)| {
                    [
                        (Field::VariableName, k.as_str()),
                        (Field::VariableValue, v.as_str()),
                    ]
                })),
        )
    }

    /// F5/F8: the card `s` with this edit's variables (an empty value
    /// removes one), tags and disable applied; its flow and CRM contact are
    /// the caller's.
    pub fn apply_to(&self, s: &mut crate::model::Subscriber) {
        for (k, v) in &self.variables {
            if v.is_empty() {
                s.variables.remove(k);
            } else {
                s.variables.insert(k.clone(), v.clone());
            }
        }
        s.tags.retain(|t| !self.remove_tags.contains(t));
        for t in &self.add_tags {
            if !s.tags.contains(t) {
                s.tags.push(t.clone());
            }
        }
        if self.disable {
            s.status = crate::model::SubscriptionStatus::Disabled;
        }
    }
}

impl DealFields {
    /// G1/G3: its name, currency, pipeline and stage within their bound.
    pub fn check_fields(&self) -> Result<(), crate::policy::Refusal> {
        let named = self.pipeline.iter().chain(&self.stage);
        check_all(
            named
                .flat_map(|n| [n.id.as_str(), n.name.as_str()])
                .chain(self.name.as_deref())
                .chain(self.currency.as_deref())
                .map(|v| (Field::Deal, v)),
        )
    }
}

impl UploadRef {
    /// E2: its file name within its bound.
    pub fn check_fields(&self) -> Result<(), crate::policy::Refusal> {
        crate::policy::fields::check(Field::FileName, &self.name)
    }
}
