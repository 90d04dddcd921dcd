//! Rapport's benchmarks (scripts/bench.sh). Prints one JSON line per figure:
//! `{"metric": NAME, "value": X, "baseline": B, "ratio": X/B}`, the baseline
//! measured in the same run where one applies. Figures are medians or p99s
//! of repeated runs: this machine is shared and noisy.
//!
//! Usage:
//!   rapport-bench all --chats N --messages M [--dir D] [--runs R]
//!   rapport-bench first-page --db FILE            (child: the core, cold)
//!   rapport-bench baseline-first-page --db FILE   (child: plain rusqlite)
//!   rapport-bench push --db FILE [--runs R]       (H3 on that store)
//!   rapport-bench noisy --dir D [--rounds R] [--file-mb M] [--light N]
//!                                                 (issue 16 hole 5: noisy neighbour)
//!   rapport-bench load --dir D [--clients N] [--rate E] [--seconds S] [--batch-ms B]
//!                                                 (issue 16 load: live streams held)
//!   rapport-bench push-reply ...                  (child: one push answered)
//!   rapport-bench initial-sync --chats N --messages M [--dir D] [--runs R]
//!                                                 (issue 18: paged first sync)
//!   rapport-bench sendpulse --dir D [--runs R] [--chats N]
//!                                                 (issue 17: the SendPulse gateway)
//!   rapport-bench ffi-page-baseline --db FILE --warmup W --runs R
//!                                                 (ffi_page_us: the Rust side)

use rapport_core::generate::{GenConfig, Generator, me};
use rapport_core::model::{ChatId, EventPayload};
use rapport_core::store::{ChatFilter, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod ffi;
mod load;
mod noisy;
mod push;
mod scale;
mod sendpulse;
mod sync;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let result = match args.get(1).map(String::as_str) {
        Some("first-page") => child_first_page(Path::new(&arg("--db").unwrap_or_default())),
        Some("baseline-first-page") => {
            child_baseline_first_page(Path::new(&arg("--db").unwrap_or_default()))
        }
        Some("ffi-page-baseline") => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            ffi::baseline(
                Path::new(&arg("--db").unwrap_or_default()),
                num("--warmup", 300),
                num("--runs", 1000),
            )
        }
        Some(cmd @ ("all" | "apply")) => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            let dir = arg("--dir")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            run_all(
                num("--chats", 100_000),
                num("--messages", 2_000_000),
                num("--runs", 15),
                &dir,
                cmd == "apply",
            )
        }
        Some("sync") => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            let dir = arg("--dir")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            sync::run(
                &dir,
                num("--chats", 10_000),
                num("--messages", 300_000),
                num("--behind", 200_000),
                num("--live-seconds", 10) as u64,
            )
        }
        Some("noisy") => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            let dir = arg("--dir")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            noisy::run(
                &dir,
                num("--rounds", 5),
                num("--file-mb", 20),
                num("--light", 200),
            )
        }
        Some("load") => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            let dir = arg("--dir")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            load::run(
                &dir,
                load::Load {
                    clients: num("--clients", 1000),
                    rate: num("--rate", 2000),
                    seconds: num("--seconds", 10) as u64,
                    batch_ms: num("--batch-ms", 10).max(1) as u64,
                },
            )
        }
        Some("push") => push::run(
            Path::new(&arg("--db").unwrap_or_default()),
            arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(15),
        ),
        Some("push-reply") => push::child(
            Path::new(&arg("--db").unwrap_or_default()),
            &arg("--url").unwrap_or_default(),
            Path::new(&arg("--secrets").unwrap_or_default()),
            &arg("--payload").unwrap_or_default(),
            &arg("--key").unwrap_or_default(),
        ),
        // Issue 17: the SendPulse gateway (webhook to the phone, reconcile).
        Some("sendpulse") => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            let dir = arg("--dir")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            sendpulse::run(&dir, num("--runs", 200).max(1), num("--chats", 10_000).max(1))
        }
        // Issue 18: the paged first sync of a large workspace.
        Some("initial-sync") => {
            let num = |n: &str, d: usize| arg(n).and_then(|v| v.parse().ok()).unwrap_or(d);
            let dir = arg("--dir")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            scale::run(
                &dir,
                num("--chats", 100_000),
                num("--messages", 2_000_000),
                num("--runs", 3),
            )
        }
        Some("initial-sync-client") => scale::child(
            &arg("--url").unwrap_or_default(),
            Path::new(&arg("--db").unwrap_or_default()),
        ),
        // The baseline of push-reply: a process of this binary that only
        // starts and exits.
        Some("noop") => Ok(()),
                _ => Err(
            "usage: rapport-bench all|apply|sync|noisy|load|sendpulse|push|first-page|baseline-first-page|ffi-page-baseline ..."
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("rapport-bench: {e}");
        std::process::exit(1);
    }
}

