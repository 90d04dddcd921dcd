//! Push notifications (H2, D2): decoding what FCM or APNs delivered, and
//! deciding what to show; H3's short-lived reply path is [`NotificationClient`].
//!
//! A payload is JSON (an FCM data message's `rapport` field, or the APNs
//! `userInfo["rapport"]`). Decoding never panics: a payload that is not
//! Rapport's, is malformed, or comes from a newer server is a typed
//! [`PushError`].
//!
//! Deciding ([`decide`]) is a pure function of the payload, what the app is
//! showing, the chat's mute setting, and the chat's last notification (kept
//! per chat in the store, so a short-lived process reads and writes one
//! chat's row only):
//! - one live notification per chat, replaced as messages come (its tag is
//!   the chat id), tapping it opens the chat;
//! - a burst (messages within [`BURST_MS`] of the last alert) updates the
//!   notification silently, with the count of messages, instead of
//!   alerting again;
//! - nothing for the chat on screen, for a muted chat, or for a message
//!   already notified (pushes can arrive twice or late);
//! - the badge is the number of unread chats;
//! - B10: a chat read on any device removes its notification everywhere.
//!   The server sends a silent push ([`PushKind::ChatRead`]) to every member
//!   who may hold one (the chat is read for all of them), and [`decide`]
//!   answers [`Decision::Remove`] with the tag to cancel. A silent push,
//!   not only a core event of the running app, because the notifications
//!   stay on devices whose app is not running; the running app's FCM
//!   service (or iOS background push) goes through the same decision.
//!
//! A tapped notification names the chat to open: [`chat_to_open`].

pub(crate) mod reply;

pub use reply::{NotificationClient, NotificationError, NotificationResult, ReplyOutcome};

use crate::model::{ChatId, MessageId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

/// H2: the chat a tapped notification opens (the app passes what the
/// platform handed it: FCM's data map or APNs' userInfo, as JSON).
pub fn chat_to_open(platform_json: &str) -> Result<ChatId, PushError> {
    Ok(decode(platform_json)?.chat_id)
}

/// The payload version this build reads.
pub const VERSION: u32 = 1;
/// Messages closer together than this to the last alert update the
/// notification without a new sound (H2 batching).
pub const BURST_MS: i64 = 30_000;

/// Why a push is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// H2: a subscriber wrote.
    NewMessage,
    /// D2: a subscriber reached an "open chat" action in a chat assigned to
    /// the member.
    ChatOpened,
    /// B10: the chat was read (on any device): a silent push, its
    /// notification goes.
    ChatRead,
}

/// What the server sends through FCM/APNs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPayload {
    pub v: u32,
    pub kind: PushKind,
    pub workspace_id: String,
    pub chat_id: ChatId,
    pub message_id: MessageId,
    pub seq: Seq,
    pub sent_at: Timestamp,
    /// The chat's title (the subscriber's name).
    pub title: String,
    /// A short preview, if the member's privacy setting allows it.
    #[serde(default)]
    pub preview: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    /// Another SDK's push, or a silent system push: not ours to show.
    #[error("not a Rapport push")]
    NotRapport,
    #[error("malformed Rapport push: {0}")]
    Malformed(String),
    /// From a newer server: the app shows a generic notification.
    #[error("push version {0} is newer than this app")]
    UnsupportedVersion(u32),
}

/// Decodes a push from the JSON object the platform delivered (FCM's data
/// map or APNs' userInfo), which carries the payload under `rapport`,
/// either as an object or as a JSON string (FCM data values are strings).
pub fn decode(platform_json: &str) -> Result<PushPayload, PushError> {
    let outer: serde_json::Value =
        serde_json::from_str(platform_json).map_err(|_| PushError::NotRapport)?;
    let inner = match outer.get("rapport") {
        None => return Err(PushError::NotRapport),
        Some(serde_json::Value::String(s)) => serde_json::from_str(s).map_err(|e| {
            PushError::Malformed(format!("{:?} at {}:{}", e.classify(), e.line(), e.column()))
        })?,
        Some(v) => v.clone(),
    };
    let v = inner
        .get("v")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if v > u64::from(VERSION) {
        return Err(PushError::UnsupportedVersion(
            u32::try_from(v).unwrap_or(u32::MAX),
        ));
    }
    // The reason names the field, never its value (it may be text).
    serde_json::from_value(inner).map_err(|e| PushError::Malformed(format!("{:?}", e.classify())))
}

