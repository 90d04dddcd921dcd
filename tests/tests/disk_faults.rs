//! Issue 16, disk faults: a full disk and a read-only store give typed
//! errors, nothing queued or accepted is lost, and both ends recover when
//! space returns.
//!
//! The stores live on a real size-limited file system: an ext4 image of a
//! few MB, loop-mounted (these tests run as root: `scripts/test.sh` sets
//! `RAPPORT_DISK_FAULTS=require` there, so a mount that fails fails the
//! test). Elsewhere, where mounting is impossible, each test prints why and
//! skips. The disk is filled with a file up to the last byte and SQLite's
//! WAL is truncated first, so the next page a write needs has nowhere to go.

use rapport_core::ClientError;
use rapport_core::generate::{GenConfig, me};
use rapport_core::model::{ChatId, EventPayload, Member, MemberId, Sender};
use rapport_core::outbox::Draft;
use rapport_core::store::{ChatFilter, Store, StoreError};
use rapport_core::sync::{RapportBackend, SyncEngine, SyncError};
use rapport_core::timers::ServerClock;
use rapport_tests::{PASSWORD, TestServer, texts_with_prefix, wait_until};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A loop-mounted ext4 file system of a few MB; unmounted on drop.
struct SmallFs {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFs {
    /// `None` (with the reason printed) where mounting is impossible;
    /// with `RAPPORT_DISK_FAULTS=require`, a panic instead.
    fn new(mb: u64) -> Option<SmallFs> {
        match Self::mount(mb) {
            Ok(fs) => Some(fs),
            Err(why) => {
                assert!(
                    std::env::var("RAPPORT_DISK_FAULTS").as_deref() != Ok("require"),
                    "RAPPORT_DISK_FAULTS=require, but no small file system: {why}"
                );
                eprintln!("SKIPPED: no size-limited file system here: {why}");
                None
            }
        }
    }

    fn mount(mb: u64) -> Result<SmallFs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let img = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(mb * 1024 * 1024))
            .map_err(|e| e.to_string())?;
        // No reserved blocks (root would write into them) and no journal:
        // the space is all there is.
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-O", "^has_journal"])
            .arg(&img))?;
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt))?;
        Ok(SmallFs { mnt, _dir: dir })
    }

    fn path(&self) -> &Path {
        &self.mnt
    }

    /// Writes a file until the disk has no byte left; its path.
    fn fill(&self) -> PathBuf {
        let p = self.mnt.join("filler");
        let mut f = std::fs::File::create(&p).expect("filler");
        for chunk in [1 << 16, 4096, 512, 1] {
            let buf = vec![0u8; chunk];
            while f.write(&buf).is_ok_and(|n| n > 0) {}
        }
        let _ = f.sync_all();
        p
    }

    fn free(&self) {
        std::fs::remove_file(self.mnt.join("filler")).expect("filler removed");
    }

    fn remount(&self, opt: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(&self.mnt))
        .expect("remount");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Truncates the store's WAL, so the next write needs fresh pages.
fn truncate_wal(path: &Path) {
    Store::open(path)
        .expect("store")
        .checkpoint()
        .expect("checkpoint");
}

fn is_full<T>(r: &Result<T, ClientError>) -> bool {
    matches!(r, Err(ClientError::Store(StoreError::Full)))
}

#[test]
fn e1_s1_a_full_disk_refuses_a_reply_typed_and_the_queued_ones_send_after() {
    let Some(fs) = SmallFs::new(12) else { return };
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 50));
    let c = srv.client(fs.path(), &rt, "u0@w1.test");
    srv.sync(&c);
    let chat = c.chat_page(&ChatFilter::default(), None, 1).unwrap().rows[0]
        .chat
        .id
        .clone();
    srv.subscriber_writes(chat.as_str(), "open-window");
    wait_until("the open window", 20, || {
        c.chat(&chat)
            .unwrap()
            .unwrap()
            .chat
            .last_inbound_at
            .is_some()
    });
    // Offline: the replies stay queued.
    c.stop_sync();
    let mut queued = Vec::new();
    for i in 0..3 {
        let text = format!("queued {i}");
        c.send(&chat, Draft::Text(&text), Some(&format!("q{i}")))
            .unwrap();
        queued.push(text);
    }

    truncate_wal(&fs.path().join("rapport.db"));
    fs.fill();
    // A reply on the full disk: a typed error, not a panic. A few may
    // still fit in pages SQLite already has; those are queued like others.
    let body = "x".repeat(400);
    let mut refused = None;
    for i in 0..2_000 {
        let text = format!("full {i} {body}");
        let r = c.send(&chat, Draft::Text(&text), Some(&format!("f{i}")));
        if is_full(&r) {
            refused = Some(text);
            break;
        }
        r.unwrap_or_else(|e| panic!("reply {i} on a full disk: {e:?}"));
        queued.push(text);
    }
    let refused = refused.expect("a reply on a full disk is refused as Full");
    assert!(
        queued.len() >= 3,
        "the replies queued before the disk filled are still there"
    );

    // Space returns: every queued reply goes out, once; the refused one
    // was never queued.
    fs.free();
    c.start_sync().unwrap();
    let ws = srv.workspace("w1");
    wait_until("the queued replies on the server", 30, || {
        texts_with_prefix(&ws.store, chat.as_str(), "").len() >= queued.len()
            && queued
                .iter()
                .all(|t| texts_with_prefix(&ws.store, chat.as_str(), t).len() == 1)
    });
    for t in &queued {
        assert_eq!(
            texts_with_prefix(&ws.store, chat.as_str(), t),
            vec![t.clone()],
            "exactly once on the server"
        );
    }
    assert!(texts_with_prefix(&ws.store, chat.as_str(), &refused).is_empty());
    c.stop_sync();
}

