//! The core's plain data, declared to UniFFI as it is (`#[uniffi::remote]`):
//! no copies, no conversions. A field or variant added in the core fails to
//! compile here until it is declared, so the apps never miss one silently.
//! Ids are strings and times are milliseconds (server time) on the other
//! side.

use rapport_core::model::{
    AdRef, App, Attachment, Bot, BotId, BotStats, Chat, ChatId, ChatKind, ChatState, ChatStatus,
    ChatSummary, Content, ContentKind, CrmContact, DealId, Delivery, Direction, MediaKind, Member,
    MemberId, Message, MessageId, Named, Note, NoteId, Preview, Quote, Reaction, ReactionBy,
    Sender, SubscriberId, Timestamp,
};
use rapport_core::outbox::UploadProgress;
use rapport_core::outbox::{OutboxEntry, OutboxState};
use rapport_core::policy::text::LengthUnit;
use rapport_core::policy::window::{Alternative, MessageTag, WindowState};
use rapport_core::policy::{Cost, Decision, Refusal};
use rapport_core::push::{
    Decision as PushDecision, DeviceRegistration, NotificationSettings, PushPlatform, ReplyOutcome,
    Suppressed,
};
use rapport_core::store::{
    ChatCursor, ChatPage, StatusCounts, TimelineCursor, TimelineItem, TimelinePage,
};
use rapport_core::sync::{Action, Capabilities, PauseAction, UploadRef};
use rapport_core::timers::{Countdowns, DeadlineKey, TimerEvent};
use rapport_core::wire::SubscriberEdit;
use std::collections::HashMap;

macro_rules! string_ids {
    ($($t:ident),*) => {$(
        uniffi::custom_type!($t, String, {
            remote,
            lower: |id| id.0,
            try_lift: |s| Ok($t(s)),
        });
    )*};
}
string_ids!(
    BotId,
    ChatId,
    SubscriberId,
    MessageId,
    NoteId,
    MemberId,
    DealId
);

uniffi::custom_type!(Timestamp, i64, {
    remote,
    lower: |t| t.0,
    try_lift: |ms| Ok(Timestamp(ms)),
});

#[uniffi::remote(Enum)]
pub enum App {
    Telegram,
    Whatsapp,
    Instagram,
    Messenger,
    Viber,
    Livechat,
}

#[uniffi::remote(Enum)]
pub enum ChatKind {
    Personal,
    Group,
}

#[uniffi::remote(Enum)]
pub enum ChatState {
    Open,
    Closed,
}

#[uniffi::remote(Enum)]
pub enum ChatStatus {
    Open,
    Unread,
    Closed,
}

#[uniffi::remote(Enum)]
pub enum Direction {
    Inbound,
    Outbound,
}

#[uniffi::remote(Enum)]
pub enum ContentKind {
    Text,
    ButtonPress,
    Attachment,
    AdClick,
    StoryMention,
    Template,
}

#[uniffi::remote(Enum)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

#[uniffi::remote(Enum)]
pub enum Delivery {
    Sent,
    Delivered,
    Read,
    Failed,
    Pending,
}

#[uniffi::remote(Record)]
pub struct Chat {
    pub id: ChatId,
    pub bot_id: BotId,
    pub app: App,
    pub kind: ChatKind,
    pub subscriber_id: SubscriberId,
    pub title: String,
    pub avatar_url: Option<String>,
    pub state: ChatState,
    pub assignee: Option<MemberId>,
    pub last_activity: Timestamp,
    pub unread_count: u32,
    pub last_inbound_at: Option<Timestamp>,
    pub paused_until: Option<Timestamp>,
}

#[uniffi::remote(Record)]
pub struct Preview {
    pub message_id: MessageId,
    pub direction: Direction,
    pub kind: ContentKind,
    pub text: String,
    pub at: Timestamp,
}

#[uniffi::remote(Record)]
pub struct ChatSummary {
    pub chat: Chat,
    pub status: ChatStatus,
    pub preview: Option<Preview>,
}

#[uniffi::remote(Record)]
pub struct ChatCursor {
    pub last_activity: i64,
    pub rid: i64,
}

#[uniffi::remote(Record)]
pub struct ChatPage {
    pub rows: Vec<ChatSummary>,
    pub next: Option<ChatCursor>,
}

#[uniffi::remote(Record)]
pub struct StatusCounts {
    pub open: u64,
    pub unread: u64,
    pub closed: u64,
    pub all: u64,
}

#[uniffi::remote(Enum)]
pub enum Sender {
    Subscriber,
    Bot,
    ThirdPartyApp,
    Member(MemberId),
}

