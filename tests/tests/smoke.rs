use rapport_core::generate::GenConfig;
use rapport_core::store::ChatFilter;
use rapport_tests::TempStore;

#[test]
fn s1_a_generated_workspace_applies_and_lists() {
    let t = TempStore::generated(GenConfig::new(300, 5_000));
    let p = t.store.chat_page(&ChatFilter::default(), None, 50).unwrap();
    assert_eq!(p.rows.len(), 50);
    let c = t.store.status_counts(&ChatFilter::default()).unwrap();
    assert_eq!(c.all, 300);
    println!("{c:?}");
}
