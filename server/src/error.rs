//! The one error type of the API: JSON `{code, message}` with a stable
//! code. Internal errors are logged and shown to clients only as
//! `internal`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rapport_core::policy::Refusal;
use rapport_core::wire::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid bearer token is required",
        )
    }
    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no such {what}"),
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
        )
    }
}

/// A policy refusal (SPEC E, B8) keeps the core's code: both sides name it
/// alike, so the app explains the server's refusal as it would its own.
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            r.error_code(),
            r.to_string(),
        )
    }
}

impl From<rapport_core::StoreError> for ApiError {
    fn from(e: rapport_core::StoreError) -> Self {
        match e {
            rapport_core::StoreError::UnknownChat => ApiError::not_found("chat"),
            // A workspace store's write on a full disk rolled back whole.
            rapport_core::StoreError::Full => ApiError::storage_full(),
            other => ApiError::internal(other),
        }
    }
}

/// Issue 16 hole 4: a full disk (or `server.db` at its page limit) is
/// told as such, 507 `storage_full`, not as a 500: the statement's
/// transaction rolled back, so nothing already accepted is lost.
impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return ApiError::storage_full();
        }
        ApiError::internal(e)
    }
}

impl From<crate::hub::HubError> for ApiError {
    fn from(e: crate::hub::HubError) -> Self {
        match e {
            crate::hub::HubError::Sqlite(e) => e.into(),
            crate::hub::HubError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl ApiError {
    pub fn storage_full() -> Self {
        tracing::warn!("storage full");
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::StorageFull,
            "the server has no room for this; try again later",
        )
    }
}

impl ApiError {
    /// What the client reads.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(self.body());
        let mut resp = (self.status, body).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The errors any route may answer, each `{code, message}` with a stable
/// code (`rapport_core::wire::ErrorCode`).
#[derive(utoipa::IntoResponses)]
pub enum Errors {
    /// Malformed request (bad_request, missing_idempotency_key, ...).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No valid bearer token (unauthorized).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The member's role forbids it (forbidden).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such chat, message, note, deal, subscriber, flow, upload or route (not_found).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// An upload id reused for another file, a part at the wrong offset, a taken message id
    /// (upload_conflict, upload_offset, duplicate_message_id).
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The rules refuse it: the code is the refusal's (window_closed, text_too_long,
    /// not_assignable, too_old, executable, ...).
    #[response(status = 422)]
    Refused(ErrorBody),
    /// Too many requests: wait for Retry-After (rate_limited).
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// An upload over the member's quota of unsent files (upload_quota).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Down for a moment: wait for Retry-After (unavailable).
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// No room on the server (storage_full); nothing accepted is lost.
    #[response(status = 507)]
    StorageFull(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16 hole 4: `server.db` at its page limit answers 507
    /// `storage_full`, and the rows written before are all there.
    #[test]
    fn a_full_database_answers_storage_full_and_keeps_what_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let db = rusqlite::Connection::open(dir.path().join("server.db")).unwrap();
        db.execute_batch("CREATE TABLE t (data BLOB NOT NULL)")
            .unwrap();
        db.pragma_update(None, "max_page_count", 16).unwrap();
        let part = vec![7u8; 4096];
        let mut kept = 0;
        let err = loop {
            match db.execute("INSERT INTO t VALUES (?1)", [&part]) {
                Ok(_) => kept += 1,
                Err(e) => break ApiError::from(e),
            }
        };
        assert!(kept > 0);
        assert_eq!(err.status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(err.code, ErrorCode::StorageFull);
        let n: i64 = db
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, kept);
    }
}
