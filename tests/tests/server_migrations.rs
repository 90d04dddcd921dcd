//! Issue 16 (migrations, server side): `server.db` files written by the
//! server builds of every earlier schema version (fixtures in
//! server/tests/fixtures, SQL dumps of real files: see each one's header)
//! open with today's server, migrate to the latest version and keep
//! working on their data: the demo agent logs in with the password the old
//! server printed, the session it issued still works, the sync serves every
//! old event, a retried reply gets its first answer, the unfinished upload
//! resumes where it stopped, the device and the settings are there, and a
//! new reply takes the next seq.

use rapport_core::model::{EventPayload, Sender, Timestamp};
use rapport_core::timers::ManualClock;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// One old server's files and what it handed out (the demo account's
/// throwaway tokens, printed by the run that wrote the fixture).
struct Fixture {
    version: i64,
    server_db: &'static str,
    /// `server.db.ws-demo.sqlite`, the workspace store the old server kept
    /// beside it (derived from the log).
    workspace_store: &'static str,
    /// The pair the old server issued at the refresh (the last it issued).
    token: &'static str,
    refresh_token: &'static str,
    /// The refresh token the login issued, exchanged for that pair.
    exchanged: &'static str,
    /// The account's hash is the first schema's salted SHA-256.
    legacy_password: bool,
}

const V0: Fixture = Fixture {
    version: 0,
    server_db: include_str!("../../server/tests/fixtures/server-db-v0.sql"),
    workspace_store: include_str!("../../server/tests/fixtures/server-db-v0.ws-demo.sql"),
    token: "b0521c9ed3af4ed9c646f6b611812f29add9082b967bdd83b382dfb880331d66",
    refresh_token: "f026ab9443a5036f17416a3d6c11e67cc45c7b86a386ac182123ae12747e8b8d",
    exchanged: "bc10f2361a02066b72cc6c489f0bc72d8c9b8d068172c2980d74b4a5c6e8373d",
    legacy_password: true,
};

const V1: Fixture = Fixture {
    version: 1,
    server_db: include_str!("../../server/tests/fixtures/server-db-v1.sql"),
    workspace_store: include_str!("../../server/tests/fixtures/server-db-v1.ws-demo.sql"),
    token: "9d016fd0d69ddcbf6ddcd0d13cb0f29bcbf6b82817bc7755583c87744d3afaab",
    refresh_token: "46544c9ee66f961a9c948b28ec8640f265d948939a42eb2a449c3f78816752e0",
    exchanged: "109fcbee130687126295a29f4d2821479f585842355ce280cf4c0d6f653a7d03",
    legacy_password: true,
};

const V2: Fixture = Fixture {
    version: 2,
    server_db: include_str!("../../server/tests/fixtures/server-db-v2.sql"),
    workspace_store: include_str!("../../server/tests/fixtures/server-db-v2.ws-demo.sql"),
    token: "3ae20ac09ca5484c67f8273efa073c3764fa5b4d2f62ddd9abaeb76bbd90ac08",
    refresh_token: "ac68d6aeed40b4261c5e245e4b7c5d31fc6012eb79bf2444847e8089b4d79110",
    exchanged: "83229aa99dd4f1badd03d68d9e3f5d0f74fbe4ac1da6f9cd543e2f6917e2d866",
    legacy_password: false,
};

const V3: Fixture = Fixture {
    version: 3,
    server_db: include_str!("../../server/tests/fixtures/server-db-v3.sql"),
    workspace_store: include_str!("../../server/tests/fixtures/server-db-v3.ws-demo.sql"),
    token: "10bd9452c06b203e1c55857cd03f78dea3c3a5964a5c1991a01d37f90ea4de53",
    refresh_token: "415da38fd4acb882b8c9130453c0ee3e6854f9710820d2cd7bdef2938429c83a",
    exchanged: "bb2cee57b062824a85fdc5a2139870278b296c1fa7c289b1205782a311ebee98",
    legacy_password: false,
};