/// Events per `apply` call: one page of the change feed during catch-up.
/// Larger pages amortise the index pages a batch dirties (see the note on
/// apply in docs/store.md); the live stream applies far fewer at a time.
const CATCH_UP_BATCH: usize = 20_000;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn emit(metric: &str, value: f64, baseline: Option<f64>) {
    let mut line = json!({"metric": metric, "value": round(value)});
    if let Some(b) = baseline {
        line["baseline"] = json!(round(b));
        line["ratio"] = json!(round(if b > 0.0 { value / b } else { f64::NAN }));
    }
    println!("{line}");
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

/// Deletes a SQLite file and its WAL files, if there.
fn clean(p: &Path) {
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", p.display()));
    }
}

/// A multi-thread runtime of `workers` workers (the server's and the
/// clients' sides of a bench each get one, so neither starves the other).
fn runtime(workers: usize) -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?)
}

/// The password of every bench's agent.
const PASSWORD: &str = "bench";

/// Workspace `id` with the agent every bench logs in as: member `member`,
/// `agent@{id}.test`, [`PASSWORD`]. It blocks on SQLite: call it outside
/// the runtimes or in `spawn_blocking`.
fn agent_workspace(
    hub: &rapport_server::hub::Hub,
    id: &str,
    member: rapport_core::model::MemberId,
) -> Res<std::sync::Arc<rapport_server::hub::Workspace>> {
    let ws = hub.create_workspace(id, id)?;
    let agent = rapport_core::model::Member {
        id: member,
        name: "Agent".into(),
        avatar_url: None,
        role: "Agent".into(),
        conversations_access: true,
    };
    hub.add_account(&ws, &format!("agent@{id}.test"), PASSWORD, agent)?;
    Ok(ws)
}

/// A fresh reference server on a loopback port, its database at `db`.
async fn local_server(db: PathBuf) -> Res<rapport_server::RunningServer> {
    clean(&db);
    rapport_server::start(rapport_server::ServerConfig {
        db,
        listen: "127.0.0.1:0".parse()?,
        heartbeat_ms: 5_000,
        clock: None,
    })
    .await
    .map_err(|e| e.to_string().into())
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Child: open the store and read the first page of the list, as an app
/// starting cold would.
fn child_first_page(db: &Path) -> Res<()> {
    let t = Instant::now();
    let store = Store::open(db)?;
    let page = store.chat_page(&ChatFilter::default(), None, 50)?;
    let us = t.elapsed().as_micros();
    assert_eq!(page.rows.len(), 50, "the store must have 50 chats");
    println!("{}", json!({"us": us, "rss_kb": peak_rss_kb()}));
    Ok(())
}

/// Child: the same 50 rows with a minimal rusqlite program.
fn child_baseline_first_page(db: &Path) -> Res<()> {
    let t = Instant::now();
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // The preview is the message the row refers to (schema step 5).
    let mut stmt = conn.prepare(
        "SELECT c.rid, c.id, c.bot_id, c.subscriber_id, c.app, c.kind, c.state, c.assignee,
                c.title, c.avatar_url, c.last_activity, c.unread, c.last_inbound_at,
                c.paused_until, m.id, m.sender, m.content, m.at
         FROM chats c LEFT JOIN messages m ON m.rid = c.preview_rid
         ORDER BY c.last_activity DESC, c.rid DESC LIMIT 50",
    )?;
    let rows: Vec<(i64, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(8)?, r.get(16)?)))?
        .collect::<Result<_, _>>()?;
    let us = t.elapsed().as_micros();
    assert_eq!(rows.len(), 50);
    println!("{}", json!({"us": us, "rss_kb": peak_rss_kb()}));
    Ok(())
}

