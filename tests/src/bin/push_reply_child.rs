//! The short-lived notification process of the H3 tests
//! (tests/tests/push_reply.rs): `push_reply_child DIR URL PAYLOAD TEXT KEY`
//! opens the store and session in DIR, replies to the push, marks its chat
//! read, prints `{"delivered": bool}` (or `{"error": code}`) and exits.

use rapport_core::push::{NotificationClient, NotificationError};
use rapport_core::session::FileSecretStore;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, url, payload, text, key] = &args[..] else {
        eprintln!("usage: push_reply_child DIR URL PAYLOAD TEXT KEY");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(dir);
    let secrets = Arc::new(FileSecretStore::new(dir.join("secrets.json")));
    let outcome = NotificationClient::open(&dir.join("rapport.db"), url, secrets)
        .and_then(|c| c.reply(payload, text, key));
    match outcome {
        Ok(o) => println!("{{\"delivered\": {}}}", o.delivered),
        Err(e) => {
            let code = match &e {
                NotificationError::Refused(r) => r.code().to_owned(),
                other => format!("{other:?}"),
            };
            println!("{}", serde_json::json!({ "error": code }));
            std::process::exit(1);
        }
    }
}
