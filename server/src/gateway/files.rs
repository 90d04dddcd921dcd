//! E2 through SendPulse: SendPulse takes a file only as a URL it downloads,
//! so an agent's upload (sent as a message on a linked workspace) is served
//! at `GET /sendpulse/files/{workspace}/{upload}/{expires}/{mac}` under the
//! server's public base URL (`--public-url`). No session: the URL is the
//! credential. Its MAC (HMAC-SHA256 under a key derived from the server key)
//! binds the workspace, the upload and the expiry, so it cannot be guessed
//! nor bent to another file, and it stops working [`FILE_URL_TTL_MS`] after
//! the send was recorded. It serves that one sent upload only, within the
//! workspace's share of file bytes (`crate::bulk`). Without a public URL a
//! linked workspace does not offer files (`unsupported` names `files`).

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// How long a file's URL works after its send was recorded: SendPulse
/// downloads at once, but a send whose answer was lost may be sent again
/// by a phone's retry hours later, under the same URL (the URL is how the
/// lost send is recognised in SendPulse's history).
pub const FILE_URL_TTL_MS: i64 = 24 * 3_600_000;

/// What the MAC is for (a MAC under the server key for another use never
/// opens a file).
const PURPOSE: &str = "rapport sendpulse file url v1";

fn signed(ws: &str, upload: &str, expires: i64) -> String {
    format!("{ws}\n{upload}\n{expires}")
}

/// The public URL of upload `upload` of workspace `ws`, for a send recorded
/// at `recorded_ms` (the same send always gets the same URL); `None` when
/// the server has no public URL or no key.
pub fn url(gw: &super::Gateway, ws: &str, upload: &str, recorded_ms: i64) -> Option<String> {
    let base = gw.public_url()?;
    let key = super::lock(&gw.key).clone()?;
    let expires = recorded_ms.saturating_add(FILE_URL_TTL_MS);
    let mac = hex::encode(key.mac(PURPOSE, signed(ws, upload, expires).as_bytes()));
    Some(format!(
        "{base}/sendpulse/files/{ws}/{upload}/{expires}/{mac}"
    ))
}

/// An upload of a linked workspace, downloaded by SendPulse.
#[utoipa::path(
    get,
    path = "/sendpulse/files/{workspace}/{upload}/{expires}/{mac}",
    tag = "gateway",
    summary = "Issue 17 E2: a file an agent sent on a workspace linked to SendPulse, for SendPulse to download (the URL, unguessable and expiring, is the credential)",
    params(
        ("workspace" = String, Path, description = "the workspace"),
        ("upload" = String, Path, description = "the upload sent as a message"),
        ("expires" = i64, Path, description = "ms since the epoch after which the URL no longer works"),
        ("mac" = String, Path, description = "the server's MAC of the three"),
    ),
    responses(
        (status = 200, description = "the file's bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "no such file, a wrong MAC or an expired URL (not_found)", body = rapport_core::wire::ErrorBody),
    ),
    security(()),
)]
pub async fn file(
    State(state): State<Arc<AppState>>,
    Path((ws, upload, expires, mac)): Path<(String, String, i64, String)>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("file");
    let key = super::lock(&state.gateway.key)
        .clone()
        .ok_or_else(not_found)?;
    let tag = hex::decode(&mac).map_err(|_| not_found())?;
    if !key.mac_ok(PURPOSE, signed(&ws, &upload, expires).as_bytes(), &tag) {
        return Err(not_found());
    }
    if state.hub.now().0 > expires || !state.gateway.linked(&ws) {
        return Err(not_found());
    }
    let (st, w, u) = (state.clone(), ws.clone(), upload.clone());
    let found = tokio::task::spawn_blocking(move || crate::uploads::sent_file(&st.hub, &w, &u))
        .await
        .map_err(ApiError::internal)??;
    let (name, size, mime) = found.ok_or_else(not_found)?;
    // The name as an ASCII token only (a quoted header value cannot carry
    // every name), for the apps that show a document's name.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        crate::uploads::stream(state, ws, upload, size),
    )
        .into_response())
}
