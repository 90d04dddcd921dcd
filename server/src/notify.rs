//! Notifications on the server side: H2 pushes for new subscriber messages,
//! D2 a push to the assigned member when a subscriber reaches an "open
//! chat" action, H1 an email about the latest open chat at most once an
//! hour, and H4 each member's settings for them (email, notifications bot,
//! push, and whether a push shows a preview).
//!
//! The reference server has no FCM, APNs, mail or bot credentials: what
//! each would have been given is written to `sent_notifications` (the
//! test sink) exactly as it would go out ([`rapport_core::push::envelope`]).
//! Notifying is best effort after the events are committed: a failure is
//! logged and never undoes or delays the events.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Committed, Hub, HubResult, Workspace};
use axum::Json;
use axum::extract::{Path, State};
use rapport_core::model::{
    ChatState, ChatSummary, Event, EventPayload, MemberId, MessageId, Sender,
};
use rapport_core::push::{
    DeviceRegistration, NotificationSettings, PREVIEW_CHARS, PushKind, PushPayload, PushPlatform,
    VERSION, envelope,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;

/// H1: at most one email an hour per member.
pub const EMAIL_EVERY_MS: i64 = 60 * 60 * 1000;

fn settings_of(db: &Connection, ws: &str, member: &str) -> HubResult<NotificationSettings> {
    let json: Option<String> = db
        .query_row(
            "SELECT settings FROM member_settings WHERE workspace = ?1 AND member_id = ?2",
            params![ws, member],
            |r| r.get(0),
        )
        .optional()?;
    // A row this version cannot read falls back to the defaults.
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

fn record(
    db: &Connection,
    ws: &str,
    member: &str,
    channel: &str,
    body: &str,
    at: i64,
) -> HubResult<()> {
    db.prepare_cached(
        "INSERT INTO sent_notifications (workspace, member_id, channel, body, at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ws, member, channel, body, at])?;
    Ok(())
}

/// Who hears about a chat: its assignee, or, unassigned, every member whose
/// role grants conversations.
fn recipients(ws: &Workspace, chat: &ChatSummary) -> HubResult<Vec<String>> {
    let members = ws.store.members(true)?;
    Ok(members
        .into_iter()
        .filter(|m| chat.chat.assignee.as_ref().is_none_or(|a| *a == m.id))
        .map(|m| m.id.0)
        .collect())
}

fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().nth(PREVIEW_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Registered with [`Hub::on_commit`]: notifies of a committed batch.
/// `actor`, the member whose command caused it, is notified of none of it
/// (nobody hears of their own doing).
pub fn after_commit(hub: &Hub, batch: &Committed<'_>) {
    let actor = batch.actor.map(MemberId::as_str);
    if let Err(e) = notify(hub, batch.workspace, batch.events, actor) {
        tracing::warn!(error = %e, "notifications not recorded");
    }
}

fn notify(hub: &Hub, ws: &Workspace, events: &[Event], actor: Option<&str>) -> HubResult<()> {
    let now = hub.now();
    for ev in events {
        let (kind, chat_id, message_id, text) = match &ev.payload {
            EventPayload::MessageUpserted(m) if m.sender == Sender::Subscriber => (
                PushKind::NewMessage,
                &m.chat_id,
                m.id.clone(),
                Some(m.content.summary().to_owned()),
            ),
            // D2: the subscriber's "open chat" action, not an agent's A8.
            EventPayload::ChatStateChanged {
                chat_id,
                state: ChatState::Open,
            } if actor.is_none() => (PushKind::ChatOpened, chat_id, MessageId::from(""), None),
            // B10: read on one device, for everyone (the unread state is
            // the chat's): a silent push removes its notification on every
            // device that may hold one, the reader's other devices too.
            EventPayload::ChatRead { chat_id } => {
                (PushKind::ChatRead, chat_id, MessageId::from(""), None)
            }
            _ => continue,
        };
        let Some(chat) = ws.store.chat(chat_id)? else {
            continue;
        };
        let who = match kind {
            // D2 is for the assigned member only.
            PushKind::ChatOpened => chat.chat.assignee.iter().map(|a| a.0.clone()).collect(),
            PushKind::NewMessage | PushKind::ChatRead => recipients(ws, &chat)?,
        };
        let db = hub.db();
        let read = kind == PushKind::ChatRead;
        for member in who.iter().filter(|m| read || Some(m.as_str()) != actor) {
            let settings = settings_of(&db, &ws.id, member)?;
            let payload = PushPayload {
                v: VERSION,
                kind,
                workspace_id: ws.id.clone(),
                chat_id: chat.chat.id.clone(),
                message_id: message_id.clone(),
                seq: ev.seq,
                sent_at: ev.at,
                // A silent push carries no name.
                title: if read {
                    String::new()
                } else {
                    chat.chat.title.clone()
                },
                preview: text
                    .as_deref()
                    .filter(|_| settings.push_preview)
                    .map(preview),
            };
            if settings.push {
                let mut stmt = db.prepare_cached(
                    "SELECT platform, token, family FROM devices
                     WHERE workspace = ?1 AND member_id = ?2",
                )?;
                let devices: Vec<(String, String, String)> = stmt
                    .query_map(params![ws.id, member], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?;
                for (platform, token, family) in devices {
                    // Only the devices of a session family still alive: one
                    // revoked or expired sends nothing to the phone it was
                    // on (`''`: registered before devices had families).
                    if !family.is_empty() && !crate::accounts::family_alive(&db, &family, now)? {
                        continue;
                    }
                    let platform = if platform == "apns" {
                        PushPlatform::Apns
                    } else {
                        PushPlatform::Fcm
                    };
                    let body = envelope(platform, &token, &payload).to_string();
                    record(
                        &db,
                        &ws.id,
                        member,
                        &format!("{platform:?}").to_lowercase(),
                        &body,
                        now.0,
                    )?;
                }
            }
            if read {
                continue; // nothing to email or tell the bot
            }
            if settings.notifications_bot {
                let line = format!(
                    "{}: {}",
                    payload.title,
                    payload.preview.as_deref().unwrap_or("new message")
                );
                record(&db, &ws.id, member, "bot", &line, now.0)?;
            }
            // H1: the latest open chat's last subscriber message waits for
            // the member's hour.
            if settings.email
                && kind == PushKind::NewMessage
                && chat.chat.state == ChatState::Open
                && let Some(t) = &text
            {
                let body = serde_json::json!({
                    "chat_id": chat.chat.id,
                    "title": chat.chat.title,
                    "last_message": t,
                })
                .to_string();
                db.prepare_cached(
                    "INSERT INTO pending_emails (workspace, member_id, chat_id, body)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO UPDATE SET chat_id = excluded.chat_id, body = excluded.body",
                )?
                .execute(params![ws.id, member, chat.chat.id.as_str(), body])?;
            }
        }
    }
    flush_emails(hub, &ws.id)?;
    Ok(())
}

/// H1: sends the waiting emails whose member had none in the last hour
/// (called after every write and once a minute). Returns how many went.
pub fn flush_emails(hub: &Hub, ws: &str) -> HubResult<u32> {
    let now = hub.now().0;
    let mut db = hub.db();
    let tx = db.transaction()?;
    let due: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT p.member_id, p.body FROM pending_emails p
             LEFT JOIN member_settings s ON s.workspace = p.workspace AND s.member_id = p.member_id
             WHERE p.workspace = ?1 AND (s.last_email_at IS NULL OR s.last_email_at + ?2 <= ?3)",
        )?
        .query_map(params![ws, EMAIL_EVERY_MS, now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (member, body) in &due {
        record(&tx, ws, member, "email", body, now)?;
        tx.execute(
            "DELETE FROM pending_emails WHERE workspace = ?1 AND member_id = ?2",
            params![ws, member],
        )?;
        tx.execute(
            "INSERT INTO member_settings (workspace, member_id, settings, last_email_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET last_email_at = excluded.last_email_at",
            params![
                ws,
                member,
                serde_json::to_string(&NotificationSettings::default()).unwrap_or_default(),
                now
            ],
        )?;
    }
    tx.commit()?;
    Ok(due.len() as u32)
}

/// How many sent notifications the test sink keeps (issue 16 hole 4): it
/// stands in for FCM, APNs, mail and the bot, which keep nothing here;
/// tests read the newest few.
pub const KEEP_SENT: usize = 10_000;

/// Forgets the devices whose session family has no live session left
/// (revoked, stolen, expired: they get no pushes already). Returns how
/// many went.
pub fn prune_devices(hub: &Hub) -> HubResult<usize> {
    let (db, now) = (hub.db(), hub.now());
    let families: Vec<String> = db
        .prepare("SELECT DISTINCT family FROM devices WHERE family <> ''")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for family in families {
        if !crate::accounts::family_alive(&db, &family, now)? {
            n += db.execute("DELETE FROM devices WHERE family = ?1", [&family])?;
        }
    }
    Ok(n)
}

/// Keeps the newest `keep` rows of the test sink, across workspaces.
/// Returns how many went.
pub fn prune_sent(hub: &Hub, keep: usize) -> HubResult<usize> {
    let db = hub.db();
    Ok(db.execute(
        "DELETE FROM sent_notifications WHERE id <= (
             SELECT id FROM sent_notifications ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        [keep as i64],
    )?)
}

/// What the test sink holds for a member: (channel, body), oldest first.
/// Channels: `fcm`, `apns`, `email`, `bot`.
pub fn sent(hub: &Hub, ws: &str, member: &str) -> HubResult<Vec<(String, String)>> {
    let db = hub.db();
    let mut stmt = db.prepare_cached(
        "SELECT channel, body FROM sent_notifications
         WHERE workspace = ?1 AND member_id = ?2 ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![ws, member], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// `PUT /v1/devices`: registers (or moves to a new token) a device.
/// H2: what `POST /v1/devices` checks of its body (the fuzz target
/// `server_bodies` calls it directly).
pub fn check_device(d: &DeviceRegistration) -> ApiResult<()> {
    if !(1..=128).contains(&d.device_id.len()) || !(1..=4096).contains(&d.token.len()) {
        return Err(ApiError::bad_request(
            "device_id: 1-128 characters; token: 1-4096",
        ));
    }
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v1/devices",
    tag = "notifications",
    summary = "H2: register this device for pushes (again when its token changes); each new subscriber message in a chat assigned to the member (or unassigned, for members with conversations access) is pushed with a payload rapport_core::push::decode reads, collapsed per chat; D2: chat_opened goes to the assignee; B10: chat_read, a silent push to the same members (the reader too) when the chat is read, removes its notification",
    request_body = rapport_core::wire::DeviceRegistration,
    responses((status = 200, description = "done"), crate::error::Errors),
)]
pub async fn register(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(d): Json<DeviceRegistration>,
) -> ApiResult<Json<rapport_core::wire::NoBody>> {
    check_device(&d)?;
    let platform = match d.platform {
        PushPlatform::Fcm => "fcm",
        PushPlatform::Apns => "apns",
    };
    let (ws, me, family) = (
        caller.workspace.id.clone(),
        caller.session.member_id.clone(),
        caller.session.family.clone(),
    );
    blocking(move || {
        state.hub.db().execute(
            "INSERT INTO devices (workspace, member_id, device_id, platform, token, family)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO UPDATE SET platform = excluded.platform, token = excluded.token,
                 family = excluded.family",
            params![ws, me, d.device_id, platform, d.token, family],
        )?;
        Ok(())
    })
    .await?;
    Ok(Json(rapport_core::wire::NoBody {}))
}

/// Runs `f` (SQLite work) on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// `DELETE /v1/devices/{id}`: no more pushes to that device (at logout).
#[utoipa::path(
    delete,
    path = "/v1/devices/{id}",
    tag = "notifications",
    summary = "H2: no more pushes to this device (before logout)",
    params(("id" = String, Path, description = "the device")),
    responses((status = 200, description = "done"), crate::error::Errors),
)]
pub async fn unregister(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(device_id): Path<String>,
) -> ApiResult<Json<rapport_core::wire::NoBody>> {
    let (ws, me) = (
        caller.workspace.id.clone(),
        caller.session.member_id.clone(),
    );
    blocking(move || {
        state.hub.db().execute(
            "DELETE FROM devices WHERE workspace = ?1 AND member_id = ?2 AND device_id = ?3",
            params![ws, me, device_id],
        )?;
        Ok(())
    })
    .await?;
    Ok(Json(rapport_core::wire::NoBody {}))
}

/// `GET /v1/settings` (H4).
#[utoipa::path(
    get,
    path = "/v1/settings",
    tag = "notifications",
    summary = "H4: the member's notification settings",
    responses((status = 200, description = "done", body = rapport_core::wire::NotificationSettings), crate::error::Errors),
)]
pub async fn settings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<NotificationSettings>> {
    let (ws, me) = (
        caller.workspace.id.clone(),
        caller.session.member_id.clone(),
    );
    // A reader: settings never wait for another workspace's writes.
    let s = blocking(move || {
        let db = state.hub.reader()?;
        settings_of(&db, &ws, &me).map_err(ApiError::internal)
    })
    .await?;
    Ok(Json(s))
}

/// `PUT /v1/settings` (H4): replaces the member's settings.
#[utoipa::path(
    put,
    path = "/v1/settings",
    tag = "notifications",
    summary = "H4: replace the member's notification settings (turning email off drops a waiting email)",
    request_body = rapport_core::wire::NotificationSettings,
    responses((status = 200, description = "done", body = rapport_core::wire::NotificationSettings), crate::error::Errors),
)]
pub async fn set_settings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(s): Json<NotificationSettings>,
) -> ApiResult<Json<NotificationSettings>> {
    let json = serde_json::to_string(&s).map_err(ApiError::internal)?;
    let (ws, me, email) = (
        caller.workspace.id.clone(),
        caller.session.member_id.clone(),
        s.email,
    );
    blocking(move || {
        let mut db = state.hub.db();
        let tx = db.transaction()?;
        tx.execute(
            "INSERT INTO member_settings (workspace, member_id, settings) VALUES (?1, ?2, ?3)
             ON CONFLICT DO UPDATE SET settings = excluded.settings",
            params![ws, me, json],
        )?;
        if !email {
            tx.execute(
                "DELETE FROM pending_emails WHERE workspace = ?1 AND member_id = ?2",
                params![ws, me],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await?;
    Ok(Json(s))
}

#[cfg(test)]
mod prune_tests {
    use super::*;

    /// H2 / issue 16 hole 4: the test sink keeps its newest rows only.
    #[test]
    fn h2_the_test_sink_keeps_its_newest_rows() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(dir.path().join("server.db")).unwrap();
        for i in 0..5 {
            record(&hub.db(), "w1", "u1", "bot", &format!("n{i}"), i).unwrap();
        }
        assert_eq!(prune_sent(&hub, 5).unwrap(), 0);
        assert_eq!(prune_sent(&hub, 2).unwrap(), 3);
        let bodies: Vec<String> = sent(&hub, "w1", "u1")
            .unwrap()
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert_eq!(bodies, ["n3", "n4"]);
        assert_eq!(prune_sent(&hub, 0).unwrap(), 2);
    }
}
