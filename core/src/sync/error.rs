use crate::StoreError;
use crate::wire::ErrorCode;
use std::time::Duration;

/// What can go wrong talking to a backend. None of it carries message text
/// or tokens.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No token, or the server refused it (401): log in again.
    #[error("not logged in, or the session has expired")]
    Unauthorized,
    /// 403: the member's role does not allow it.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// The server refused the request with a stable code (window_closed,
    /// text_too_long, not_assignable, ...): retrying will not help.
    #[error("refused ({code}): {message}")]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// 429: retry after the given time.
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx.
    #[error("server error {0}")]
    Server(u16),
    /// Connection refused, reset, timed out; the stream died.
    #[error("network: {0}")]
    Network(String),
    /// A response this version cannot read: a 2xx whose body is not the
    /// expected JSON (a captive portal's page, a proxy's, a truncated body).
    /// Retryable: the request may never have reached the server, and a
    /// retry with the same idempotency key cannot run a command twice.
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether trying again later may succeed (network, 5xx, 429, an
    /// unreadable answer).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SyncError::Network(_)
                | SyncError::Server(_)
                | SyncError::RateLimited { .. }
                | SyncError::Malformed(_)
        )
    }

    /// The stable code of a refusal, or of this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Unauthorized => ErrorCode::Unauthorized.as_str(),
            SyncError::Forbidden(_) => ErrorCode::Forbidden.as_str(),
            SyncError::NotFound => ErrorCode::NotFound.as_str(),
            SyncError::Refused { code, .. } => code.as_str(),
            SyncError::RateLimited { .. } => ErrorCode::RateLimited.as_str(),
            SyncError::Server(_) => "server_error",
            SyncError::Network(_) => "network",
            SyncError::Malformed(_) => "malformed",
            SyncError::Store(_) => "store",
        }
    }
}

impl From<reqwest::Error> for SyncError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() {
            SyncError::Malformed(e.to_string())
        } else {
            // The URL may carry a query but never a token (tokens go in a
            // header), so the message is safe to keep.
            SyncError::Network(e.to_string())
        }
    }
}

pub type SyncResult<T> = Result<T, SyncError>;
