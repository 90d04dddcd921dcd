//! Issue 16 hole 4: storage with bounds. Forgets what has outlived its
//! use, each owner its own rows: answers older than a week, dead sessions
//! and exchanged refresh tokens, uploads never sent after a day, all but the
//! newest sent notifications, devices whose session family ended. The
//! server runs it every minute. Above the hub and the owners it calls, so
//! none of them depends on another for it.

use crate::hub::{Hub, HubResult};

/// What one [`prune`] removed, per kind of row.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub answers: usize,
    pub sessions: usize,
    pub uploads: usize,
    pub notifications: usize,
    pub devices: usize,
}

/// One pass of every pruner.
pub fn prune(hub: &Hub) -> HubResult<Pruned> {
    let now = hub.now();
    let (answers, sessions) = hub.prune_own(now)?;
    Ok(Pruned {
        answers,
        sessions,
        uploads: crate::uploads::prune(hub, now)?,
        notifications: crate::notify::prune_sent(hub, crate::notify::KEEP_SENT)?,
        devices: crate::notify::prune_devices(hub)?,
    })
}
