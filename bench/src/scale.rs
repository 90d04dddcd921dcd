//! Issue 18: the first sync of a large workspace, in pages, from an
//! in-process reference server on loopback to a client in a child process
//! (so that its peak RSS is the client's alone).
//!
//! - `initial_sync_100k_first_page_ms`: empty store to the inbox's first
//!   page of 50 rows on screen (the chat list subscription's first
//!   non-empty value).
//! - `initial_sync_100k_s`: empty store to caught up with the head, every
//!   page applied; `initial_sync_100k_peak_rss_mb` the client's peak RSS.
//!
//! Medians of `runs` children. The smoke run uses the same names on a
//! small workspace.

use crate::{PASSWORD, Res, clean, emit, local_server, median, peak_rss_kb};
use rapport_core::generate::{GenConfig, me};
use rapport_core::observe::{ListDiff, Observer};
use rapport_core::store::{ChatFilter, Store};
use rapport_core::sync::{RapportBackend, SyncEngine};
use rapport_core::timers::ServerClock;
use rapport_server::sim;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub fn run(dir: &Path, chats: usize, messages: usize, runs: usize) -> Res<()> {
    let rt = crate::runtime(2)?;
    rt.block_on(async {
        clean(&dir.join("scale-server.db.ws-bench.sqlite"));
        let server = local_server(dir.join("scale-server.db")).await?;
        let state = server.state.clone();
        tokio::task::spawn_blocking(move || -> Res<()> {
            let ws = crate::agent_workspace(&state.hub, "bench", me())?;
            sim::seed(&state.hub, &ws, GenConfig::new(chats, messages))?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())??;
        let exe = std::env::current_exe()?;
        let (mut first, mut total, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        let (mut db_mb, mut wal_mb) = (Vec::new(), Vec::new());
        for i in 0..runs {
            let db = dir.join(format!("scale-client-{i}.db"));
            clean(&db);
            // The child blocks on its own runtime; the server serves on this
            // one meanwhile.
            let mut child = Command::new(&exe);
            child
                .arg("initial-sync-client")
                .arg("--url")
                .arg(server.url())
                .arg("--db")
                .arg(&db);
            let out = tokio::task::spawn_blocking(move || child.output())
                .await
                .map_err(|e| e.to_string())??;
            if !out.status.success() {
                return Err(format!(
                    "initial-sync-client failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            first.push(v["first_ms"].as_f64().unwrap_or(f64::NAN));
            total.push(v["total_s"].as_f64().unwrap_or(f64::NAN));
            rss.push(v["rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0);
            db_mb.push(v["db_bytes"].as_f64().unwrap_or(f64::NAN) / 1_048_576.0);
            wal_mb.push(v["wal_bytes"].as_f64().unwrap_or(f64::NAN) / 1_048_576.0);
            eprintln!(
                "initial sync run {i}: first page {:.0} ms, all {:.1} s, {:.0} MB RSS, {:.0} MB db, {:.1} MB WAL",
                first[i], total[i], rss[i], db_mb[i], wal_mb[i]
            );
            clean(&db);
        }
        emit("initial_sync_100k_first_page_ms", median(first), None);
        emit("initial_sync_100k_s", median(total), None);
        emit("initial_sync_100k_peak_rss_mb", median(rss), None);
        // Issue 18: the client's files once caught up (the WAL checkpointed
        // after the last snapshot page, then the catch-up's writes).
        emit("initial_sync_100k_db_mb", median(db_mb), None);
        emit("initial_sync_100k_wal_mb", median(wal_mb), None);
        Ok(())
    })
}

/// Child: an empty store synced from `url`; prints the times and its peak
/// RSS.
pub fn child(url: &str, db: &Path) -> Res<()> {
    let rt = crate::runtime(2)?;
    rt.block_on(async {
        let store = Arc::new(Store::open(db)?);
        store.set_me(me())?;
        let backend = RapportBackend::new(url, Arc::new(ServerClock::default()))?;
        backend.login("agent@bench.test", PASSWORD).await?;
        let engine = SyncEngine::new(store.clone(), Arc::new(backend));
        let observer = Observer::new(store.clone());
        let start = Instant::now();
        let first: Arc<Mutex<Option<f64>>> = Arc::default();
        let seen = first.clone();
        let _sub = observer.subscribe_chat_list(ChatFilter::default(), 50, move |diffs| {
            let rows = diffs.iter().any(|d| match d {
                ListDiff::Reset { values } => !values.is_empty(),
                ListDiff::Insert { .. } | ListDiff::Set { .. } => true,
                _ => false,
            });
            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
            if rows && s.is_none() {
                *s = Some(start.elapsed().as_secs_f64() * 1000.0);
            }
        })?;
        engine.catch_up().await?;
        let total = start.elapsed().as_secs_f64();
        // Before the store closes (closing checkpoints and removes the WAL).
        let (db_bytes, wal_bytes) = store.file_sizes();
        let rows = store
            .chat_page(&ChatFilter::default(), None, 50)?
            .rows
            .len();
        if rows == 0 {
            return Err("no chats after the initial sync".into());
        }
        let first_ms = first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(f64::NAN);
        println!(
            "{}",
            serde_json::json!({"first_ms": first_ms, "total_s": total, "rss_kb": peak_rss_kb(),
                "db_bytes": db_bytes, "wal_bytes": wal_bytes})
        );
        Ok(())
    })
}