// The bodies of `/v1/devices` and `/v1/settings` are part of the wire
// contract.
pub use crate::wire::{DeviceRegistration, NotificationSettings, PushPlatform};

/// The longest preview a push carries (characters): enough for a lock
/// screen, little of a private message.
pub const PREVIEW_CHARS: usize = 100;

/// What FCM or APNs is asked to deliver for `p`: the data [`decode`]
/// reads back on the device (`data.rapport` as a string for FCM, whose data
/// values are strings; `rapport` beside `aps` for APNs), collapsed per chat.
/// H3: the notification category an APNs alert names (`aps.category`): the
/// one the iOS app registers with its Reply and Mark read actions
/// (`NotificationIds.chatCategory` in ios/Shared/PushPayload.swift), so the
/// actions show even when the Notification Service Extension could not
/// rewrite the notification.
pub const APNS_CATEGORY: &str = "RAPPORT_CHAT";

pub fn envelope(platform: PushPlatform, token: &str, p: &PushPayload) -> serde_json::Value {
    let inner = serde_json::to_value(p).unwrap_or_default();
    let tag = format!("chat:{}", p.chat_id);
    if p.kind == PushKind::ChatRead {
        // Silent: data only, no alert; collapsed with the chat's pending
        // push (which it makes moot).
        return match platform {
            PushPlatform::Fcm => serde_json::json!({
                "message": {
                    "token": token,
                    "data": { "rapport": inner.to_string() },
                    "android": { "priority": "normal", "collapse_key": tag },
                }
            }),
            PushPlatform::Apns => serde_json::json!({
                "token": token,
                "headers": {
                    "apns-collapse-id": tag,
                    "apns-push-type": "background",
                    "apns-priority": "5",
                },
                "payload": { "aps": { "content-available": 1 }, "rapport": inner },
            }),
        };
    }
    match platform {
        PushPlatform::Fcm => serde_json::json!({
            "message": {
                "token": token,
                "data": { "rapport": inner.to_string() },
                "android": { "priority": "high", "collapse_key": tag },
            }
        }),
        PushPlatform::Apns => serde_json::json!({
            "token": token,
            "headers": { "apns-collapse-id": tag, "apns-push-type": "alert" },
            "payload": {
                "aps": {
                    "alert": { "title": p.title, "body": p.preview.as_deref().unwrap_or("New message") },
                    "mutable-content": 1,
                    "thread-id": tag,
                    "category": APNS_CATEGORY,
                },
                "rapport": inner,
            }
        }),
    }
}

/// What the notification of a chat last showed (kept per chat).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPushState {
    /// When it last alerted with sound.
    pub last_alert_at: Option<Timestamp>,
    /// The last seq it showed.
    pub last_seq: Seq,
    /// Messages it counts (reset when the chat is read).
    pub count: u32,
}

