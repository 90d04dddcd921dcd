//! Sync (S2): the wire format of the sync API today; the backends and the
//! sync engine come with the sync work.

pub mod wire;
