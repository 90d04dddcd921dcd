//! S1/E7: stores created by every earlier schema version (fixtures in
//! core/tests/fixtures, SQL dumps of real stores at that version) open with
//! today's code, migrate with their data and their unsent commands intact,
//! and send each of those commands once.

use rapport_core::model::*;
use rapport_core::outbox::OutboxState;
use rapport_core::store::TimelineItem;
use rapport_core::sync::Action;
use rapport_tests::{TestServer, texts_with_prefix, wait_until};

const V1: &str = include_str!("../../core/tests/fixtures/schema-v1.sql");
const V2: &str = include_str!("../../core/tests/fixtures/schema-v2.sql");
const V3: &str = include_str!("../../core/tests/fixtures/schema-v3.sql");
const V4: &str = include_str!("../../core/tests/fixtures/schema-v4.sql");
const V5: &str = include_str!("../../core/tests/fixtures/schema-v5.sql");

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// The fixture loaded into a real SQLite file, opened with today's code:
/// at the latest version, every chat, message and queued command still
/// there; then a client on it sends each command once.
fn migrates_and_sends_once(fixture: &str, version: i64, with_file: bool) {
    // c2's preview: the file's echo; the version 1 fixture (cut from
    // version 2's without the file) names it but lacks it, so step 5 takes
    // c2's latest message instead.
    let c2_preview = if with_file {
        "fixture.png"
    } else {
        "fixture-3"
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rapport.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(fixture)
        .unwrap();
    assert_eq!(user_version(&path), version);
    let commands = 6 + usize::from(with_file);
    {
        let store = rapport_core::Store::open(&path).unwrap();
        assert_eq!(user_version(&path), 6, "migrated to the latest");
        // Step 6 (issue 17): the SendPulse connector's lost sends, none yet.
        assert!(store.lost_sends().unwrap().is_empty());
        assert_eq!(store.last_seq().unwrap(), Seq(110));
        assert_eq!(store.me(), Some(MemberId::from("u0")));
        let rows = store.chat_page(&Default::default(), None, 50).unwrap().rows;
        let page = rows.iter().map(|r| r.chat.id.0.clone()).collect::<Vec<_>>();
        assert_eq!(page.len(), 3, "{page:?}");
        // Step 5: each list preview (a JSON copy before) is read from the
        // message it named.
        let mut previews = rows
            .iter()
            .map(|r| {
                let p = r.preview.as_ref().expect("a preview");
                (r.chat.id.0.as_str(), p.text.as_str())
            })
            .collect::<Vec<_>>();
        previews.sort();
        assert_eq!(
            previews,
            [("c1", "fixture-2"), ("c2", c2_preview), ("c3", "help")]
        );
        let echoes = store
            .timeline_page(&ChatId::from("c1"), None, 100)
            .unwrap()
            .items
            .into_iter()
            .filter(
                |i| matches!(i, TimelineItem::Message(m) if m.delivery == Some(Delivery::Pending)),
            )
            .count();
        assert_eq!(echoes, 2, "c1's two pending echoes");
        let outbox = store.outbox().unwrap();
        assert_eq!(outbox.len(), commands);
        assert!(outbox.iter().all(|e| e.state == OutboxState::Queued));
        let texts: Vec<&str> = outbox
            .iter()
            .filter_map(|e| match &e.action {
                Action::SendText { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["fixture-0", "fixture-1", "fixture-2", "fixture-3"]);
        assert_eq!(store.unsent_commands().unwrap(), commands as u64);
    }

    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    srv.open_chats();
    let c = srv.client(dir.path(), &rt, "u0@w1.test");
    c.start_sync().unwrap();
    wait_until("the migrated queue drained", 60, || {
        c.unsent_commands().unwrap() == 0
    });
    let w1 = srv.workspace("w1");
    assert_eq!(
        texts_with_prefix(&w1.store, "c1", "fixture-"),
        ["fixture-0", "fixture-2"],
        "once each, in order"
    );
    assert_eq!(
        texts_with_prefix(&w1.store, "c2", "fixture-"),
        ["fixture-1", "fixture-3"]
    );
    assert!(c.outbox().unwrap().is_empty(), "none failed or set aside");
    assert_eq!(
        w1.store.unread_count(&ChatId::from("c3")).unwrap(),
        0,
        "the queued mark_read arrived"
    );
    let files = w1
        .store
        .timeline_page(&ChatId::from("c2"), None, 1_000)
        .unwrap()
        .items
        .into_iter()
        .filter(|i| {
            matches!(i, TimelineItem::Message(m)
                if matches!(&m.content, Content::Attachment(a) if a.name == "fixture.png"))
        })
        .count();
    assert_eq!(
        files,
        usize::from(with_file),
        "the queued file went up once"
    );
}

#[test]
fn s1_e7_a_version_1_store_migrates_keeping_its_data_and_sends_its_queue_once() {
    migrates_and_sends_once(V1, 1, false);
}

#[test]
fn s1_e7_a_version_2_store_migrates_keeping_its_file_and_sends_its_queue_once() {
    migrates_and_sends_once(V2, 2, true);
}

#[test]
fn s1_e7_a_version_3_store_migrates_keeping_its_file_and_sends_its_queue_once() {
    migrates_and_sends_once(V3, 3, true);
}

#[test]
fn s1_e7_a_version_4_store_migrates_keeping_its_previews_and_sends_its_queue_once() {
    migrates_and_sends_once(V4, 4, true);
}

#[test]
fn s1_e7_a_version_5_store_migrates_keeping_its_queue_and_sends_it_once() {
    migrates_and_sends_once(V5, 5, true);
}