/// What the app is doing, as the decision needs it.
#[derive(Clone, Debug, Default)]
pub struct PushContext {
    /// The logged-in member's workspace.
    pub workspace_id: String,
    /// The chat on screen, if any.
    pub viewing: Option<ChatId>,
    pub muted: bool,
    /// Unread chats (the badge), the new message counted.
    pub unread_chats: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suppressed {
    Viewing,
    Muted,
    AlreadyShown,
    OtherWorkspace,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Show {
        /// One live notification per chat: the same tag replaces it.
        tag: String,
        chat_id: ChatId,
        title: String,
        /// The preview, or "N new messages" when batched.
        body: String,
        /// Messages it stands for.
        count: u32,
        /// Whether it alerts (sound, heads-up) or updates silently.
        alert: bool,
        badge: u64,
    },
    /// Nothing to show; the badge may still change.
    Suppress { reason: Suppressed, badge: u64 },
    /// B10: the chat was read: cancel the notification with this tag.
    Remove {
        tag: String,
        chat_id: ChatId,
        badge: u64,
    },
}

/// H2: what to show for `p`, and the chat's new push state.
pub fn decide(
    p: &PushPayload,
    ctx: &PushContext,
    state: ChatPushState,
    now: Timestamp,
) -> (Decision, ChatPushState) {
    let badge = ctx.unread_chats;
    let suppress = |reason| (Decision::Suppress { reason, badge }, state);
    if p.workspace_id != ctx.workspace_id {
        return suppress(Suppressed::OtherWorkspace);
    }
    if p.seq <= state.last_seq {
        return suppress(Suppressed::AlreadyShown);
    }
    if p.kind == PushKind::ChatRead {
        // Read after the last message shown (an earlier read is moot): the
        // count starts again.
        return (
            Decision::Remove {
                tag: format!("chat:{}", p.chat_id),
                chat_id: p.chat_id.clone(),
                badge,
            },
            ChatPushState {
                last_alert_at: None,
                last_seq: p.seq,
                count: 0,
            },
        );
    }
    if ctx.viewing.as_ref() == Some(&p.chat_id) {
        return (
            Decision::Suppress {
                reason: Suppressed::Viewing,
                badge,
            },
            ChatPushState {
                last_seq: p.seq,
                ..state
            },
        );
    }
    if ctx.muted {
        return (
            Decision::Suppress {
                reason: Suppressed::Muted,
                badge,
            },
            ChatPushState {
                last_seq: p.seq,
                ..state
            },
        );
    }
    let count = state.count.saturating_add(1);
    let burst = state
        .last_alert_at
        .is_some_and(|t| now.0 - t.0 < BURST_MS && p.kind == PushKind::NewMessage);
    let body = match (p.kind, count, &p.preview) {
        (PushKind::ChatOpened, _, _) => "Opened a chat with you".to_owned(),
        (PushKind::ChatRead, _, _) => String::new(), // answered above
        (_, 1, Some(text)) => text.clone(),
        (_, 1, None) => "New message".to_owned(),
        (_, n, _) => format!("{n} new messages"),
    };
    let next = ChatPushState {
        last_alert_at: if burst {
            state.last_alert_at
        } else {
            Some(now)
        },
        last_seq: p.seq,
        count,
    };
    (
        Decision::Show {
            tag: format!("chat:{}", p.chat_id),
            chat_id: p.chat_id.clone(),
            title: p.title.clone(),
            body,
            count,
            alert: !burst,
            badge,
        },
        next,
    )
}

/// Decides on a push with what the store knows (the chat's mute and last
/// notification, the unread chats for the badge) and records the new
/// notification state. Reads and writes this one chat's rows only.
pub fn handle(
    store: &crate::Store,
    p: &PushPayload,
    workspace_id: &str,
    viewing: Option<&ChatId>,
    now: Timestamp,
) -> crate::store::Result<Decision> {
    let (state, muted) = store.push_state(&p.chat_id)?;
    let ctx = PushContext {
        workspace_id: workspace_id.to_owned(),
        viewing: viewing.cloned(),
        muted,
        unread_chats: store.status_counts(&Default::default())?.unread,
    };
    let (decision, next) = decide(p, &ctx, state, now);
    if next != state {
        store.set_push_state(&p.chat_id, next)?;
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(seq: u64) -> PushPayload {
        PushPayload {
            v: 1,
            kind: PushKind::NewMessage,
            workspace_id: "w1".into(),
            chat_id: ChatId::from("c1"),
            message_id: MessageId(format!("m{seq}")),
            seq: Seq(seq),
            sent_at: Timestamp(1_000),
            title: "José Álvarez".into(),
            preview: Some("¿Hay envío hoy?".into()),
        }
    }

    fn ctx() -> PushContext {
        PushContext {
            workspace_id: "w1".into(),
            viewing: None,
            muted: false,
            unread_chats: 3,
        }
    }

    #[test]
    fn h2_decode_accepts_objects_and_fcm_strings_and_types_every_failure() {
        let p = payload(7);
        let obj = serde_json::json!({ "rapport": p }).to_string();
        assert_eq!(decode(&obj).unwrap(), p);
        let fcm = serde_json::json!({ "rapport": serde_json::to_string(&p).unwrap() }).to_string();
        assert_eq!(decode(&fcm).unwrap(), p);
        assert_eq!(decode("not json"), Err(PushError::NotRapport));
        assert_eq!(
            decode(r#"{"aps":{"alert":"hi"}}"#),
            Err(PushError::NotRapport)
        );
        assert!(matches!(
            decode(r#"{"rapport":"{broken"}"#),
            Err(PushError::Malformed(_))
        ));
        assert!(matches!(
            decode(r#"{"rapport":{"v":1,"chat_id":5}}"#),
            Err(PushError::Malformed(_))
        ));
        assert_eq!(
            decode(r#"{"rapport":{"v":9}}"#),
            Err(PushError::UnsupportedVersion(9))
        );
        let secret = r#"{"rapport":{"v":1,"kind":"new_message","preview":"card 4111 1111"}}"#;
        match decode(secret) {
            Err(PushError::Malformed(reason)) => assert!(!reason.contains("4111"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn h2_one_notification_per_chat_a_burst_updates_silently_then_alerts_again() {
        let t = Timestamp(10_000_000);
        let (d1, s1) = decide(&payload(1), &ctx(), ChatPushState::default(), t);
        match &d1 {
            Decision::Show {
                tag,
                body,
                alert,
                count,
                badge,
                ..
            } => {
                assert_eq!(
                    (tag.as_str(), body.as_str(), *alert, *count, *badge),
                    ("chat:c1", "¿Hay envío hoy?", true, 1, 3)
                );
            }
            other => panic!("{other:?}"),
        }
        let (d2, s2) = decide(&payload(2), &ctx(), s1, t.plus_millis(5_000));
        match &d2 {
            Decision::Show {
                tag,
                body,
                alert,
                count,
                ..
            } => {
                assert_eq!(
                    (tag.as_str(), body.as_str(), *alert, *count),
                    ("chat:c1", "2 new messages", false, 2)
                );
            }
            other => panic!("{other:?}"),
        }
        let (d3, _) = decide(&payload(3), &ctx(), s2, t.plus_millis(BURST_MS + 1));
        assert!(matches!(
            d3,
            Decision::Show {
                alert: true,
                count: 3,
                ..
            }
        ));
    }

    #[test]
    fn h2_nothing_for_the_chat_on_screen_a_muted_chat_a_repeat_or_another_workspace() {
        let viewing = PushContext {
            viewing: Some(ChatId::from("c1")),
            ..ctx()
        };
        let (d, s) = decide(
            &payload(5),
            &viewing,
            ChatPushState::default(),
            Timestamp(1),
        );
        assert_eq!(
            d,
            Decision::Suppress {
                reason: Suppressed::Viewing,
                badge: 3
            }
        );
        assert_eq!(s.last_seq, Seq(5));
        let muted = PushContext {
            muted: true,
            ..ctx()
        };
        assert!(matches!(
            decide(&payload(6), &muted, s, Timestamp(1)).0,
            Decision::Suppress {
                reason: Suppressed::Muted,
                ..
            }
        ));
        // The same push twice, or a late one: shown once.
        let (_, shown) = decide(&payload(8), &ctx(), s, Timestamp(1));
        assert!(matches!(
            decide(&payload(8), &ctx(), shown, Timestamp(2)).0,
            Decision::Suppress {
                reason: Suppressed::AlreadyShown,
                ..
            }
        ));
        assert!(matches!(
            decide(&payload(7), &ctx(), shown, Timestamp(2)).0,
            Decision::Suppress {
                reason: Suppressed::AlreadyShown,
                ..
            }
        ));
        let other = PushContext {
            workspace_id: "w2".into(),
            ..ctx()
        };
        assert!(matches!(
            decide(&payload(9), &other, shown, Timestamp(2)).0,
            Decision::Suppress {
                reason: Suppressed::OtherWorkspace,
                ..
            }
        ));
    }

    #[test]
    fn b10_h2_a_read_removes_the_notification_and_a_later_message_alerts_again() {
        let read = |seq| PushPayload {
            kind: PushKind::ChatRead,
            preview: None,
            ..payload(seq)
        };
        let t = Timestamp(10_000_000);
        let (_, shown) = decide(&payload(1), &ctx(), ChatPushState::default(), t);
        let (_, shown) = decide(&payload(2), &ctx(), shown, t.plus_millis(1_000));
        let (d, s) = decide(&read(3), &ctx(), shown, t.plus_millis(2_000));
        assert_eq!(
            d,
            Decision::Remove {
                tag: "chat:c1".into(),
                chat_id: ChatId::from("c1"),
                badge: 3
            }
        );
        assert_eq!((s.count, s.last_seq, s.last_alert_at), (0, Seq(3), None));
        // Even for the chat on screen or a muted chat (nothing shows, but a
        // notification from before may).
        for c in [
            PushContext {
                viewing: Some(ChatId::from("c1")),
                ..ctx()
            },
            PushContext {
                muted: true,
                ..ctx()
            },
        ] {
            assert!(matches!(
                decide(&read(3), &c, shown, t).0,
                Decision::Remove { .. }
            ));
        }
        // A read older than the message shown leaves it; another
        // workspace's read is not ours.
        assert!(matches!(
            decide(&read(2), &ctx(), shown, t).0,
            Decision::Suppress {
                reason: Suppressed::AlreadyShown,
                ..
            }
        ));
        let other = PushContext {
            workspace_id: "w2".into(),
            ..ctx()
        };
        assert!(matches!(
            decide(&read(9), &other, shown, t).0,
            Decision::Suppress {
                reason: Suppressed::OtherWorkspace,
                ..
            }
        ));
        // The next message, within the burst window of the old alert,
        // alerts anew with its own preview.
        match decide(&payload(4), &ctx(), s, t.plus_millis(3_000)).0 {
            Decision::Show {
                alert, count, body, ..
            } => assert_eq!((alert, count, body.as_str()), (true, 1, "¿Hay envío hoy?")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn b10_a_read_travels_silently_and_decodes_back() {
        let p = PushPayload {
            kind: PushKind::ChatRead,
            preview: None,
            title: String::new(),
            ..payload(4)
        };
        let fcm = envelope(PushPlatform::Fcm, "t", &p);
        assert_eq!(fcm["message"]["android"]["priority"], "normal");
        assert_eq!(decode(&fcm["message"]["data"].to_string()).unwrap(), p);
        let apns = envelope(PushPlatform::Apns, "t", &p);
        assert_eq!(apns["headers"]["apns-push-type"], "background");
        assert!(apns["payload"]["aps"].get("alert").is_none());
        assert_eq!(apns["payload"]["aps"]["content-available"], 1);
        assert_eq!(decode(&apns["payload"].to_string()).unwrap(), p);
    }

    #[test]
    fn h2_h3_an_alert_wakes_the_extension_is_one_per_chat_and_carries_the_apps_actions() {
        let p = payload(5);
        let apns = envelope(PushPlatform::Apns, "t", &p);
        let aps = &apns["payload"]["aps"];
        // The Notification Service Extension runs only with mutable-content.
        assert_eq!(aps["mutable-content"], 1);
        assert_eq!(apns["headers"]["apns-push-type"], "alert");
        // One notification per chat: a newer push replaces the older one
        // (collapse id) and they group in one thread.
        assert_eq!(apns["headers"]["apns-collapse-id"], "chat:c1");
        assert_eq!(aps["thread-id"], "chat:c1");
        assert_eq!(aps["category"], APNS_CATEGORY);
        assert_eq!(decode(&apns["payload"].to_string()).unwrap(), p);
        let fcm = envelope(PushPlatform::Fcm, "t", &p);
        assert_eq!(fcm["message"]["android"]["priority"], "high");
        assert_eq!(fcm["message"]["android"]["collapse_key"], "chat:c1");
        // FCM: data only, so the app's service decides what shows (H2).
        assert!(fcm["message"].get("notification").is_none());
        // The iOS app registers the same category.
        let swift = include_str!("../../../ios/Shared/PushPayload.swift");
        assert!(
            swift.contains(&format!("static let chatCategory = \"{APNS_CATEGORY}\"")),
            "ios/Shared/PushPayload.swift names another category"
        );
    }

    #[test]
    fn h2_a_tapped_push_names_its_chat_and_a_bad_one_is_a_typed_error() {
        let p = payload(7);
        let fcm = envelope(PushPlatform::Fcm, "t", &p);
        assert_eq!(
            chat_to_open(&fcm["message"]["data"].to_string()),
            Ok(ChatId::from("c1"))
        );
        let apns = envelope(PushPlatform::Apns, "t", &p);
        assert_eq!(
            chat_to_open(&apns["payload"].to_string()),
            Ok(ChatId::from("c1"))
        );
        assert_eq!(chat_to_open("{}"), Err(PushError::NotRapport));
        assert!(matches!(
            chat_to_open(r#"{"rapport":{"v":1}}"#),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn d2_an_opened_chat_alerts_with_its_own_words() {
        let p = PushPayload {
            kind: PushKind::ChatOpened,
            preview: None,
            ..payload(1)
        };
        match decide(&p, &ctx(), ChatPushState::default(), Timestamp(1)).0 {
            Decision::Show {
                body, alert: true, ..
            } => assert_eq!(body, "Opened a chat with you"),
            other => panic!("{other:?}"),
        }
    }
}
