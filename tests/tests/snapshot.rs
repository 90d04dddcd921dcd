//! S2: a snapshot of one store, applied to an empty one, gives the same
//! inbox: every chat with its status, unread count and preview.

use rapport_core::generate::GenConfig;
use rapport_core::store::ChatFilter;
use rapport_tests::TempStore;

#[test]
fn s2_snapshot_round_trip_gives_the_same_inbox() {
    let a = TempStore::generated(GenConfig::new(300, 4_000));
    let snap = a.store.snapshot(20).unwrap();
    assert_eq!(snap.seq, a.store.last_seq().unwrap());
    assert_eq!(snap.chats.len(), 300);
    let b = TempStore::new();
    b.store.apply_snapshot(&snap).unwrap();
    assert_eq!(b.store.last_seq().unwrap(), snap.seq);
    let all = |t: &TempStore| {
        t.store
            .chat_page(&ChatFilter::default(), None, u32::MAX)
            .unwrap()
            .rows
    };
    assert_eq!(all(&a), all(&b));
    assert_eq!(
        a.store.status_counts(&ChatFilter::default()).unwrap(),
        b.store.status_counts(&ChatFilter::default()).unwrap()
    );
    // The latest 20 items of a busy chat match (notes included).
    let busy = &all(&a)[0].chat.id;
    let ta = a.store.timeline_page(busy, None, 20).unwrap().items;
    let tb = b.store.timeline_page(busy, None, 20).unwrap().items;
    assert_eq!(ta, tb);
    // Applying it again changes nothing.
    let again = b.store.apply_snapshot(&snap).unwrap();
    assert!(again.chats.is_empty(), "{:?}", again.chats.len());
}
