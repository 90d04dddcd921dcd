//! E2: resumable uploads. A client opens an upload under an id it chose
//! (from its command's idempotency key), sends the bytes in parts at the
//! offset the server reports, and after an interruption opens it again to
//! learn where to go on: nothing is sent twice, and the message that
//! carries the file is a separate, idempotent command
//! (`POST /v1/chats/{id}/attachments`).
//!
//! Every SQLite call runs off the async workers (`spawn_blocking`). A
//! part is one short write transaction; a download streams the file part
//! by part, each read from a reader connection (`Hub::reader`), so a large
//! file never holds the writer nor a worker for long.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Hub, Workspace};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use rapport_core::model::MemberId;
use rapport_core::policy::{Refusal, attachment::MAX_BYTES};
use rapport_core::sync::UploadRef;
use rapport_core::wire::{ErrorCode, PartQuery, UploadStatus, valid_message_id};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Runs `f` (SQLite work) on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

struct Row {
    member_id: String,
    name: String,
    size: u64,
    sha256: String,
    received: u64,
}

fn row(db: &rusqlite::Connection, ws: &str, id: &str) -> ApiResult<Option<Row>> {
    Ok(db
        .query_row(
            "SELECT member_id, name, size, sha256, received FROM uploads
             WHERE workspace = ?1 AND id = ?2",
            params![ws, id],
            |r| {
                Ok(Row {
                    member_id: r.get(0)?,
                    name: r.get(1)?,
                    size: r.get::<_, i64>(2)?.unsigned_abs(),
                    sha256: r.get(3)?,
                    received: r.get::<_, i64>(4)?.unsigned_abs(),
                })
            },
        )
        .optional()?)
}

/// The member's own upload (another member's is "not found").
fn own(db: &rusqlite::Connection, ws: &str, me: &MemberId, id: &str) -> ApiResult<Row> {
    row(db, ws, id)?
        .filter(|r| r.member_id == me.as_str())
        .ok_or_else(|| ApiError::not_found("upload"))
}

fn status(id: &str, r: &Row) -> Json<UploadStatus> {
    Json(UploadStatus {
        id: id.to_owned(),
        size_bytes: r.size,
        received: r.received,
    })
}

/// `POST /v1/uploads`: opens an upload, or reports an open one's progress.
/// E2: what `POST /v1/uploads` checks of its body before touching the
/// database (the fuzz target `server_bodies` calls it directly).
pub fn check_open(up: &UploadRef) -> ApiResult<()> {
    if !valid_message_id(&up.id) {
        return Err(ApiError::bad_request("id: 1-64 of A-Z a-z 0-9 - _"));
    }
    if up.sha256.len() != 64 || !up.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("sha256: 64 hex digits"));
    }
    up.check_fields()?;
    if up.size_bytes == 0 {
        return Err(Refusal::FileEmpty.into());
    }
    if up.size_bytes > MAX_BYTES {
        return Err(Refusal::AttachmentTooLarge {
            limit_bytes: MAX_BYTES,
            actual_bytes: up.size_bytes,
        }
        .into());
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/uploads",
    tag = "uploads",
    summary = "E2: open a resumable upload under a client-chosen id (or learn how much of it the server holds, after an interruption)",
    request_body = rapport_core::wire::UploadRef,
    responses((status = 200, description = "done", body = rapport_core::wire::UploadStatus), crate::error::Errors),
)]
pub async fn open(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(up): Json<UploadRef>,
) -> ApiResult<Json<UploadStatus>> {
    caller.require_conversations()?;
    check_open(&up)?;
    let me = caller.member_id();
    let ws = caller.workspace.id.clone();
    let id = up.id.clone();
    let r = blocking(move || {
        let db = state.hub.db();
        if row(&db, &ws, &up.id)?.is_none() {
            within_quota(&db, &ws, &me, up.size_bytes)?;
        }
        db.execute(
            "INSERT INTO uploads (workspace, id, member_id, name, size, sha256, attached)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0) ON CONFLICT DO NOTHING",
            params![
                ws,
                up.id,
                me.as_str(),
                up.name,
                up.size_bytes as i64,
                up.sha256.to_ascii_lowercase()
            ],
        )?;
        let r = own(&db, &ws, &me, &up.id)?;
        if r.size != up.size_bytes || r.sha256 != up.sha256.to_ascii_lowercase() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::UploadConflict,
                "an upload with this id holds another file",
            ));
        }
        Ok(r)
    })
    .await?;
    Ok(status(&id, &r))
}

