//! A client process for the outbox kill test (tests/tests/outbox.rs):
//! `outbox_child URL DIR N` logs in (or restores its session), queues the
//! sends `kill-0` .. `kill-{N-1}` over chats c1..c3 with fixed idempotency
//! keys, sends the outbox, and exits 0 once nothing is left to send. The
//! test kills it (-9) at random moments and starts it again.

use rapport_core::model::ChatId;
use rapport_core::outbox::Draft;
use rapport_core::session::FileSecretStore;
use rapport_core::{Client, ClientConfig, ClientError};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, dir, n) = (
        &args[1],
        std::path::PathBuf::from(&args[2]),
        args[3].parse::<usize>().unwrap_or(0),
    );
    let secrets = Arc::new(FileSecretStore::new(dir.join("secrets.json")));
    let client = Client::open(
        ClientConfig {
            store_path: dir.join("rapport.db"),
            server_url: url.clone(),
        },
        secrets,
    )
    .expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if client.login_info().is_none() {
        loop {
            match rt.block_on(client.login("u0@w1.test", "correct horse")) {
                Ok(_) => break,
                Err(ClientError::Sync(e)) if e.is_retryable() => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("login: {e}"),
            }
        }
    }
    client.start_sync().expect("sync");
    // The chats must be in the store (the first sync) before replying.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (1..=3).any(|i| {
        client
            .chat(&ChatId(format!("c{i}")))
            .ok()
            .flatten()
            .is_none_or(|c| {
                // The window the test opened (a subscriber message just now).
                let now = client.server_now().0;
                c.chat.last_inbound_at.is_none_or(|t| now - t.0 > 3_600_000)
            })
    }) {
        assert!(Instant::now() < deadline, "first sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..n {
        let chat = ChatId(format!("c{}", 1 + i % 3));
        let key = format!("kill-{i}");
        // Queued before any network call; the same key again is one send.
        client
            .send(&chat, Draft::Text(&format!("kill-{i}")), Some(&key))
            .expect("queue");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while client.unsent_commands().expect("outbox") > 0 {
        assert!(Instant::now() < deadline, "outbox not drained");
        std::thread::sleep(Duration::from_millis(20));
    }
}
