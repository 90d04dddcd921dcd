//! The event decoder: a `GET /v1/sync` answer or a live stream frame, read
//! by the core's own decoders (`sync::decode_sync_page`: the page's kind,
//! then each event on its own; `sync::decode_events`), then written into a store
//! and read back through the store's row codec (store/codec.rs).
//! Nothing here may panic: bad input is a typed error or a kept event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_core::Store;
use rapport_core::store::{ChatFilter, SnapshotPart};
use rapport_core::sync::{Malformed, Pulled, decode_events, decode_sync_page};
use rapport_core::wire::StreamFrameIn;
use serde_json::value::RawValue;

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

/// Applies decoded events as the sync engine does, undecodable ones kept.
fn apply(events: Vec<rapport_core::model::Event>, malformed: Vec<Malformed>, store: &Store) {
    let kept: Vec<_> = malformed
        .into_iter()
        .map(|m| (m.seq, m.raw, m.reason))
        .collect();
    let _ = store.apply_with_malformed(&events, &kept);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = serde_json::from_str::<Box<RawValue>>(text) else {
        return;
    };
    let Ok(store) = Store::open(":memory:") else {
        return;
    };
    // A `/v1/sync` answer through the decoder sync itself uses; what it
    // refuses is tried as a live stream frame.
    match decode_sync_page(&raw) {
        Ok(Pulled::Snapshot(s)) => {
            let _ = store.apply_snapshot(&s);
            read_back(&store);
            // The same snapshot again, as a resync over what it made.
            let _ = store.resync(&s);
        }
        Ok(Pulled::SnapshotPage(p)) => {
            let _ = store.apply_snapshot_page(&p.snapshot, SnapshotPart::First, p.next.as_deref());
        }
        Ok(Pulled::Events {
            events, malformed, ..
        }) => apply(events, malformed, &store),
        Err(_) => {
            if let Ok(frame) = serde_json::from_str::<StreamFrameIn>(text) {
                let (events, malformed) = decode_events(frame.events);
                apply(events, malformed, &store);
            }
        }
    }
    read_back(&store);
});