const V4: Fixture = Fixture {
    version: 4,
    server_db: include_str!("../../server/tests/fixtures/server-db-v4.sql"),
    workspace_store: include_str!("../../server/tests/fixtures/server-db-v4.ws-demo.sql"),
    token: "a7bb275d7b96cf0f6f5f5e89f2dc4da3202e6d3820ce5f7523c802fa34819940",
    refresh_token: "ba72bd4010aeb953e398367e01a4028a25619f325b33d9298456bfc1f536fef2",
    exchanged: "6361b29871455c2b0af7e2414ccc647c33f71b552d3f91e11eed871a100db95d",
    legacy_password: false,
};

const V5: Fixture = Fixture {
    version: 5,
    server_db: include_str!("../../server/tests/fixtures/server-db-v5.sql"),
    workspace_store: include_str!("../../server/tests/fixtures/server-db-v5.ws-demo.sql"),
    token: "6d420ce0344ad53064a78def19bd5b34d3d93bc25abecf64187962f477582ea0",
    refresh_token: "a2e86806f12719c5616b0688de0f0ee89c8b9c82e88be378abf067c037c091ff",
    exchanged: "c12f0b00694609e5aa45cd19f488e2a37675369008154107cbdf87dd3796838f",
    legacy_password: false,
};

/// server.db's latest schema version (server/src/db.rs `LATEST`); a new
/// step adds the previous version's fixture above.
const LATEST: i64 = 6;

/// What every fixture's run did (each fixture's header says the same).
const EMAIL: &str = "agent@example.com";
const PASSWORD: &str = "rapport";
const REPLY_KEY: &str = "fixture-key-1";
const UPLOAD: &str = "fixture-up";
const FILE: &[u8] = b"fixture file: 32 bytes of text\n!";
const RECEIVED: usize = 12;