#[uniffi::remote(Record)]
pub struct Attachment {
    pub name: String,
    pub size_bytes: u64,
    pub mime: String,
    pub media: MediaKind,
    pub url: Option<String>,
    pub caption: Option<String>,
}

#[uniffi::remote(Record)]
pub struct AdRef {
    pub name: String,
    pub url: String,
}

#[uniffi::remote(Enum)]
pub enum Content {
    Text { text: String },
    ButtonPress { label: String },
    Attachment(Attachment),
    AdClick { ad: AdRef, text: Option<String> },
    StoryMention { story_url: String },
    Template { name: String, text: String },
}

#[uniffi::remote(Record)]
pub struct Quote {
    pub message_id: MessageId,
    pub text: String,
}

#[uniffi::remote(Enum)]
pub enum ReactionBy {
    Subscriber,
    Member(MemberId),
}

#[uniffi::remote(Record)]
pub struct Reaction {
    pub emoji: String,
    pub by: ReactionBy,
}

#[uniffi::remote(Record)]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub sender: Sender,
    pub content: Content,
    pub sent_at: Timestamp,
    pub delivery: Option<Delivery>,
    pub quote: Option<Quote>,
    pub reactions: Vec<Reaction>,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub in_reply_to_ad: Option<AdRef>,
}

#[uniffi::remote(Record)]
pub struct Note {
    pub id: NoteId,
    pub chat_id: ChatId,
    pub author: MemberId,
    pub text: String,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
}

#[uniffi::remote(Enum)]
pub enum TimelineItem {
    Message(Message),
    Note(Note),
}

#[uniffi::remote(Record)]
pub struct TimelineCursor {
    pub at: i64,
    pub kind: u8,
    pub rid: i64,
}

#[uniffi::remote(Record)]
pub struct TimelinePage {
    pub items: Vec<TimelineItem>,
    pub older: Option<TimelineCursor>,
}

#[uniffi::remote(Record)]
pub struct Bot {
    pub id: BotId,
    pub app: App,
    pub name: String,
    pub created_at: Timestamp,
}

#[uniffi::remote(Record)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub avatar_url: Option<String>,
    pub role: String,
    pub conversations_access: bool,
}

#[uniffi::remote(Record)]
pub struct BotStats {
    pub bot_id: Option<BotId>,
    pub sent: u64,
    pub received: u64,
    pub subscribers: u64,
}

// Policy (E1-E6, B7/B8): what a screen asks before sending.

#[uniffi::remote(Enum)]
pub enum LengthUnit {
    Characters,
    Utf16Units,
    Utf8Bytes,
}

#[uniffi::remote(Enum)]
pub enum MessageTag {
    HumanAgent,
    ConfirmedEventUpdate,
    PostPurchaseUpdate,
    AccountUpdate,
}

#[uniffi::remote(Enum)]
pub enum Refusal {
    TextEmpty,
    TextTooLong {
        limit: u32,
        actual: u32,
        unit: LengthUnit,
    },
    AttachmentTooLarge {
        limit_bytes: u64,
        actual_bytes: u64,
    },
    Executable {
        kind: String,
    },
    FileEmpty,
    NotAssignable,
    WindowClosed {
        closed_at: Option<Timestamp>,
    },
    NotSupported {
        app: App,
    },
    WrongMessage,
    TooOld {
        deadline: Timestamp,
    },
    FieldTooLong {
        field: String,
        limit: u32,
        actual: u32,
        unit: LengthUnit,
    },
    NotOffered {
        feature: String,
    },
}

#[uniffi::remote(Enum)]
pub enum WindowState {
    Unlimited,
    Open { closes_at: Timestamp },
    Closed { closed_at: Option<Timestamp> },
}

#[uniffi::remote(Enum)]
pub enum Alternative {
    WhatsappTemplate,
    MessengerTag(MessageTag),
}

#[uniffi::remote(Enum)]
pub enum Cost {
    Free,
    FreeQuota { remaining_after: u32 },
    Paid,
}

#[uniffi::remote(Enum)]
pub enum Decision {
    Allowed {
        window: WindowState,
        cost: Cost,
    },
    Refused {
        reason: Refusal,
        instead: Vec<Alternative>,
    },
}

#[uniffi::remote(Record)]
pub struct Countdowns {
    pub window: WindowState,
    pub pause_left_ms: Option<i64>,
}

/// What an agent wants to send, for [`crate::RapportClient::decide`] (the
/// core's `Outgoing` borrows its text; this owns it).
#[derive(uniffi::Enum)]
pub enum Outgoing {
    Text { text: String },
    Attachment { media: MediaKind, size_bytes: u64 },
    Template { name: String },
    Tagged { tag: MessageTag, text: String },
}