/// Issue 16 hole 4: what one member may hold in uploads not yet sent
/// (five files of the largest size), and what every upload on the server
/// may hold together, by their announced sizes.
pub const MEMBER_UNSENT_BYTES: u64 = 100 * 1024 * 1024;
pub const TOTAL_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// A new upload of `size` bytes fits the member's quota (else 413
/// `upload_quota`) and the server's (else 507 `storage_full`). An upload
/// already open is never refused here: resuming takes no more room.
fn within_quota(db: &rusqlite::Connection, ws: &str, me: &MemberId, size: u64) -> ApiResult<()> {
    let (mine, all): (i64, i64) = db.query_row(
        "SELECT coalesce(sum(CASE WHEN workspace = ?1 AND member_id = ?2 AND attached = 0
                              THEN size END), 0),
                coalesce(sum(size), 0)
         FROM uploads",
        params![ws, me.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if mine.unsigned_abs() + size > MEMBER_UNSENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UploadQuota,
            format!(
                "{mine} bytes of unsent uploads; at most {MEMBER_UNSENT_BYTES} may wait to be sent"
            ),
        ));
    }
    if all.unsigned_abs() + size > TOTAL_BYTES {
        return Err(ApiError::storage_full());
    }
    Ok(())
}

/// The largest part a client may send at once (axum's default body limit,
/// which the part's body kept before it was read in a stream).
pub const MAX_PART: usize = 2 * 1024 * 1024;

/// `PUT /v1/uploads/{id}/content?offset=N`: the bytes from `offset`.
#[utoipa::path(
    put,
    path = "/v1/uploads/{id}/content",
    tag = "uploads",
    summary = "E2: the bytes of an upload from `offset` (parts of any size up to 2 MB; 256 KiB from the core)",
    params(("id" = String, Path, description = "the upload"), rapport_core::wire::PartQuery),
    request_body = Vec<u8>,
    responses((status = 200, description = "done", body = rapport_core::wire::UploadStatus), crate::error::Errors),
)]
pub async fn part(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PartQuery>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadStatus>> {
    caller.require_conversations()?;
    let me = caller.member_id();
    let ws = caller.workspace.id.clone();
    // The workspace's share of file bytes (crate::bulk) is taken before
    // the body is read: a workspace over it waits here, not its neighbours.
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .filter(|n| *n <= MAX_PART);
    if let Some(n) = announced {
        state.bulk.take(&ws, n).await;
    }
    let bytes = axum::body::to_bytes(body, MAX_PART).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadRequest,
            format!("a part holds at most {MAX_PART} bytes"),
        )
    })?;
    if announced.is_none() {
        state.bulk.take(&ws, bytes.len()).await;
    }
    let id2 = id.clone();
    let r = blocking(move || {
        let (ws, id) = (&ws, &id2);
        let mut db = state.hub.db();
        let tx = db.transaction()?;
        let mut r = own(&tx, ws, &me, id)?;
        if q.offset != r.received {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::UploadOffset,
                format!("the upload has {} bytes; send from there", r.received),
            ));
        }
        if bytes.is_empty() || r.received + bytes.len() as u64 > r.size {
            return Err(ApiError::bad_request(format!(
                "a part must hold 1 to {} bytes",
                r.size - r.received
            )));
        }
        tx.execute(
            "INSERT INTO upload_parts (workspace, id, offset, data) VALUES (?1, ?2, ?3, ?4)",
            params![ws, id, r.received as i64, &bytes[..]],
        )?;
        r.received += bytes.len() as u64;
        tx.execute(
            "UPDATE uploads SET received = ?3 WHERE workspace = ?1 AND id = ?2",
            params![ws, id, r.received as i64],
        )?;
        tx.commit()?;
        Ok(r)
    })
    .await?;
    Ok(status(&id, &r))
}

/// The whole file, in order.
fn bytes(db: &rusqlite::Connection, ws: &str, id: &str) -> ApiResult<Vec<u8>> {
    let mut stmt = db.prepare_cached(
        "SELECT data FROM upload_parts WHERE workspace = ?1 AND id = ?2 ORDER BY offset",
    )?;
    let mut rows = stmt.query(params![ws, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.extend_from_slice(r.get_ref(0)?.as_blob().map_err(ApiError::internal)?);
    }
    Ok(out)
}

/// `GET /v1/uploads/{id}/content`: a sent file, for any member of the
/// workspace (the message links to it).
#[utoipa::path(
    get,
    path = "/v1/uploads/{id}/content",
    tag = "uploads",
    summary = "E2/B3: a sent file's bytes (any member of the workspace with conversations access)",
    params(("id" = String, Path, description = "the upload")),
    responses((status = 200, description = "done", body = Vec<u8>), crate::error::Errors),
)]
pub async fn download(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require_conversations()?;
    let ws = caller.workspace.id.clone();
    let (st, ws2, id2) = (state.clone(), ws.clone(), id.clone());
    let r = blocking(move || {
        let db = st.hub.reader()?;
        row(&db, &ws2, &id2)
    })
    .await?;
    let r = r.ok_or_else(|| ApiError::not_found("upload"))?;
    if r.received < r.size {
        return Err(ApiError::not_found("upload"));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, r.size.to_string()),
        ],
        stream(state, ws, id, r.size),
    )
        .into_response())
}