fn open(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn user_version(path: &Path) -> i64 {
    open(path)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn one<T: rusqlite::types::FromSql>(path: &Path, sql: &str) -> T {
    open(path).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The log as the fixture holds it: (seq, event JSON) in order.
fn events(path: &Path) -> Vec<(u64, Value)> {
    open(path)
        .prepare("SELECT seq, event FROM events WHERE workspace = 'demo' ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })
        .unwrap()
        .map(|r| {
            let (seq, json) = r.unwrap();
            (seq, serde_json::from_str(&json).unwrap())
        })
        .collect()
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None, None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, None, None, Some(body))
            .await
    }
}

/// The fixture loaded into real files (`with_store`: the workspace store
/// too, as the old server left it; without it, as an operator who lost
/// it), then today's server on them.
fn migrates_and_keeps_working(f: &Fixture, with_store: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    open(&db).execute_batch(f.server_db).unwrap();
    if with_store {
        open(&dir.path().join("server.db.ws-demo.sqlite"))
            .execute_batch(f.workspace_store)
            .unwrap();
    }
    assert_eq!(user_version(&db), f.version);
    let old_events = events(&db);
    let head = old_events.last().unwrap().0;
    assert_eq!(head, old_events.len() as u64, "seqs 1..=head");
    let old_hash: String = one(
        &db,
        "SELECT hash FROM accounts WHERE email = 'agent@example.com'",
    );
    assert_eq!(old_hash.starts_with("$argon2"), !f.legacy_password);
    let (idem_key, first_status, first_answer): (String, i64, String) = open(&db)
        .query_row(
            "SELECT key, status, body FROM idempotency WHERE key LIKE '%' || ?1",
            [REPLY_KEY],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let route = idem_key.split('\n').nth(1).unwrap().to_owned();
    let reply_path = route.strip_prefix("POST ").unwrap().to_owned();
    // Server time: ten minutes after the old server issued its last pair
    // (its access token lives an hour), so the old session is still live;
    // the exchanged refresh token's grace period has long passed.
    let issued_at: i64 = one(&db, "SELECT max(expires_at) - 3600000 FROM sessions");
    let clock = Arc::new(ManualClock::new(Timestamp(issued_at + 600_000)));

    let rt = rapport_tests::runtime();
    rt.block_on(async {
        rapport_core::sync::install_crypto();
        let server = rapport_server::start(rapport_server::ServerConfig {
            db: db.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            heartbeat_ms: 300,
            clock: Some(clock.clone()),
        })
        .await
        .expect("today's server opens the old files");
        assert_eq!(user_version(&db), LATEST, "migrated to the latest");
        let http = Http {
            base: server.url(),
            client: reqwest::Client::new(),
        };
        let token = f.token;

        // The old access token still works, and the settings are kept.
        let (status, settings) = http.get("/v1/settings", token).await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(
            settings,
            json!({"email": false, "notifications_bot": true, "push": true, "push_preview": false})
        );
        // The device is still registered.
        let device: (String, String) = open(&db)
            .query_row(
                "SELECT platform, token FROM devices
                 WHERE workspace = 'demo' AND member_id = 'u0' AND device_id = 'fixture-device'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(device, ("fcm".into(), "fixture-push-token".into()));

        // The sync serves the workspace now, with the old reply, and every
        // old event after the first as the old server logged it.
        let (status, snap) = http.get("/v1/sync?since=0", token).await;
        assert_eq!(status, 200, "{snap}");
        assert_eq!(snap["kind"], "snapshot");
        assert_eq!(snap["seq"], head);
        let chats: Vec<&str> = snap["chats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(chats.len(), 3, "{chats:?}");
        let replies = snap["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["id"] == "fixture-m1")
            .count();
        assert_eq!(replies, 1, "the old reply");
        let (status, page) = http.get("/v1/sync?since=1&limit=1000", token).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["kind"], "events");
        assert_eq!(page["head"], head, "nothing logged on opening");
        let served: Vec<Value> = page["events"].as_array().unwrap().clone();
        let logged: Vec<Value> = old_events[1..].iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(served, logged, "every old event, unchanged");

        // The old reply retried with its key: the first answer, no second
        // message.
        let retry = json!({"text": "fixture reply", "message_id": "fixture-m1"});
        let (status, answer) = http
            .call(
                reqwest::Method::POST,
                &reply_path,
                Some(token),
                Some(REPLY_KEY),
                Some(retry),
            )
            .await;
        assert_eq!(i64::from(status), first_status);
        assert_eq!(
            answer,
            serde_json::from_str::<Value>(&first_answer).unwrap()
        );
        let (_, page) = http.get(&format!("/v1/sync?since={head}"), token).await;
        assert_eq!(page["head"], head, "the retry logged nothing");

        // The unfinished upload resumes where it stopped and completes.
        use sha2::Digest;
        let upload = json!({
            "id": UPLOAD, "name": "fixture.txt", "size_bytes": FILE.len(),
            "sha256": hex::encode(sha2::Sha256::digest(FILE)),
        });
        let (status, up) = http
            .call(
                reqwest::Method::POST,
                "/v1/uploads",
                Some(token),
                None,
                Some(upload),
            )
            .await;
        assert_eq!(status, 200, "{up}");
        assert_eq!(up["received"], RECEIVED, "resumes at the old offset");
        let part = http
            .client
            .put(format!(
                "{}/v1/uploads/{UPLOAD}/content?offset={RECEIVED}",
                http.base
            ))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(&FILE[RECEIVED..])
            .send()
            .await
            .unwrap();
        assert_eq!(part.status().as_u16(), 200);
        let up: Value = part.json().await.unwrap();
        assert_eq!(up["received"], FILE.len());
        let file = http
            .client
            .get(format!("{}/v1/uploads/{UPLOAD}/content", http.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(file.status().as_u16(), 200);
        assert_eq!(&file.bytes().await.unwrap()[..], FILE, "old and new parts");

        // A new reply takes the next seq.
        let (status, sent) = http
            .call(
                reqwest::Method::POST,
                &reply_path,
                Some(token),
                Some("after-the-upgrade"),
                Some(json!({"text": "after the upgrade", "message_id": "fixture-m2"})),
            )
            .await;
        assert_eq!(status, 200, "{sent}");
        let (_, page) = http.get(&format!("/v1/sync?since={head}"), token).await;
        let next = &page["events"][0];
        assert_eq!(next["seq"], head + 1, "{page}");
        assert_eq!(next["data"]["id"], "fixture-m2", "{next}");

        // The old device and settings still decide the notifications: a
        // subscriber writes in an unassigned chat, and the agent's device
        // gets a push without a preview (off), the notifications bot a line
        // (on), and no email waits (off).
        let unassigned = snap["chats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["assignee"].is_null())
            .expect("an unassigned chat")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let before: i64 = one(&db, "SELECT max(id) FROM sent_notifications");
        let hub = &server.state.hub;
        let inbound = rapport_tests::message(
            &unassigned,
            "fixture-inbound",
            Sender::Subscriber,
            "are you there?",
            hub.now(),
        );
        hub.emit(
            &hub.workspace("demo").unwrap(),
            vec![EventPayload::MessageUpserted(inbound)],
        )
        .unwrap();
        let sent: Vec<(String, String)> = open(&db)
            .prepare(
                "SELECT channel, body FROM sent_notifications
                 WHERE member_id = 'u0' AND id > ?1 ORDER BY id",
            )
            .unwrap()
            .query_map([before], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let channels: Vec<&str> = sent.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(channels, ["fcm", "bot"], "{sent:?}");
        assert!(sent[0].1.contains("fixture-push-token"), "{sent:?}");
        assert!(!sent[0].1.contains("are you there"), "no preview: {sent:?}");
        assert!(sent[1].1.ends_with(": new message"), "{sent:?}");
        let emails: i64 = one(
            &db,
            "SELECT count(*) FROM pending_emails WHERE member_id = 'u0'",
        );
        assert_eq!(emails, 0);

        // The old refresh token gets a new pair; the one it replaced,
        // presented long after its grace period, revokes its family.
        let (status, pair) = http
            .post("/v1/refresh", json!({"refresh_token": f.refresh_token}))
            .await;
        assert_eq!(status, 200, "{pair}");
        let new_token = pair["token"].as_str().unwrap().to_owned();
        assert_eq!(http.get("/v1/settings", &new_token).await.0, 200);
        let (status, _) = http
            .post("/v1/refresh", json!({"refresh_token": f.exchanged}))
            .await;
        assert_eq!(status, 401, "an exchanged refresh token");
        assert_eq!(
            http.get("/v1/settings", &new_token).await.0,
            401,
            "its family is revoked"
        );

        // The agent logs in with the password the old server printed; an
        // old SHA-256 hash is replaced by argon2id, a current one kept.
        let (status, login) = http
            .post("/v1/login", json!({"email": EMAIL, "password": PASSWORD}))
            .await;
        assert_eq!(status, 200, "{login}");
        assert_eq!(login["member_id"], "u0");
        let hash: String = one(
            &db,
            "SELECT hash FROM accounts WHERE email = 'agent@example.com'",
        );
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert_eq!(
            hash != old_hash,
            f.legacy_password,
            "rehashed only if legacy"
        );
        let fresh = login["token"].as_str().unwrap();
        assert_eq!(http.get("/v1/settings", fresh).await.0, 200);

        // Step 3's pruner on the old upload (finished above, never sent):
        // one from before the step counts as sent (it may have been) and
        // is kept; one written at step 3 is forgotten a day after the
        // pruner first saw it.
        rapport_server::prune::prune(hub).unwrap();
        clock.advance_ms(25 * 3_600_000);
        rapport_server::prune::prune(hub).unwrap();
        let kept: i64 = one(&db, "SELECT count(*) FROM uploads WHERE id = 'fixture-up'");
        assert_eq!(kept, i64::from(f.version < 3), "the old upload kept");
        drop(server);
    });
}

#[test]
fn s2_s5_e7_a_version_0_server_db_migrates_and_keeps_working() {
    migrates_and_keeps_working(&V0, true);
}

#[test]
fn s2_s5_e7_a_version_1_server_db_migrates_and_keeps_working() {
    migrates_and_keeps_working(&V1, true);
}

#[test]
fn s2_s5_e7_a_version_2_server_db_migrates_and_keeps_working() {
    migrates_and_keeps_working(&V2, true);
}

#[test]
fn s2_s5_e7_a_version_3_server_db_migrates_and_keeps_working() {
    migrates_and_keeps_working(&V3, true);
}

#[test]
fn s2_s5_e7_a_version_4_server_db_migrates_and_keeps_working() {
    migrates_and_keeps_working(&V4, true);
}

#[test]
fn s2_s5_e7_a_version_5_server_db_migrates_and_keeps_working() {
    migrates_and_keeps_working(&V5, true);
}

/// The workspace store is derived from the log: an operator who has only
/// `server.db` (the oldest one) gets it rebuilt.
#[test]
fn s2_s5_e7_a_version_0_server_db_alone_rebuilds_its_workspace_store() {
    migrates_and_keeps_working(&V0, false);
}
