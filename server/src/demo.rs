//! The demo workspace: a generated history, one agent who can log in, and
//! the simulator keeping it lively. `rapport-server --simulate` and
//! `rapport demo` (crate rapport-cli) both start it through here.

use crate::hub::{HubError, Workspace};
use crate::{AppState, sim};
use rapport_core::generate::{GenConfig, Generator, me};
use rapport_core::model::Member;
use std::sync::Arc;

/// The demo workspace's id.
pub const WORKSPACE: &str = "demo";
/// The demo agent's login.
pub const EMAIL: &str = "agent@example.com";
pub const PASSWORD: &str = "rapport";

/// The demo workspace: created and seeded with `cfg` on an empty server
/// (with the agent's account), or the existing one. Returns the generator
/// that goes on from its history, for [`sim::start`].
pub async fn workspace(
    state: Arc<AppState>,
    cfg: GenConfig,
) -> Result<(Arc<Workspace>, Generator), HubError> {
    if let Some(ws) = state.hub.workspace(WORKSPACE) {
        // Restarted: go on past every id the log holds (the last run's
        // live messages included), never over them.
        let head = state.hub.head(&ws)?;
        return Ok((ws, Generator::resume(cfg, head.0)));
    }
    tokio::task::spawn_blocking(move || {
        let ws = state.hub.create_workspace(WORKSPACE, "Demo workspace")?;
        let generator = sim::seed(&state.hub, &ws, cfg)?;
        let agent = Member {
            id: me(),
            name: "Agent 0".into(),
            avatar_url: None,
            role: "Agent".into(),
            conversations_access: true,
        };
        state.hub.add_account(&ws, EMAIL, PASSWORD, agent)?;
        Ok((ws, generator))
    })
    .await
    .map_err(|e| HubError::Invalid(format!("seeding the demo: {e}")))?
}