#[test]
fn s2_sync_apply_on_a_full_disk_stops_typed_and_resumes_when_space_returns() {
    let Some(fs) = SmallFs::new(12) else { return };
    let rt = rapport_tests::runtime();
    let mut srv = rt.block_on(TestServer::start(20, 200));
    let path = fs.path().join("rapport.db");
    let store = Arc::new(Store::open(&path).unwrap());
    store.set_me(me()).unwrap();
    let backend = RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap();
    rt.block_on(backend.login("u0@w1.test", PASSWORD)).unwrap();
    let engine = SyncEngine::new(store.clone(), Arc::new(backend));
    rt.block_on(engine.catch_up()).unwrap();
    let before = store.last_seq().unwrap();

    // The server moves on by a few thousand events while the disk is full.
    let mut generator = srv.generator.take().unwrap();
    generator.continue_for(3_000);
    let ws = srv.workspace("w1");
    let t = srv.server.state.hub.now();
    let batch: Vec<EventPayload> = generator
        .batch(4_000)
        .into_iter()
        .map(|e| rapport_server::sim::at_now(e.payload, t))
        .collect();
    srv.server.state.hub.emit(&ws, batch).unwrap();
    let head = srv.head("w1");
    store.checkpoint().unwrap();
    fs.fill();
    let err = rt.block_on(engine.catch_up()).unwrap_err();
    assert!(
        matches!(err, SyncError::Store(StoreError::Full)),
        "a typed full-disk error: {err:?}"
    );
    let stopped = store.last_seq().unwrap();
    assert!(stopped < head, "apply stopped before the head");
    assert!(stopped >= before, "nothing applied before is lost");

    fs.free();
    assert_eq!(rt.block_on(engine.catch_up()).unwrap(), head);
    assert_eq!(store.last_seq().unwrap(), head);
    // The store holds what the server holds.
    assert_eq!(
        store.status_counts(&ChatFilter::default()).unwrap(),
        ws.store.status_counts(&ChatFilter::default()).unwrap()
    );
    drop(srv);
}

#[test]
fn s1_a_read_only_store_opens_with_a_typed_error() {
    let Some(fs) = SmallFs::new(8) else { return };
    let path = fs.path().join("rapport.db");
    {
        let store = Store::open(&path).unwrap();
        store.set_me(me()).unwrap();
    }
    fs.remount("ro");
    let err = Store::open(&path).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::ReadOnly(_)),
        "a read-only store is its own error: {err:?}"
    );
    // The client, too, says so (before any network).
    let err = rapport_core::Client::open(
        rapport_core::ClientConfig {
            store_path: path.clone(),
            server_url: "http://127.0.0.1:9".into(),
        },
        Arc::new(rapport_core::session::FileSecretStore::new(
            std::env::temp_dir().join("rapport-ro-secrets.json"),
        )),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::ReadOnly(_))),
        "{err:?}"
    );
    // Writable again: the store opens with what it had.
    fs.remount("rw");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.me(), Some(me()));
}

