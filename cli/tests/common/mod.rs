//! Shared by the CLI's tests: a reference server whose clock stands 25
//! hours after its seeded history, so 24-hour support windows are closed
//! (E4) until a subscriber writes.

#![allow(dead_code)]

use rapport_core::model::{App, ChatId};
use rapport_core::policy::HOUR_MS;
use rapport_core::store::ChatFilter;
use rapport_core::timers::ManualClock;
use rapport_tests::TestServer;
use std::sync::Arc;

pub struct Server {
    pub srv: TestServer,
    pub clock: Arc<ManualClock>,
    pub rt: tokio::runtime::Runtime,
}

pub fn server(chats: usize, messages: usize) -> Server {
    let rt = rapport_tests::runtime();
    let clock = Arc::new(ManualClock::new(rapport_server::hub::now()));
    let srv = rt.block_on(TestServer::start_with_clock(
        chats,
        messages,
        Some(clock.clone()),
    ));
    clock.advance_ms(25 * HOUR_MS);
    Server { srv, clock, rt }
}

/// Every chat of the store matching `app`, newest first.
pub fn chats_of(store: &rapport_core::Store, app: App) -> Vec<ChatId> {
    let f = ChatFilter {
        app: Some(app),
        ..Default::default()
    };
    store
        .chat_page(&f, None, 1000)
        .expect("page")
        .rows
        .into_iter()
        .map(|r| r.chat.id)
        .collect()
}
