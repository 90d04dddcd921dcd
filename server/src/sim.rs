//! The messaging-app simulator: seeds a workspace with a realistic
//! generated history, then keeps it alive: subscribers write on each app at
//! a configurable rate, bots reply, buttons are pressed, files arrive,
//! Instagram ad notices and story mentions, reactions, Telegram quotes,
//! delivery receipts moving sent -> delivered -> read, chats opened and
//! closed (A8), assignments and notes.

use crate::hub::{Hub, HubResult, Workspace};
use rapport_core::generate::{GenConfig, Generator};
use rapport_core::model::{EventPayload, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Seeds `ws` with the workspace `cfg` describes, its history ending about
/// now; returns the generator, ready to go on live.
pub fn seed(hub: &Hub, ws: &Workspace, mut cfg: GenConfig) -> HubResult<Generator> {
    // Events are 1-2 s apart (about 1.2 per message, 2 per chat): start
    // far enough back that the history ends before now, never after.
    let approx_events = (cfg.chats * 2 + cfg.messages * 6 / 5 + 100) as i64;
    cfg.start = hub.now().plus_millis(-approx_events * 2_000);
    let mut generator = Generator::new(cfg);
    loop {
        let batch = generator.batch(5_000);
        if batch.is_empty() {
            return Ok(generator);
        }
        hub.emit(ws, batch.into_iter().map(|e| e.payload).collect())?;
    }
}

/// Stamps a live payload with the server's time.
pub fn at_now(payload: EventPayload, t: Timestamp) -> EventPayload {
    match payload {
        EventPayload::MessageUpserted(mut m) => {
            m.sent_at = t;
            EventPayload::MessageUpserted(m)
        }
        EventPayload::NoteUpserted(mut n) => {
            n.created_at = t;
            EventPayload::NoteUpserted(n)
        }
        other => other,
    }
}

/// E3: while an agent's pause runs, the bot's automated messages to that
/// subscriber are held.
fn held_by_pause(ws: &Workspace, payload: &EventPayload, now: Timestamp) -> bool {
    let EventPayload::MessageUpserted(m) = payload else {
        return false;
    };
    if m.sender != rapport_core::model::Sender::Bot {
        return false;
    }
    ws.store
        .chat(&m.chat_id)
        .ok()
        .flatten()
        .is_some_and(|c| rapport_core::policy::pause::is_paused(c.chat.paused_until, now))
}

/// A running simulation; dropping it stops it.
pub struct Simulation {
    task: JoinHandle<()>,
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Emits about `per_second` events a second into `ws` from `generator`.
pub fn start(
    hub: Arc<crate::AppState>,
    ws: Arc<Workspace>,
    mut generator: Generator,
    per_second: f64,
) -> Simulation {
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            generator.continue_for(1);
            let t = hub.hub.now();
            let payloads: Vec<EventPayload> = generator
                .by_ref()
                .map(|e| at_now(e.payload, t))
                .filter(|p| !held_by_pause(&ws, p, t))
                .collect();
            let (hub, ws) = (hub.clone(), ws.clone());
            let emitted = tokio::task::spawn_blocking(move || hub.hub.emit(&ws, payloads)).await;
            if let Ok(Err(e)) = emitted {
                tracing::error!(error = %e, "simulator could not emit");
            }
        }
    });
    Simulation { task }
}
