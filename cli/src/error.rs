//! What can go wrong, and the exit code each failure gives.

use rapport_core::ClientError;
use rapport_core::policy::Refusal;
use rapport_core::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad command line (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Not logged in, or no such chat or member (exit 4).
    #[error("{0}")]
    NotFound(String),
    /// A rule refused it, locally or on the server (exit 3).
    #[error("refused ({code}): {message}")]
    Refused { code: String, message: String },
    /// Network, server, store (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Refused { .. } => 3,
            CliError::NotFound(_) => 4,
        }
    }

    /// A stable code for `--json` errors.
    pub fn code(&self) -> &str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::NotFound(_) => "not_found",
            CliError::Refused { code, .. } => code,
            CliError::Failed(_) => "failed",
        }
    }

    pub fn not_logged_in() -> CliError {
        CliError::NotFound(
            "not logged in: run `rapport login --server URL --email EMAIL` first".into(),
        )
    }
}

impl From<Refusal> for CliError {
    fn from(r: Refusal) -> Self {
        CliError::Refused {
            code: r.code().into(),
            message: r.to_string(),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Refused(r) => r.into(),
            ClientError::NotLoggedIn => CliError::not_logged_in(),
            ClientError::UnknownChat => CliError::NotFound("no such chat".into()),
            ClientError::Sync(s) => s.into(),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<SyncError> for CliError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Refused { code, message, .. } => CliError::Refused {
                code: code.as_str().into(),
                message,
            },
            SyncError::Forbidden(m) => CliError::Refused {
                code: rapport_core::wire::ErrorCode::Forbidden.as_str().into(),
                message: m,
            },
            SyncError::Unauthorized => CliError::NotFound(
                "the server refused the session: log in again with `rapport login`".into(),
            ),
            SyncError::NotFound => CliError::NotFound("not found on the server".into()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<rapport_core::StoreError> for CliError {
    fn from(e: rapport_core::StoreError) -> Self {
        CliError::Failed(format!("local store: {e}"))
    }
}