/// A complete upload (`size` bytes) as a body, streamed part by part within
/// workspace `ws`'s share of file bytes.
pub(crate) fn stream(state: Arc<AppState>, ws: String, id: String, size: u64) -> Body {
    // A complete upload's parts no longer change: each is read on its own,
    // from the offset the previous one ended at.
    let parts = futures_util::stream::try_unfold(0u64, move |at| {
        let (st, ws, id) = (state.clone(), ws.clone(), id.clone());
        async move {
            if at >= size {
                return Ok(None);
            }
            let (st2, ws2) = (st.clone(), ws.clone());
            let data = blocking(move || {
                let db = st2.hub.reader()?;
                part_at(&db, &ws2, &id, at)
            })
            .await
            .map_err(|e| std::io::Error::other(e.message))?;
            let next = at + data.len() as u64;
            // A stored part (up to 2 MB) goes out in chunks, each within
            // the workspace's share of file bytes (crate::bulk).
            let data = Bytes::from(data);
            let chunks: Vec<Bytes> = (0..data.len())
                .step_by(crate::bulk::CHUNK)
                .map(|i| data.slice(i..(i + crate::bulk::CHUNK).min(data.len())))
                .collect();
            let paced = futures_util::stream::iter(chunks).then(move |chunk| {
                let (st, ws) = (st.clone(), ws.clone());
                async move {
                    st.bulk.take(&ws, chunk.len()).await;
                    Ok::<_, std::io::Error>(chunk)
                }
            });
            Ok::<_, std::io::Error>(Some((paced, next)))
        }
    })
    .try_flatten();
    Body::from_stream(parts)
}

/// E2 (gateway): a complete upload of workspace `ws` sent as a message: its
/// name, size and MIME type (sniffed from its first part, as when it was
/// sent); `None` when there is no such sent upload.
pub(crate) fn sent_file(hub: &Hub, ws: &str, id: &str) -> ApiResult<Option<(String, u64, String)>> {
    let db = hub.reader()?;
    let attached: Option<i64> = db
        .query_row(
            "SELECT attached FROM uploads WHERE workspace = ?1 AND id = ?2",
            params![ws, id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(r) = row(&db, ws, id)?.filter(|r| r.received == r.size && attached == Some(1)) else {
        return Ok(None);
    };
    let first = part_at(&db, ws, id, 0)?;
    let mime = rapport_core::policy::attachment::sniff(&r.name, &first)
        .map(|s| s.mime)
        .unwrap_or_else(|_| "application/octet-stream".to_owned());
    Ok(Some((r.name, r.size, mime)))
}

/// The part of a complete upload that starts at `offset`.
fn part_at(db: &rusqlite::Connection, ws: &str, id: &str, offset: u64) -> ApiResult<Vec<u8>> {
    db.prepare_cached(
        "SELECT data FROM upload_parts WHERE workspace = ?1 AND id = ?2 AND offset = ?3",
    )?
    .query_row(params![ws, id, offset as i64], |r| r.get::<_, Vec<u8>>(0))
    .optional()?
    .filter(|d| !d.is_empty())
    .ok_or_else(|| ApiError::internal(format!("upload {id}: no part at {offset}")))
}

/// A complete upload of this member's, checked against its hash.
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

pub(crate) fn complete(hub: &Hub, ws: &Workspace, me: &MemberId, id: &str) -> ApiResult<File> {
    // Read from a reader: a complete upload no longer changes, and the
    // writer (held by the command calling this) is not held for 20 MB.
    let db = hub.reader()?;
    let r = own(&db, &ws.id, me, id)?;
    if r.received < r.size {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::UploadIncomplete,
            format!("{} of {} bytes uploaded", r.received, r.size),
        ));
    }
    let bytes = bytes(&db, &ws.id, id)?;
    if hex::encode(Sha256::digest(&bytes)) != r.sha256 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UploadCorrupt,
            "the file does not match its sha256",
        ));
    }
    // From here on a message may link to it: never pruned (a command
    // refused after this keeps its file, as a retry would want it). The
    // reader is read-only: the flag goes through the writer.
    drop(db);
    hub.db().execute(
        "UPDATE uploads SET attached = 1 WHERE workspace = ?1 AND id = ?2",
        params![ws.id, id],
    )?;
    Ok(File {
        name: r.name,
        bytes,
    })
}

/// How long an upload never sent as a message is kept (issue 16 hole 4):
/// a client resumes within hours; a day later it has given up.
pub const KEEP_UNSENT_MS: i64 = 86_400_000;

