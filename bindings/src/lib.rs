//! rapport-ffi: rapport-core for the Kotlin and Swift apps, through UniFFI.
//!
//! Translation only, no product logic: every rule stays in the core.
//! - [`types`]: the core's data declared to UniFFI as it is;
//! - [`error`]: one error enum for the boundary, with stable codes;
//! - [`client`]: `RapportClient`, the object an app holds, and the
//!   `SecretStore` the platform implements;
//! - [`listen`]: listener traits the apps implement and the `TaskHandle`
//!   that ends a subscription;
//! - [`push`]: `NotificationClient` for the short-lived notification process;
//! - [`screens`]: the subscriber card, deals, flows, the Viber month and
//!   the other reads the screens need (issue 13);
//! - [`apps`]: what the app screens add (issue 14): the composer's counter.
//!
//! No panic crosses the boundary: nothing here unwraps, and UniFFI turns a
//! panic in the core into an internal error (the profile keeps unwinding).

uniffi::setup_scaffolding!("rapport");

#[cfg(target_os = "android")]
mod android;
pub mod apps;
pub mod client;
pub mod error;
pub mod listen;
pub mod push;
pub mod screens;
pub mod types;

pub use client::{RapportClient, SecretStore};
pub use error::{RapportError, SecretStoreError};
pub use listen::TaskHandle;
