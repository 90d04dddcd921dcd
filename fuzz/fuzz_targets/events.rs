//! The event decoder: a `GET /v1/sync` answer or a live stream frame, read
//! as the core reads them (sync/rapport.rs: the page's kind, then each
//! event on its own with `Event::from_json`), then written into a store
//! and read back through the store's row codec (store/codec.rs).
//! Nothing here may panic: bad input is a typed error or a kept event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_core::Store;
use rapport_core::model::{Event, Seq, Snapshot};
use rapport_core::store::ChatFilter;
use rapport_core::wire::{EventsPageIn, StreamFrameIn};
use serde_json::value::RawValue;

/// As `sync::rapport::decode`: a bad event is set aside with its seq.
type Kept = Vec<(Option<Seq>, String, String)>;
fn decode(values: Vec<Box<RawValue>>) -> (Vec<Event>, Kept) {
    let mut events = Vec::new();
    let mut malformed = Vec::new();
    for v in values {
        match Event::from_json(v.get()) {
            Ok(e) => events.push(e),
            Err(e) => {
                let seq = serde_json::from_str::<serde_json::Value>(v.get())
                    .ok()
                    .and_then(|x| x.get("seq").and_then(serde_json::Value::as_u64))
                    .map(Seq);
                malformed.push((seq, v.get().to_owned(), e.to_string()));
            }
        }
    }
    (events, malformed)
}

/// Reads everything back through the codec: the chat list, each chat's
/// timeline, the snapshot the store would give.
fn read_back(store: &Store) {
    let _ = store.last_seq();
    let _ = store.status_counts(&ChatFilter::default());
    if let Ok(page) = store.chat_page(&ChatFilter::default(), None, 50) {
        for chat in page.rows.iter().take(8) {
            let _ = store.timeline_page(&chat.chat.id, None, 50);
            let _ = store.unread_count(&chat.chat.id);
        }
    }
    let _ = store.snapshot(20);
}

fn apply(events: Vec<Box<RawValue>>, store: &Store) {
    let (events, malformed) = decode(events);
    let _ = store.apply_with_malformed(&events, &malformed);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: String,
    }
    let Ok(kind) = serde_json::from_str::<Kind>(text) else {
        return;
    };
    let Ok(store) = Store::open(":memory:") else {
        return;
    };
    match kind.kind.as_str() {
        "snapshot" => {
            if let Ok(s) = serde_json::from_str::<Snapshot>(text) {
                let _ = store.apply_snapshot(&s);
                read_back(&store);
                // The same snapshot again, as a resync over what it made.
                let _ = store.resync(&s);
            }
        }
        "events" => {
            if let Ok(page) = serde_json::from_str::<EventsPageIn>(text) {
                apply(page.events, &store);
            }
        }
        _ => {
            if let Ok(frame) = serde_json::from_str::<StreamFrameIn>(text) {
                apply(frame.events, &store);
            }
        }
    }
    read_back(&store);
});
