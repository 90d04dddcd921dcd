//! SendPulse's chatbot API as Rapport uses it (issue 17).
//!
//! - [`Client`]: OAuth client credentials with expiry and refresh, one
//!   refresh and retry on 401, bounded backoff on 429/5xx honouring
//!   `Retry-After`, pagination to the end, each app's send shape.
//! - [`codes`]: the platform's numeric codes as enums.
//! - [`webhook`]: the webhook body (a JSON array of items) read into typed
//!   items, with a typed reason for every item skipped.
//!
//! The subset spoken here is `docs/sendpulse/openapi.yml`; the contract test
//! in `tests/tests/sendpulse.rs` checks every request against it.
//! A crate of its own so that the gateway (rapport-server) and the direct
//! connector (rapport-core) can both use it.

pub mod client;
pub mod codes;
/// A fake SendPulse on loopback for tests, benches and the demo.
#[cfg(feature = "fake")]
pub mod fake;
pub mod map;
pub mod webhook;

pub use client::{
    Bot, Chat, Client, Config, Contact, Credentials, Dialog, DialogPage, Error, FileKind, Flow,
    Message, Outgoing, SendReceipt, Stats, Template, file_shape,
};
pub use codes::{App, ContactStatus, Direction, MessageStatus, MessageTag};