/// Issue 16 hole 4 and disk faults on the server: with `server.db` and the
/// workspace stores on a full disk, a live request answers 507
/// `storage_full` (never a 500), and everything accepted before is there
/// when space returns; a retry with the same key then goes through, once.
#[test]
fn s2_a_full_server_disk_answers_storage_full_and_loses_nothing() {
    let Some(fs) = SmallFs::new(24) else { return };
    let rt = rapport_tests::runtime();
    let server = rt
        .block_on(rapport_server::start(rapport_server::ServerConfig {
            db: fs.path().join("server.db"),
            listen: "127.0.0.1:0".parse().unwrap(),
            heartbeat_ms: 300,
            clock: None,
        }))
        .unwrap();
    let hub = &server.state.hub;
    let ws = hub.create_workspace("w1", "One").unwrap();
    rapport_server::sim::seed(hub, &ws, GenConfig::new(5, 20)).unwrap();
    let member = Member {
        id: MemberId::from("u0"),
        name: "Agent".into(),
        avatar_url: None,
        role: "Agent".into(),
        conversations_access: true,
    };
    hub.add_account(&ws, "u0@w1.test", PASSWORD, member)
        .unwrap();
    let chat = ChatId::from("c0");
    let subscriber = rapport_tests::message("c0", "sub-now", Sender::Subscriber, "help", hub.now());
    hub.emit(&ws, vec![EventPayload::MessageUpserted(subscriber)])
        .unwrap();
    let url = server.url();
    rapport_core::sync::install_crypto();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method,
                path: String,
                token: Option<String>,
                body: serde_json::Value,
                key: Option<String>| {
        let (http, url) = (http.clone(), url.clone());
        rt.block_on(async move {
            let mut req = http.request(method, format!("{url}{path}")).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(k) = key {
                req = req.header("idempotency-key", k);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        })
    };
    let login = || {
        call(
            reqwest::Method::POST,
            "/v1/login".into(),
            None,
            serde_json::json!({"email": "u0@w1.test", "password": PASSWORD}),
            None,
        )
    };
    let (status, body) = login();
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let send = |i: usize| {
        call(
            reqwest::Method::POST,
            "/v1/chats/c0/messages".into(),
            Some(token.clone()),
            serde_json::json!({"text": format!("reply {i} {}", "y".repeat(300))}),
            Some(format!("k{i}")),
        )
    };
    let mut accepted = Vec::new();
    for i in 0..3 {
        assert_eq!(send(i).0, 200);
        accepted.push(i);
    }
    let settings = |email: bool| {
        call(
            reqwest::Method::PUT,
            "/v1/settings".into(),
            Some(token.clone()),
            serde_json::json!({"push": true, "email": email, "notifications_bot": false, "push_preview": true}),
            None,
        )
    };
    let (status, body) = settings(false);
    assert_eq!(status, 200, "{body}");

    // server.db and the workspace store: WALs truncated, then the disk full.
    {
        let db = rusqlite::Connection::open(fs.path().join("server.db")).unwrap();
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    ws.store.checkpoint().unwrap();
    fs.fill();

    // Replies: each answers 200 (it fit) or 507; never a 500. Once the
    // disk is out of pages every other write answers 507 too.
    let mut full_at = None;
    for i in 3..500 {
        let (status, body) = send(i);
        match status {
            200 => accepted.push(i),
            507 => {
                assert_eq!(body["code"], "storage_full", "{body}");
                full_at = Some(i);
                break;
            }
            other => panic!("reply {i} on a full disk: {other} {body}"),
        }
    }
    let full_at = full_at.expect("a reply on a full disk answers 507");
    let (status, body) = settings(true);
    assert!(matches!(status, 200 | 507), "settings: {status} {body}");
    let settings_stuck = status == 507;
    let (status, body) = login();
    assert!(
        status == 507 && body["code"] == "storage_full",
        "a login on a full disk: {status} {body}"
    );
    // Reads still answer.
    let (status, body) = call(
        reqwest::Method::GET,
        "/v1/sync?since=0".into(),
        Some(token.clone()),
        serde_json::Value::Null,
        None,
    );
    assert!(matches!(status, 200 | 507), "sync: {status} {body}");

    // Space returns: everything accepted is there once, the refused reply
    // goes through on retry with its key, once.
    fs.free();
    assert_eq!(send(full_at).0, 200);
    assert_eq!(send(full_at).0, 200, "a retry of the same key");
    accepted.push(full_at);
    let ws = hub.workspace("w1").unwrap();
    for i in &accepted {
        let prefix = format!("reply {i} ");
        assert_eq!(
            texts_with_prefix(&ws.store, chat.as_str(), &prefix).len(),
            1,
            "reply {i} exactly once"
        );
    }
    let (status, body) = call(
        reqwest::Method::GET,
        "/v1/settings".into(),
        Some(token.clone()),
        serde_json::Value::Null,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        body["email"], !settings_stuck,
        "settings as last accepted: {body}"
    );
    assert_eq!(login().0, 200);
}