/// Runs a child `runs` times; returns (wall ms, in-process ms, peak RSS MB).
fn spawn_runs(sub: &str, db: &Path, runs: usize) -> Res<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let exe = std::env::current_exe()?;
    let (mut wall, mut inner, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(&exe).arg(sub).arg("--db").arg(db).output()?;
        wall.push(ms(t.elapsed()));
        if !out.status.success() {
            return Err(format!("{sub} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        inner.push(v["us"].as_f64().unwrap_or(f64::NAN) / 1000.0);
        rss.push(v["rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0);
    }
    Ok((wall, inner, rss))
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let v = f();
    (ms(t.elapsed()), v)
}

/// The store's figures; `apply_only` stops after apply_events_per_s and
/// the sizes (for tuning the write path without the read figures' minutes).
fn run_all(chats: usize, messages: usize, runs: usize, dir: &Path, apply_only: bool) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join(format!("bench-{chats}-{messages}.db"));
    let plain = dir.join(format!("bench-{chats}-{messages}-plain.db"));
    for p in [&db, &plain] {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", p.display()));
        }
    }
    let mut cfg = GenConfig::new(chats, messages);
    cfg.big_chat_messages = (messages / 100).min(10_000);

    // apply_events_per_s, with plain inserts of the same message rows as
    // the baseline (same batches, one transaction each).
    let store = Store::open(&db)?;
    store.set_me(me())?;
    let mut generator = Generator::new(cfg.clone());
    let (mut events, mut apply_time) = (0usize, Duration::ZERO);
    loop {
        let batch = generator.batch(CATCH_UP_BATCH);
        if batch.is_empty() {
            break;
        }
        events += batch.len();
        let t = Instant::now();
        store.apply(&batch)?;
        apply_time += t.elapsed();
    }
    let (_, wal_after_apply) = store.file_sizes();
    let plain_time = plain_inserts(&plain, cfg.clone())?;
    let apply_rate = events as f64 / apply_time.as_secs_f64();
    let plain_rate = events as f64 / plain_time.as_secs_f64();
    emit("apply_events_per_s", apply_rate, Some(plain_rate));
    store.checkpoint()?;
    let (db_size, wal_size) = store.file_sizes();
    emit("db_size_mb", db_size as f64 / 1_048_576.0, None);
    // Issue 18: the size per million messages, to compare stores of any size.
    emit(
        "db_size_mb_per_1m_messages",
        db_size as f64 / 1_048_576.0 / (messages as f64 / 1e6),
        None,
    );
    emit(
        "wal_size_mb_after_apply",
        wal_after_apply as f64 / 1_048_576.0,
        None,
    );
    emit(
        "wal_size_mb_after_checkpoint",
        wal_size as f64 / 1_048_576.0,
        None,
    );
    if apply_only {
        return Ok(());
    }

    // Cold first page: new processes, the core vs plain rusqlite, the same
    // rows from the same file, interleaved so noise hits both alike.
    let (mut core_wall, mut core_in, mut core_rss) = (Vec::new(), Vec::new(), Vec::new());
    let (mut base_wall, mut base_in) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (w, i, r) = spawn_runs("first-page", &db, 1)?;
        core_wall.extend(w);
        core_in.extend(i);
        core_rss.extend(r);
        let (w, i, _) = spawn_runs("baseline-first-page", &db, 1)?;
        base_wall.extend(w);
        base_in.extend(i);
    }
    emit(
        "first_page_cold_ms",
        median(core_wall),
        Some(median(base_wall)),
    );
    emit(
        "first_page_cold_in_process_ms",
        median(core_in),
        Some(median(base_in)),
    );
    emit("peak_rss_mb", median(core_rss), None);

    // Filter pages and counts: every combination of A2-A5, first page.
    let filters = ChatFilter::combinations();
    let reps = runs.clamp(3, 10);
    let (mut page_ms, mut count_ms) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for f in &filters {
            page_ms.push(timed(|| store.chat_page(f, None, 50)).0);
            count_ms.push(timed(|| store.status_counts(f)).0);
        }
    }
    let base_ms = plain_page_times(&db, filters.len() * reps)?;
    let base_p99 = percentile(base_ms, 0.99);
    emit(
        "filter_page_p99_ms",
        percentile(page_ms, 0.99),
        Some(base_p99),
    );
    emit("status_counts_p99_ms", percentile(count_ms, 0.99), None);

    // Name search, 1-4 typed letters of real name words, newest first.
    let prefixes = search_prefixes(&store)?;
    let mut search_ms = Vec::new();
    for _ in 0..reps {
        for p in &prefixes {
            let f = ChatFilter {
                search: Some(p.clone()),
                ..Default::default()
            };
            search_ms.push(timed(|| store.chat_page(&f, None, 50)).0);
        }
    }
    let one_letter: Vec<f64> = search_ms
        .iter()
        .zip(prefixes.iter().cycle())
        .filter(|(_, p)| p.chars().count() == 1)
        .map(|(t, _)| *t)
        .collect();
    emit("name_search_p99_ms", percentile(search_ms, 0.99), None);
    emit(
        "name_search_one_letter_p99_ms",
        percentile(one_letter, 0.99),
        None,
    );

    // Timeline: page backwards through the big chat, 50 at a time.
    let big = ChatId::from("c0");
    let mut tl_ms = Vec::new();
    let mut total_items = 0;
    for _ in 0..reps.min(3) {
        let mut before = None;
        loop {
            let (t, page) = timed(|| store.timeline_page(&big, before, 50));
            let page = page?;
            tl_ms.push(t);
            total_items = total_items.max(page.items.len());
            match page.older {
                Some(c) => before = Some(c),
                None => break,
            }
        }
    }
    emit("timeline_page_p99_ms", percentile(tl_ms, 0.99), None);
    eprintln!(
        "rapport-bench: {chats} chats, {events} events, big chat c0 with about {} messages",
        cfg.big_chat_messages
    );
    Ok(())
}