/// Deletes uploads never attached to a message that are older than
/// [`KEEP_UNSENT_MS`], with their parts. Age counts from the first run
/// that saw the upload (`at` 0 until then). Returns how many went.
pub(crate) fn prune(
    hub: &Hub,
    now: rapport_core::model::Timestamp,
) -> crate::hub::HubResult<usize> {
    let mut db = hub.db();
    let tx = db.transaction()?;
    tx.execute(
        "UPDATE uploads SET at = ?1 WHERE at = 0 AND attached = 0",
        [now.0.max(1)],
    )?;
    let cutoff = now.0 - KEEP_UNSENT_MS;
    tx.execute(
        "DELETE FROM upload_parts WHERE (workspace, id) IN (
             SELECT workspace, id FROM uploads WHERE attached = 0 AND at <= ?1)",
        [cutoff],
    )?;
    let n = tx.execute(
        "DELETE FROM uploads WHERE attached = 0 AND at <= ?1",
        [cutoff],
    )?;
    tx.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::model::Timestamp;
    use rapport_core::timers::ManualClock;

    fn count(hub: &Hub, sql: &str) -> i64 {
        hub.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// E2 / issue 16 hole 4: an upload never sent goes with its parts a day
    /// after the first pruning run saw it; a sent one (or one from before
    /// step 3, which may be) stays.
    #[test]
    fn e2_unsent_uploads_expire_after_a_day_with_their_parts() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(5_000_000)));
        let hub = Hub::open_with_clock(dir.path().join("server.db"), clock.clone()).unwrap();
        hub.db()
            .execute_batch(
                "INSERT INTO uploads (workspace, id, member_id, name, size, sha256, attached)
                 VALUES ('w1', 'unsent', 'u1', 'a.pdf', 3, 'x', 0),
                        ('w1', 'sent', 'u1', 'b.pdf', 3, 'x', 1);
                 INSERT INTO uploads (workspace, id, member_id, name, size, sha256)
                 VALUES ('w1', 'older', 'u1', 'c.pdf', 3, 'x');
                 INSERT INTO upload_parts VALUES ('w1', 'unsent', 0, x'010203'),
                        ('w1', 'sent', 0, x'010203'), ('w1', 'older', 0, x'010203');",
            )
            .unwrap();
        assert_eq!(crate::prune::prune(&hub).unwrap().uploads, 0);
        clock.advance_ms(KEEP_UNSENT_MS - 1);
        assert_eq!(crate::prune::prune(&hub).unwrap().uploads, 0);
        clock.advance_ms(1);
        assert_eq!(crate::prune::prune(&hub).unwrap().uploads, 1);
        assert_eq!(count(&hub, "SELECT count(*) FROM uploads"), 2);
        assert_eq!(
            count(
                &hub,
                "SELECT count(*) FROM upload_parts WHERE id = 'unsent'"
            ),
            0
        );
        assert_eq!(count(&hub, "SELECT count(*) FROM upload_parts"), 2);
    }

    /// E2 / issue 16 hole 4: a member's unsent uploads stop at their quota
    /// (413 `upload_quota`), sent ones do not count, and the server's total
    /// stops everyone (507 `storage_full`); an open upload is kept.
    #[test]
    fn e2_uploads_stop_at_the_members_and_the_servers_quota() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(dir.path().join("server.db")).unwrap();
        let db = hub.db();
        let me = MemberId("u1".into());
        let add = |id: &str, member: &str, size: u64, attached: i64| {
            db.execute(
                "INSERT INTO uploads (workspace, id, member_id, name, size, sha256, attached)
                 VALUES ('w1', ?1, ?2, 'a.pdf', ?3, 'x', ?4)",
                params![id, member, size as i64, attached],
            )
            .unwrap();
        };
        add("a", "u1", MEMBER_UNSENT_BYTES - 10, 0);
        assert!(within_quota(&db, "w1", &me, 10).is_ok());
        let over = within_quota(&db, "w1", &me, 11).unwrap_err();
        assert_eq!(
            (over.status, over.code),
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::UploadQuota)
        );
        // Another member's, and the member's own sent files, do not count.
        let other = MemberId("u2".into());
        assert!(within_quota(&db, "w1", &other, MEMBER_UNSENT_BYTES).is_ok());
        add("sent", "u2", TOTAL_BYTES - MEMBER_UNSENT_BYTES - 5, 1);
        assert!(within_quota(&db, "w1", &other, 15).is_ok());
        let full = within_quota(&db, "w1", &other, 16).unwrap_err();
        assert_eq!(
            (full.status, full.code),
            (StatusCode::INSUFFICIENT_STORAGE, ErrorCode::StorageFull)
        );
        assert_eq!(count_rows(&db), 2, "nothing accepted is lost");
    }

    fn count_rows(db: &rusqlite::Connection) -> i64 {
        db.query_row("SELECT count(*) FROM uploads", [], |r| r.get(0))
            .unwrap()
    }
}