impl Outgoing {
    pub(crate) fn as_core(&self) -> rapport_core::policy::Outgoing<'_> {
        use rapport_core::policy::Outgoing as O;
        match self {
            Outgoing::Text { text } => O::Text(text),
            Outgoing::Attachment { media, size_bytes } => O::Attachment {
                media: *media,
                size_bytes: *size_bytes,
            },
            Outgoing::Template { name } => O::Template { name },
            Outgoing::Tagged { tag, text } => O::Tagged { tag: *tag, text },
        }
    }
}

// Timers (S4).

#[uniffi::remote(Enum)]
pub enum DeadlineKey {
    WindowCloses(ChatId),
    PauseEnds(ChatId),
    EditDeleteEnds(ChatId, MessageId),
}

#[uniffi::remote(Record)]
pub struct TimerEvent {
    pub key: DeadlineKey,
    pub at: Timestamp,
}

// Agent actions and the outbox (E7).

#[uniffi::remote(Enum)]
pub enum PauseAction {
    Start,
    Extend,
    Continue,
}

#[uniffi::remote(Record)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[uniffi::remote(Record)]
pub struct CrmContact {
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
}

/// The core's `SubscriberEdit` with its variables in a map UniFFI knows.
#[derive(uniffi::Record)]
pub struct SubscriberChanges {
    #[uniffi(default)]
    pub variables: HashMap<String, String>,
    #[uniffi(default)]
    pub add_tags: Vec<String>,
    #[uniffi(default)]
    pub remove_tags: Vec<String>,
    #[uniffi(default)]
    pub disable: bool,
    #[uniffi(default)]
    pub flow_id: Option<String>,
    #[uniffi(default)]
    pub crm_contact: Option<CrmContact>,
}

uniffi::custom_type!(SubscriberEdit, SubscriberChanges, {
    remote,
    lower: |e| SubscriberChanges {
        variables: e.variables.into_iter().collect(),
        add_tags: e.add_tags,
        remove_tags: e.remove_tags,
        disable: e.disable,
        flow_id: e.flow_id,
        crm_contact: e.crm_contact,
    },
    try_lift: |c| Ok(SubscriberEdit {
        variables: c.variables.into_iter().collect(),
        add_tags: c.add_tags,
        remove_tags: c.remove_tags,
        disable: c.disable,
        flow_id: c.flow_id,
        crm_contact: c.crm_contact,
    }),
});

#[uniffi::remote(Record)]
pub struct UploadRef {
    pub id: String,
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
}

#[uniffi::remote(Enum)]
pub enum Action {
    SendText {
        chat_id: ChatId,
        text: String,
        message_id: Option<MessageId>,
    },
    SendTemplate {
        chat_id: ChatId,
        name: String,
        message_id: Option<MessageId>,
    },
    SendTagged {
        chat_id: ChatId,
        tag: MessageTag,
        text: String,
        message_id: Option<MessageId>,
    },
    SendAttachment {
        chat_id: ChatId,
        upload: UploadRef,
        caption: Option<String>,
        message_id: Option<MessageId>,
    },
    MarkRead {
        chat_id: ChatId,
    },
    Open {
        chat_id: ChatId,
    },
    Close {
        chat_id: ChatId,
    },
    Assign {
        chat_id: ChatId,
        member_id: Option<MemberId>,
    },
    Pause {
        chat_id: ChatId,
        action: PauseAction,
    },
    EditMessage {
        chat_id: ChatId,
        message_id: MessageId,
        text: String,
    },
    DeleteMessage {
        chat_id: ChatId,
        message_id: MessageId,
    },
    React {
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Option<String>,
    },
    AddNote {
        chat_id: ChatId,
        text: String,
    },
    EditNote {
        chat_id: ChatId,
        note_id: NoteId,
        text: String,
    },
    DeleteNote {
        chat_id: ChatId,
        note_id: NoteId,
    },
    EditSubscriber {
        subscriber_id: SubscriberId,
        edit: SubscriberEdit,
    },
    AddDeal {
        subscriber_id: SubscriberId,
        pipeline: Named,
        stage: Named,
        name: String,
        amount_minor: i64,
        currency: String,
    },
    EditDeal {
        deal_id: DealId,
        stage: Option<Named>,
        name: Option<String>,
        amount_minor: Option<i64>,
    },
}

#[uniffi::remote(Enum)]
pub enum OutboxState {
    Queued,
    Failed { code: String, message: String },
}