/// The baseline of `apply`: the same message rows inserted into a bare
/// table with one prepared statement, one transaction per batch.
fn plain_inserts(path: &Path, cfg: GenConfig) -> Res<Duration> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE messages (id TEXT PRIMARY KEY, chat TEXT NOT NULL, at INTEGER NOT NULL,
                                body TEXT NOT NULL);",
    )?;
    let mut generator = Generator::new(cfg);
    let mut total = Duration::ZERO;
    loop {
        let batch = generator.batch(CATCH_UP_BATCH);
        if batch.is_empty() {
            return Ok(total);
        }
        let rows: Vec<(String, String, i64, String)> = batch
            .iter()
            .map(|e| match &e.payload {
                EventPayload::MessageUpserted(m) => (
                    m.id.0.clone(),
                    m.chat_id.0.clone(),
                    m.sent_at.0,
                    serde_json::to_string(&m.content).unwrap_or_default(),
                ),
                other => (
                    format!("e{}", e.seq.0),
                    String::new(),
                    e.at.0,
                    other.type_name().to_owned(),
                ),
            })
            .collect();
        let t = Instant::now();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO messages VALUES (?1, ?2, ?3, ?4)")?;
            for r in &rows {
                stmt.execute(rusqlite::params![r.0, r.1, r.2, r.3])?;
            }
        }
        tx.commit()?;
        total += t.elapsed();
    }
}

/// The baseline of a list page: the plain first-page query on the chats
/// table, timed like the core's calls.
fn plain_page_times(db: &Path, n: usize) -> Res<Vec<f64>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (t, rows) = timed(|| -> rusqlite::Result<usize> {
            let mut stmt = conn.prepare_cached(
                "SELECT c.rid, c.id, c.title, m.content FROM chats c
                 LEFT JOIN messages m ON m.rid = c.preview_rid
                 ORDER BY c.last_activity DESC, c.rid DESC LIMIT 50",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            Ok(rows.count())
        });
        rows?;
        out.push(t);
    }
    Ok(out)
}

/// 1-4 letter prefixes of words of real chat names.
fn search_prefixes(store: &Store) -> Res<Vec<String>> {
    let page = store.chat_page(&ChatFilter::default(), None, 200)?;
    let mut out = Vec::new();
    for (i, row) in page.rows.iter().enumerate() {
        let words = rapport_core::store::fold::words(&row.chat.title);
        if let Some(w) = words.get(i % words.len().max(1)) {
            let n = 1 + i % 4;
            out.push(w.chars().take(n).collect());
        }
    }
    out.push("zzzq".into());
    out.push("ё".into());
    Ok(out)
}
