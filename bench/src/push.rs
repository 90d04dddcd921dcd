//! H3 figures (issue: push): a new process answers a push on the 100k-chat
//! store, as an Android service or an iOS extension would: decode, open the
//! store and the saved session, queue the reply and the read, send both to
//! a local reference server, exit. Baseline: the same binary starting and
//! exiting with nothing to do. Then the app's side: a reply through the
//! running client (warm), and one another process queued, picked up.

use crate::{PASSWORD, Res, clean, emit, local_server, median, ms, peak_rss_kb};
use rapport_core::generate::me;
use rapport_core::model::{App, ChatId, EventPayload, MessageId};
use rapport_core::push::{self, NotificationClient, PushKind, PushPayload, PushPlatform};
use rapport_core::session::{FileSecretStore, Session};
use rapport_core::store::Store;
use rapport_core::sync::RapportBackend;
use rapport_core::timers::ServerClock;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

pub fn run(db: &Path, runs: usize) -> Res<()> {
    let rt = crate::runtime(2)?;
    rt.block_on(run_async(db, runs))
}

async fn run_async(db: &Path, runs: usize) -> Res<()> {
    let dir = db.parent().ok_or("the store has no folder")?;
    clean(&dir.join("push-server.db.ws-push.sqlite"));
    let server = local_server(dir.join("push-server.db")).await?;
    let url = server.url();
    // A Telegram chat of the big store (no window to close), known to the
    // server's workspace too.
    let chat = {
        let store = Store::open(db)?;
        let id: String = rusqlite::Connection::open(db)?.query_row(
            "SELECT id FROM chats WHERE app = ?1 LIMIT 1",
            [App::Telegram.code()],
            |r| r.get(0),
        )?;
        store.chat(&ChatId(id))?.ok_or("no chat")?.chat
    };
    let st = server.state.clone();
    let c = chat.clone();
    tokio::task::spawn_blocking(move || -> Res<()> {
        let ws = crate::agent_workspace(&st.hub, "push", me())?;
        st.hub.emit(&ws, vec![EventPayload::ChatUpserted(c)])?;
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())??;
    // The app logged in earlier: the session is in the secret store.
    let secrets_path = dir.join("push-secrets.json");
    let _ = std::fs::remove_file(&secrets_path);
    let secrets = Arc::new(FileSecretStore::new(&secrets_path));
    let backend = Arc::new(RapportBackend::new(&url, Arc::new(ServerClock::default()))?);
    Session::login(backend, secrets, &url, "agent@push.test", PASSWORD).await?;
    let p = PushPayload {
        v: push::VERSION,
        kind: PushKind::NewMessage,
        workspace_id: "push".into(),
        chat_id: chat.id.clone(),
        message_id: MessageId::from("m"),
        seq: rapport_core::model::Seq(1),
        sent_at: rapport_server::hub::now(),
        title: chat.title.clone(),
        preview: Some("Is it in stock?".into()),
    };
    let payload = push::envelope(PushPlatform::Fcm, "t", &p)["message"]["data"].to_string();

    let exe = std::env::current_exe()?;
    let nonce = rapport_server::hub::now().0;
    let (url2, secrets2, db2) = (url.clone(), secrets_path.clone(), db.to_path_buf());
    let warm_payload = payload.clone();
    let (wall, rss, noop) = tokio::task::spawn_blocking(move || -> Res<_> {
        let (mut wall, mut rss, mut noop) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            let t = Instant::now();
            let out = Command::new(&exe)
                .arg("push-reply")
                .args(["--db", &db2.display().to_string()])
                .args(["--url", &url2])
                .args(["--secrets", &secrets2.display().to_string()])
                .args(["--payload", &payload])
                .args(["--key", &format!("bench-{nonce}-{i}")])
                .output()?;
            wall.push(ms(t.elapsed()));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                format!("push-reply: {e}: {}", String::from_utf8_lossy(&out.stderr))
            })?;
            if v["delivered"] != true {
                return Err(format!("push-reply did not deliver: {v}").into());
            }
            rss.push(v["rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0);
            let t = Instant::now();
            Command::new(&exe).arg("noop").output()?;
            noop.push(ms(t.elapsed()));
        }
        Ok((wall, rss, noop))
    })
    .await
    .map_err(|e| e.to_string())??;
    emit("push_reply_cold_ms", median(wall), Some(median(noop)));
    let peak = rss.iter().copied().fold(0.0, f64::max);
    emit("push_reply_peak_rss_mb", peak, None);
    let dir2 = dir.to_path_buf();
    tokio::task::spawn_blocking(move || warm_and_pickup(&dir2, &url, &warm_payload, runs))
        .await
        .map_err(|e| e.to_string())??;
    Ok(())
}

/// The app's client alive and syncing (a small store of its own, logged in
/// to the push workspace): `push_reply_warm_ms`, a reply through it until
/// queued; `cross_process_pickup_ms`, a reply a second store handle (the
/// notification process, offline) queued until the running client sent it.
fn warm_and_pickup(dir: &Path, url: &str, payload: &str, runs: usize) -> Res<()> {
    use rapport_core::client::{Client, ClientConfig};
    let app_dir = dir.join("push-app");
    let _ = std::fs::remove_dir_all(&app_dir);
    std::fs::create_dir_all(&app_dir)?;
    let secrets_path = app_dir.join("secrets.json");
    let app = Client::open(
        ClientConfig {
            store_path: app_dir.join("rapport.db"),
            server_url: url.to_owned(),
        },
        Arc::new(FileSecretStore::new(&secrets_path)),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(app.login("agent@push.test", PASSWORD))?;
    app.start_sync()?;
    let drained = |what: &str| -> Res<()> {
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while app.unsent_commands()? > 0 {
            if Instant::now() > deadline {
                return Err(format!("{what}: the app's outbox did not drain").into());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    };
    let nonce = rapport_server::hub::now().0;
    let mut warm = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let out =
            rt.block_on(app.reply_push(payload, "On my way", &format!("warm-{nonce}-{i}")))?;
        warm.push(ms(t.elapsed()));
        if out.delivered {
            return Err("the warm reply was sent inline, not by the outbox".into());
        }
        drained("warm")?;
    }
    emit("push_reply_warm_ms", median(warm), None);
    // The notification process: the same file and session, no network.
    let dead = "http://127.0.0.1:9";
    let offline = app_dir.join("secrets-offline.json");
    std::fs::write(
        &offline,
        std::fs::read_to_string(&secrets_path)?.replace(url, dead),
    )?;
    let nc = NotificationClient::open(
        &app_dir.join("rapport.db"),
        dead,
        Arc::new(FileSecretStore::new(&offline)),
    )?;
    let mut pickup = Vec::new();
    for i in 0..runs.max(20) {
        let t = Instant::now();
        let out = nc.reply(payload, "On my way", &format!("pick-{nonce}-{i}"))?;
        if out.delivered {
            return Err("the offline notification process delivered".into());
        }
        drained("pickup")?;
        pickup.push(ms(t.elapsed()));
    }
    emit(
        "cross_process_pickup_ms",
        crate::percentile(pickup, 0.99),
        None,
    );
    Ok(())
}

/// Child: one push answered from a cold start.
pub fn child(db: &Path, url: &str, secrets: &Path, payload: &str, key: &str) -> Res<()> {
    let secrets = Arc::new(FileSecretStore::new(secrets));
    let client = NotificationClient::open(db, url, secrets)?;
    let outcome = client.reply(payload, "On my way 🚚", key)?;
    println!(
        "{}",
        json!({"delivered": outcome.delivered, "rss_kb": peak_rss_kb()})
    );
    Ok(())
}