#[uniffi::remote(Record)]
pub struct OutboxEntry {
    pub id: i64,
    pub key: String,
    pub chat_id: Option<ChatId>,
    pub action: Action,
    pub echo_id: Option<MessageId>,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// Which chats a list shows (A2-A6); the default shows every chat.
#[derive(uniffi::Record, Default)]
pub struct ChatFilter {
    /// A2: one messaging app, or all.
    #[uniffi(default)]
    pub app: Option<App>,
    /// A3: personal or group chats, or both.
    #[uniffi(default)]
    pub kind: Option<ChatKind>,
    /// A4.
    pub assignee: AssigneeFilter,
    /// A5.
    pub status: StatusFilter,
    /// A6: the words typed in the search box.
    #[uniffi(default)]
    pub search: Option<String>,
}

pub use rapport_core::store::{AssigneeFilter, StatusFilter};

#[uniffi::remote(Enum)]
pub enum AssigneeFilter {
    All,
    Mine,
    Unassigned,
}

#[uniffi::remote(Enum)]
pub enum StatusFilter {
    All,
    Open,
    Unread,
    Closed,
}

impl From<ChatFilter> for rapport_core::store::ChatFilter {
    fn from(f: ChatFilter) -> Self {
        rapport_core::store::ChatFilter {
            app: f.app,
            kind: f.kind,
            assignee: f.assignee,
            status: f.status,
            search: f.search,
        }
    }
}

/// Who is logged in.
#[uniffi::remote(Record)]
pub struct LoginInfo {
    pub member_id: MemberId,
    pub workspace_id: String,
    pub expires_at: Timestamp,
}
pub use rapport_core::client::LoginInfo;

/// S2: where sync stands (the core's `SyncState`, durations in ms).
#[derive(uniffi::Enum, Clone, Debug, PartialEq)]
pub enum SyncState {
    Idle,
    Snapshot,
    CatchingUp { at: u64, head: u64 },
    Live { at: u64 },
    Offline { retry_in_ms: u64, reason: String },
    Failed { code: String, reason: String },
}

impl From<rapport_core::sync::SyncState> for SyncState {
    fn from(s: rapport_core::sync::SyncState) -> Self {
        use rapport_core::sync::SyncState as S;
        match s {
            S::Idle => SyncState::Idle,
            S::Snapshot => SyncState::Snapshot,
            S::CatchingUp { at, head } => SyncState::CatchingUp {
                at: at.0,
                head: head.0,
            },
            S::Live { at } => SyncState::Live { at: at.0 },
            S::Offline { retry_in, reason } => SyncState::Offline {
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                reason,
            },
            S::Failed { code, reason } => SyncState::Failed { code, reason },
        }
    }
}

/// What the backend can do (a screen hides the rest).
#[uniffi::remote(Record)]
pub struct Capabilities {
    pub live_stream: bool,
    pub edit_delete: bool,
    pub quotes: bool,
    pub idempotency: bool,
    pub files: bool,
    pub reactions: bool,
    pub templates: bool,
    pub flows: bool,
    pub deals: bool,
    pub notes: bool,
}

// E2 and notifications (H2-H4).

#[uniffi::remote(Record)]
pub struct UploadProgress {
    pub key: String,
    pub message_id: Option<MessageId>,
    pub sent_bytes: u64,
    pub total_bytes: u64,
}

#[uniffi::remote(Enum)]
pub enum PushPlatform {
    Fcm,
    Apns,
}

#[uniffi::remote(Record)]
pub struct DeviceRegistration {
    pub device_id: String,
    pub platform: PushPlatform,
    pub token: String,
}

#[uniffi::remote(Record)]
pub struct NotificationSettings {
    pub email: bool,
    pub notifications_bot: bool,
    pub push: bool,
    pub push_preview: bool,
}

#[uniffi::remote(Enum)]
pub enum Suppressed {
    Viewing,
    Muted,
    AlreadyShown,
    OtherWorkspace,
}

/// H2: what to show for a push (`tag`: one live notification per chat).
#[uniffi::remote(Enum)]
pub enum PushDecision {
    Show {
        tag: String,
        chat_id: ChatId,
        title: String,
        body: String,
        count: u32,
        alert: bool,
        badge: u64,
    },
    Suppress {
        reason: Suppressed,
        badge: u64,
    },
    /// B10: the chat was read on some device: cancel the notification
    /// with this tag (a silent push, nothing to show).
    Remove {
        tag: String,
        chat_id: ChatId,
        badge: u64,
    },
}

#[uniffi::remote(Record)]
pub struct ReplyOutcome {
    pub message_id: MessageId,
    pub delivered: bool,
}
