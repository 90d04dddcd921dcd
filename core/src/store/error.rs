use rusqlite::ErrorCode;

/// What can go wrong with the local store. Every variant tells the caller
/// what to do; none of them carries message text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is damaged or is not a SQLite database. Nothing local can be
    /// trusted: call [`super::Store::rebuild`] and sync again from the server.
    #[error("the local store is corrupt ({detail}); rebuild it from the server")]
    Corrupt { detail: String },

    /// A row exists but this version cannot read it (an unknown code, broken
    /// JSON). The row is left in place; rebuilding from the server fixes it.
    #[error(
        "row {rowid} of {table} cannot be decoded ({column}: {reason}); rebuild from the server"
    )]
    Decode {
        table: &'static str,
        rowid: i64,
        column: &'static str,
        reason: String,
    },

    /// The file was written by a newer version of Rapport.
    #[error("the local store has schema version {found}; this version knows up to {known}")]
    TooNew { found: i64, known: i64 },

    /// No such chat in the store.
    #[error("unknown chat")]
    UnknownChat,

    /// A listener called back into the store (a write, a subscription, a
    /// window resize) from inside its callback. Do it after returning.
    #[error("called from inside a change listener")]
    Reentrant,

    #[error("could not upgrade the local store: {0}")]
    Migration(String),

    #[error("local store I/O error: {0}")]
    Io(#[from] std::io::Error),

    #[error("sqlite error: {0}")]
    Sqlite(rusqlite::Error),

    /// The device has no room left for the store (issue 16, disk faults).
    /// The write that hit it rolled back whole; nothing written before is
    /// lost. Free some space and retry.
    #[error("the device is full: free some space and retry")]
    Full,

    /// The store's file or folder cannot be written (a read-only mount,
    /// permissions). Reads may still work; writes need the app to fix it.
    #[error("the local store is read-only: {0}")]
    ReadOnly(String),
}

impl StoreError {
    /// Whether the only way forward is [`super::Store::rebuild`].
    pub fn needs_rebuild(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Decode { .. } | StoreError::TooNew { .. }
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                detail: e.to_string(),
            },
            Some(ErrorCode::DiskFull) => StoreError::Full,
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(e: rusqlite_migration::Error) -> Self {
        match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => StoreError::from(err),
            other => StoreError::Migration(other.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
