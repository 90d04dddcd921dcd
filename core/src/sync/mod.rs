//! Sync (S2): a [`Backend`] trait, the Rapport backend on the reference
//! server's API, and the [`SyncEngine`] that takes a store from empty to a
//! live inbox and keeps it there.

mod action;
mod any;
mod backend;
mod engine;
mod error;
mod rapport;
mod sendpulse;

pub use action::{Action, PauseAction, SubscriberEdit, UploadRef};
pub use any::AnyBackend;
pub use backend::{Backend, Capabilities, Live, Malformed, Pulled};
pub use engine::{Backoff, CATCH_UP_PAGE, SyncEngine, SyncState};
pub use error::{SyncError, SyncResult};
pub use rapport::{RapportBackend, decode_events, decode_sync_page, install_crypto};
pub use sendpulse::{SendPulseBackend, SendPulseConfig};
