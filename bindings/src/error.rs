//! One error for the whole boundary, mapped once from the core's errors.
//! Every variant has a stable `code` (the server's codes where it has one),
//! so an app can branch on it and log it without message text.

use rapport_core::client::ClientError;
use rapport_core::policy::Refusal;
use rapport_core::store::StoreError;
use rapport_core::sync::SyncError;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum RapportError {
    /// The rules refuse it (E1-E6, B7/B8); nothing was queued.
    #[error("refused ({}): {reason}", reason.code())]
    Refused { reason: Refusal },
    /// No session: log in (again).
    #[error("not logged in")]
    NotLoggedIn,
    /// The server refused the request with a stable code (`forbidden`,
    /// `not_found`, `window_closed`, `rate_limited`, `server_error`, ...).
    #[error("server ({code}): {detail}")]
    Server { code: String, detail: String },
    /// The server could not be reached; retrying later may work.
    #[error("network: {detail}")]
    Network { detail: String },
    #[error("no such chat")]
    UnknownChat,
    /// The local store failed; `needs_rebuild`: only a fresh sync helps.
    #[error("store ({code}): {detail}")]
    Store {
        code: String,
        needs_rebuild: bool,
        detail: String,
    },
    /// A bad argument (an idempotency key, ...).
    #[error("invalid argument: {detail}")]
    InvalidArgument { detail: String },
    /// Another call on this client is running (logout waits for none).
    #[error("busy: another call is running")]
    Busy,
    /// The client was logged out; make a new one.
    #[error("the client is closed")]
    Closed,
    /// The platform's secure storage (Keychain, Keystore) failed: not the
    /// network, so retrying the same call will not help by itself.
    #[error("secret store: {detail}")]
    SecretStore { detail: String },
    /// A bug: the core's runtime failed, or a panic was caught.
    #[error("internal: {detail}")]
    Internal { detail: String },
}

pub type Result<T, E = RapportError> = std::result::Result<T, E>;

impl RapportError {
    pub fn code(&self) -> String {
        match self {
            RapportError::Refused { reason } => reason.code(),
            RapportError::NotLoggedIn => "not_logged_in",
            RapportError::Server { code, .. } | RapportError::Store { code, .. } => code,
            RapportError::Network { .. } => "network",
            RapportError::UnknownChat => "unknown_chat",
            RapportError::InvalidArgument { .. } => "invalid_argument",
            RapportError::Busy => "busy",
            RapportError::Closed => "closed",
            RapportError::SecretStore { .. } => "secret_store",
            RapportError::Internal { .. } => "internal",
        }
        .to_owned()
    }
}

/// The stable code of an error (`window_closed`, `network`, ...).
#[uniffi::export]
pub fn error_code(error: RapportError) -> String {
    error.code()
}

impl From<StoreError> for RapportError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Corrupt { .. } => "store_corrupt",
            StoreError::Decode { .. } => "store_decode",
            StoreError::TooNew { .. } => "store_too_new",
            StoreError::UnknownChat => return RapportError::UnknownChat,
            StoreError::Reentrant => "store_reentrant",
            StoreError::Migration(_) => "store_migration",
            StoreError::Io(_) => "store_io",
            StoreError::Sqlite(_) => "store_sqlite",
            StoreError::Full => "store_full",
            StoreError::ReadOnly(_) => "store_read_only",
        };
        RapportError::Store {
            code: code.into(),
            needs_rebuild: e.needs_rebuild(),
            detail: e.to_string(),
        }
    }
}

impl From<SyncError> for RapportError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(e) => e.into(),
            SyncError::Unauthorized => RapportError::NotLoggedIn,
            SyncError::Network(detail) => RapportError::Network { detail },
            SyncError::Refused { code, message, .. } => RapportError::Server {
                code: code.as_str().into(),
                detail: message,
            },
            other => RapportError::Server {
                code: other.code().to_owned(),
                detail: other.to_string(),
            },
        }
    }
}

impl From<ClientError> for RapportError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store(e) => e.into(),
            ClientError::Sync(e) => e.into(),
            ClientError::NotLoggedIn => RapportError::NotLoggedIn,
            ClientError::UnknownChat => RapportError::UnknownChat,
            ClientError::InvalidKey | ClientError::UnknownMessage | ClientError::NeedsFile => {
                RapportError::InvalidArgument {
                    detail: e.to_string(),
                }
            }
            ClientError::Refused(reason) => RapportError::Refused { reason },
            ClientError::SecretStore(detail) => RapportError::SecretStore { detail },
            ClientError::Runtime(detail) => RapportError::Internal { detail },
        }
    }
}

/// What a platform's secure storage reports (thrown by the app's
/// [`crate::SecretStore`]).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SecretStoreError {
    #[error("secure storage: {detail}")]
    Failed { detail: String },
}

/// A callback that threw something undeclared becomes an error, not a panic.
impl From<uniffi::UnexpectedUniFFICallbackError> for SecretStoreError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SecretStoreError::Failed { detail: e.reason }
    }
}
