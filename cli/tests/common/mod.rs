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
    ids(store.chat_page(&of_app(app), None, 1000).expect("page"))
}

/// Every chat of a client's inbox matching `app`, newest first.
pub fn client_chats_of(client: &rapport_core::Client, app: App) -> Vec<ChatId> {
    ids(client.chat_page(&of_app(app), None, 1000).expect("page"))
}

fn of_app(app: App) -> ChatFilter {
    ChatFilter {
        app: Some(app),
        ..Default::default()
    }
}

fn ids(page: rapport_core::store::ChatPage) -> Vec<ChatId> {
    page.rows.into_iter().map(|r| r.chat.id).collect()
}
