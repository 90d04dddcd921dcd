//! Rapport's shared core: everything the Android and iPhone apps decide
//! lives here, exposed to them through UniFFI (the `rapport-ffi` crate).
//!
//! Modules, one concern each (see ARCHITECTURE.md):
//! - [`model`]: plain data for every entity of SPEC.md and the server's
//!   events;
//! - [`store`]: the offline SQLite store, `apply(events)` and the inbox and
//!   timeline queries;
//! - [`observe`]: live windows over the store that send small diffs;
//! - [`policy`]: the rules of SPEC E and B8 (limits, windows, quota, pause);
//! - [`timers`]: a clock on server time and deadline events (S4);
//! - [`sync`], [`session`]: the backends, the sync engine, logins;
//! - [`client`]: the one object an app holds, on a runtime the core owns;
//! - [`generate`]: a realistic synthetic workspace for tests and benchmarks.

pub mod client;
pub mod generate;
pub mod model;
pub mod observe;
pub mod outbox;
pub mod policy;
pub mod push;
pub mod sendpulse;
pub mod session;
pub mod store;
pub mod sync;
pub mod timers;
pub mod wire;

pub use client::{Client, ClientConfig, ClientError};
pub use store::{Store, StoreError};
