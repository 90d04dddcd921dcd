//! The chaos campaign (issue 16; scripts/chaos.sh runs it):
//!
//!   rapport-chaos run --rounds N [--seed S] [--round-ms MS] [--server PATH] [--dir D]
//!   rapport-chaos client --url U --dir D --device N --seed S [--drain]   (a child)
//!
//! Each round, on a fresh data dir: one `rapport-server` process with the
//! simulator at a high rate and random faults on every request
//! (`--faults`: latency, 503, resets, 429, HTML 200s with and without the
//! command run, panics; streams cut, frames duplicated and reordered), and
//! two client processes of one agent on two devices (the demo workspace has
//! one agent), each with its own store file and session. A client syncs,
//! streams and queues replies, notes, pauses and assignments through the
//! real outbox, each with an idempotency key it journals (fsynced) before
//! queueing. At random points a client or the server is killed (-9) and
//! started again on the same files (the server on the same port).
//!
//! End of round: the server restarts without faults and without the
//! simulator, the clients restart and drain (outbox empty, store at the
//! server's head), then every journaled command must be on the server
//! exactly once (a message or note by the marker in its text, the other
//! commands by the answer kept for their key), and every client store must
//! equal the server's store of the workspace, both read by one canonical
//! dump ([`dump`]). It prints `lost: N, duplicated: N, diverged: N`, the
//! JSON lines `chaos_rounds`, `chaos_lost`, `chaos_duplicated`,
//! `chaos_diverged`, and exits 1 if any is non-zero. Round `r` of
//! `--seed S` runs with seed `S + r`; `--rounds 1 --seed S+r` replays it
//! (the faults, the kills and the clients' choices come from that seed; the
//! timing of processes does not).

use rapport_core::model::{ChatId, Content, MemberId, Message, Snapshot};
use rapport_core::outbox::{Draft, OutboxState};
use rapport_core::session::FileSecretStore;
use rapport_core::store::{ChatFilter, Store};
use rapport_core::sync::Action;
use rapport_core::wire::PauseAction;
use rapport_core::{Client, ClientConfig, ClientError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EMAIL: &str = "agent@example.com";
const PASSWORD: &str = "rapport";
const WORKSPACE: &str = "demo";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, d: u64| arg(name).and_then(|v| v.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("run") => {
            let exe = std::env::current_exe().expect("own path");
            let server = arg("--server")
                .map(PathBuf::from)
                .unwrap_or_else(|| exe.with_file_name("rapport-server"));
            let base = arg("--dir").map(PathBuf::from).unwrap_or_else(|| {
                std::env::temp_dir().join(format!("rapport-chaos-{}", std::process::id()))
            });
            let cfg = Campaign {
                rounds: num("--rounds", 20),
                seed: arg("--seed")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| fastrand::u64(..1 << 48)),
                round_ms: num("--round-ms", 3_000),
                server,
                exe,
                base,
            };
            std::process::exit(campaign(&cfg));
        }
        Some("client") => {
            let dir = PathBuf::from(arg("--dir").expect("--dir"));
            let code = client(
                &arg("--url").expect("--url"),
                &dir,
                num("--device", 0),
                num("--seed", 0),
                args.iter().any(|a| a == "--drain"),
            );
            std::process::exit(code);
        }
        _ => {
            eprintln!(
                "usage: rapport-chaos run --rounds N [--seed S] [--round-ms MS] [--server PATH] [--dir D]"
            );
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------
// The driver.

struct Campaign {
    rounds: u64,
    seed: u64,
    round_ms: u64,
    server: PathBuf,
    exe: PathBuf,
    base: PathBuf,
}

#[derive(Default)]
struct Tally {
    commands: u64,
    lost: u64,
    duplicated: u64,
    diverged: u64,
    refused: u64,
    kills: u64,
}

fn campaign(cfg: &Campaign) -> i32 {
    println!(
        "chaos: {} rounds of {} ms, seed {} (round r replays with --rounds 1 --seed {}+r)",
        cfg.rounds, cfg.round_ms, cfg.seed, cfg.seed
    );
    let mut total = Tally::default();
    let mut failed = Vec::new();
    for r in 0..cfg.rounds {
        let seed = cfg.seed.wrapping_add(r);
        let dir = cfg.base.join(format!("round-{seed}"));
        let t = match round(cfg, seed, &dir) {
            Ok(t) => t,
            Err(e) => {
                // A round that could not finish (a drain that never ends is
                // a stuck command): counted as lost, its files kept.
                println!("round {r} (seed {seed}): did not finish: {e}");
                Tally {
                    lost: 1,
                    ..Tally::default()
                }
            }
        };
        let bad = t.lost + t.duplicated + t.diverged > 0;
        println!(
            "round {r} (seed {seed}): {} commands ({} refused), {} kills; lost: {}, duplicated: {}, diverged: {}{}",
            t.commands,
            t.refused,
            t.kills,
            t.lost,
            t.duplicated,
            t.diverged,
            if bad {
                format!("  FAILED, files in {}", dir.display())
            } else {
                String::new()
            }
        );
        if bad {
            failed.push(seed);
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        total.commands += t.commands;
        total.lost += t.lost;
        total.duplicated += t.duplicated;
        total.diverged += t.diverged;
        total.refused += t.refused;
        total.kills += t.kills;
    }
    let _ = std::fs::remove_dir(&cfg.base);
    println!(
        "chaos: {} rounds, {} commands ({} refused by the rules), {} kills",
        cfg.rounds, total.commands, total.refused, total.kills
    );
    println!(
        "lost: {}, duplicated: {}, diverged: {}",
        total.lost, total.duplicated, total.diverged
    );
    for seed in &failed {
        println!("replay: scripts/chaos.sh 1 --seed {seed}");
    }
    for (metric, value) in [
        ("chaos_rounds", cfg.rounds),
        ("chaos_lost", total.lost),
        ("chaos_duplicated", total.duplicated),
        ("chaos_diverged", total.diverged),
    ] {
        println!("{}", json!({"metric": metric, "value": value}));
    }
    i32::from(total.lost + total.duplicated + total.diverged > 0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn_server(cfg: &Campaign, dir: &Path, port: u16, faults: Option<&str>) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server log");
    let mut cmd = Command::new(&cfg.server);
    cmd.arg("--db")
        .arg(dir.join("server.db"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--chats", "30", "--messages", "300"])
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    if let Some(spec) = faults {
        cmd.args(["--simulate", "150", "--faults", spec]);
    }
    let banners = || {
        std::fs::read_to_string(dir.join("server.log"))
            .unwrap_or_default()
            .matches("rapport-server listening")
            .count()
    };
    let before = banners();
    let child = cmd.spawn().expect("rapport-server starts");
    // Ready once it says so: it listens before the demo workspace and its
    // agent exist (a login then would be refused).
    let deadline = Instant::now() + Duration::from_secs(60);
    while banners() == before || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "rapport-server never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn spawn_client(
    cfg: &Campaign,
    dir: &Path,
    port: u16,
    device: u64,
    seed: u64,
    drain: bool,
) -> Child {
    let dev = dir.join(format!("dev{device}"));
    std::fs::create_dir_all(&dev).expect("device dir");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dev.join("client.log"))
        .expect("client log");
    let mut cmd = Command::new(&cfg.exe);
    cmd.arg("client")
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .arg("--dir")
        .arg(&dev)
        .args(["--device", &device.to_string(), "--seed", &seed.to_string()])
        .env("RUST_LOG", "warn")
        .stderr(log);
    if drain {
        cmd.arg("--drain")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
    }
    cmd.spawn().expect("client starts")
}

fn kill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

/// Waits up to `secs` for a child to exit on its own.
fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn round(cfg: &Campaign, seed: u64, dir: &Path) -> Result<Tally, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    let port = free_port();
    let faults = format!(
        "seed={seed},latency={},fail=0.04,drop=0.04,429=0.03,portal=0.02,mangle=0.04,panic=0.01,cut={},duplicate,reorder",
        rng.u64(5..=40),
        rng.u64(10..=60)
    );
    let mut server = spawn_server(cfg, dir, port, Some(&faults));
    let mut clients: Vec<Child> = (0..2)
        .map(|d| spawn_client(cfg, dir, port, d, seed, false))
        .collect();

    // The kills: one of the server, one or two of a client, at random
    // points of the round; each restarted after a short outage.
    let mut plan: Vec<(u64, Option<usize>)> =
        vec![(rng.u64(cfg.round_ms / 5..cfg.round_ms * 4 / 5), None)];
    for _ in 0..rng.usize(1..=2) {
        plan.push((
            rng.u64(cfg.round_ms / 10..cfg.round_ms * 9 / 10),
            Some(rng.usize(0..2)),
        ));
    }
    plan.sort();
    let start = Instant::now();
    for (at, who) in plan {
        let at = start + Duration::from_millis(at);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let outage = Duration::from_millis(rng.u64(20..300));
        match who {
            None => {
                kill(&mut server);
                std::thread::sleep(outage);
                server = spawn_server(cfg, dir, port, Some(&faults));
            }
            Some(d) => {
                kill(&mut clients[d]);
                std::thread::sleep(outage);
                clients[d] = spawn_client(cfg, dir, port, d as u64, seed, false);
            }
        }
        tally.kills += 1;
    }
    let end = start + Duration::from_millis(cfg.round_ms);
    if let Some(wait) = end.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }

    // Faults off: the clients stop (or die), the server restarts plain.
    std::fs::write(dir.join("stop"), b"").map_err(|e| e.to_string())?;
    for c in &mut clients {
        // Half the time killed at once, else given a moment to exit.
        if rng.bool() || wait_exit(c, 20).is_none() {
            kill(c);
        }
    }
    kill(&mut server);
    let mut server = spawn_server(cfg, dir, port, None);
    let mut drains: Vec<Child> = (0..2)
        .map(|d| spawn_client(cfg, dir, port, d, seed, true))
        .collect();
    let result = drain(&mut drains, dir);
    for c in &mut drains {
        kill(c);
    }
    kill(&mut server);
    result?;
    check(dir, &mut tally)?;
    Ok(tally)
}

/// Each client empties its outbox; then, the head fixed, each reaches it.
fn drain(drains: &mut [Child], dir: &Path) -> Result<(), String> {
    let mut outs = Vec::new();
    for (d, c) in drains.iter_mut().enumerate() {
        let mut out = BufReader::new(c.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "drained" {
            return Err(format!("device {d} did not drain its outbox ({line:?})"));
        }
        outs.push(out);
    }
    let head: i64 = rusqlite::Connection::open(dir.join("server.db"))
        .and_then(|c| {
            c.query_row(
                "SELECT coalesce(max(seq), 0) FROM events WHERE workspace = ?1",
                [WORKSPACE],
                |r| r.get(0),
            )
        })
        .map_err(|e| format!("server head: {e}"))?;
    for (d, (c, out)) in drains.iter_mut().zip(&mut outs).enumerate() {
        let mut stdin = c.stdin.take().expect("stdin");
        writeln!(stdin, "{head}").map_err(|e| e.to_string())?;
        let mut line = String::new();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "synced" {
            return Err(format!("device {d} did not reach seq {head} ({line:?})"));
        }
        match wait_exit(c, 20) {
            Some(s) if s.success() => {}
            other => return Err(format!("device {d} exited with {other:?}")),
        }
    }
    Ok(())
}

/// A journal line: a command about to be queued (`want`), then what came
/// of it: queued (`ok`), refused by the rules before queueing (`refused`),
/// or refused by the server and discarded from the outbox (`failed`).
fn read_journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        // A line cut by a kill -9 mid-write was never followed by a queue.
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

struct Entry {
    action: Action,
    outcome: Option<String>,
}

fn entries(journal: &[Value]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for v in journal {
        if let (Some(key), Some(action)) = (v["want"].as_str(), v.get("action"))
            && let Ok(action) = serde_json::from_value(action.clone())
        {
            out.entry(key.to_owned()).or_insert(Entry {
                action,
                outcome: None,
            });
        }
        for outcome in ["ok", "refused", "failed"] {
            if let Some(e) = v[outcome].as_str().and_then(|k| out.get_mut(k)) {
                // `failed` (the server said no) overrides `ok` (queued).
                if e.outcome.as_deref() != Some("failed") {
                    e.outcome = Some(outcome.to_owned());
                }
            }
        }
    }
    out
}

fn check(dir: &Path, tally: &mut Tally) -> Result<(), String> {
    let server = Store::open(dir.join(format!("server.db.ws-{WORKSPACE}.sqlite")))
        .map_err(|e| format!("server store: {e}"))?;
    let canon = dump(&server)?;
    // The answers the server keeps, by key (the scope's last line).
    let answers: HashMap<String, u16> = {
        let c = rusqlite::Connection::open(dir.join("server.db")).map_err(|e| e.to_string())?;
        let mut stmt = c
            .prepare("SELECT key, status FROM idempotency WHERE workspace = ?1")
            .map_err(|e| e.to_string())?;
        stmt.query_map([WORKSPACE], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(scope, status)| (scope.rsplit('\n').next().unwrap_or("").to_owned(), status))
        .collect()
    };
    let mut texts: HashMap<&str, u64> = HashMap::new();
    for m in &canon.messages {
        if let Content::Text { text } = &m.content {
            *texts.entry(text).or_default() += 1;
        }
    }
    let mut notes: HashMap<&str, u64> = HashMap::new();
    for n in &canon.notes {
        *notes.entry(&n.text).or_default() += 1;
    }
    for d in 0..2 {
        let dev = dir.join(format!("dev{d}"));
        for (key, e) in entries(&read_journal(&dev.join("journal.jsonl"))) {
            let found = match &e.action {
                Action::SendText { text, .. } => texts.get(text.as_str()).copied().unwrap_or(0),
                Action::AddNote { text, .. } => notes.get(text.as_str()).copied().unwrap_or(0),
                _ => u64::from(answers.contains_key(&key)),
            };
            let ran = found > 0 || answers.get(&key).is_some_and(|s| *s >= 400);
            tally.commands += 1;
            if e.outcome.as_deref() == Some("failed") && found > 0 {
                // The client was told no, yet the server has it.
                tally.diverged += 1;
                println!("  failed on the client, applied on the server: device {d} key {key}");
            }
            match e.outcome.as_deref() {
                // Refused before it could be queued, or by the server: at
                // most once, and nothing to deliver.
                Some("refused") | Some("failed") => tally.refused += 1,
                // Queued (or the kill came before the outcome was written,
                // and the restarted client queued it again).
                _ if !ran => {
                    tally.lost += 1;
                    println!("  lost: device {d} key {key}: {:?}", e.action);
                }
                _ => {}
            }
            if found > 1 {
                tally.duplicated += 1;
                println!(
                    "  duplicated ({found}): device {d} key {key}: {:?}",
                    e.action
                );
            }
        }
        let store =
            Store::open(dev.join("rapport.db")).map_err(|e| format!("dev{d} store: {e}"))?;
        if let Some(diff) = first_difference(&dump(&store)?, &canon) {
            tally.diverged += 1;
            println!("  diverged: device {d}: {diff}");
        }
    }
    Ok(())
}

/// The canonical dump of a workspace as a store holds it, for the server's
/// store and each client's alike: the store's snapshot with every message,
/// each list in one order (by id; messages by time, then id), and the I1
/// figures the store shows (a snapshot counts them again from the messages
/// held, which a client holds only the newest of).
fn dump(store: &Store) -> Result<Snapshot, String> {
    let mut s = store.snapshot(u32::MAX).map_err(|e| e.to_string())?;
    s.stats = store.stats().map_err(|e| e.to_string())?;
    s.bots.sort_by(|a, b| a.id.cmp(&b.id));
    s.members.sort_by(|a, b| a.id.cmp(&b.id));
    s.subscribers.sort_by(|a, b| a.id.cmp(&b.id));
    s.chats.sort_by(|a, b| a.id.cmp(&b.id));
    s.messages
        .sort_by(|a, b| (&a.chat_id, a.sent_at, &a.id).cmp(&(&b.chat_id, b.sent_at, &b.id)));
    s.notes.sort_by(|a, b| a.id.cmp(&b.id));
    s.deals.sort_by(|a, b| a.id.cmp(&b.id));
    s.stats.sort_by(|a, b| a.bot_id.cmp(&b.bot_id));
    s.viber_usage
        .sort_by(|a, b| (&a.bot_id, a.month).cmp(&(&b.bot_id, b.month)));
    Ok(s)
}

fn first_list_difference<T: PartialEq + std::fmt::Debug>(
    what: &str,
    client: &[T],
    server: &[T],
) -> Option<String> {
    if let Some(i) = (0..client.len().min(server.len())).find(|&i| client[i] != server[i]) {
        return Some(format!(
            "{what}[{i}]: client {:?} vs server {:?}",
            client[i], server[i]
        ));
    }
    (client.len() != server.len()).then(|| {
        format!(
            "{what}: client has {}, server {} (first extra: {:?})",
            client.len(),
            server.len(),
            client
                .get(server.len())
                .map(|x| format!("client {x:?}"))
                .or_else(|| server.get(client.len()).map(|x| format!("server {x:?}")))
        )
    })
}

/// The first way a client's dump differs from the server's, if any. A
/// client holds the newest messages of each chat (its first snapshot's,
/// then every later one), so its messages of a chat must be the server's
/// newest ones: no gap, nothing twice, nothing the server lacks.
fn first_difference(client: &Snapshot, server: &Snapshot) -> Option<String> {
    if client.seq != server.seq {
        return Some(format!(
            "seq: client {:?} vs server {:?}",
            client.seq, server.seq
        ));
    }
    first_list_difference("chats", &client.chats, &server.chats)
        .or_else(|| first_list_difference("notes", &client.notes, &server.notes))
        .or_else(|| first_list_difference("members", &client.members, &server.members))
        .or_else(|| first_list_difference("bots", &client.bots, &server.bots))
        .or_else(|| first_list_difference("subscribers", &client.subscribers, &server.subscribers))
        .or_else(|| first_list_difference("deals", &client.deals, &server.deals))
        .or_else(|| first_list_difference("stats", &client.stats, &server.stats))
        .or_else(|| first_list_difference("viber_usage", &client.viber_usage, &server.viber_usage))
        .or_else(|| {
            let by_chat = |v: &[Message]| {
                let mut m: BTreeMap<ChatId, Vec<Message>> = BTreeMap::new();
                for x in v {
                    m.entry(x.chat_id.clone()).or_default().push(x.clone());
                }
                m
            };
            let (c, s) = (by_chat(&client.messages), by_chat(&server.messages));
            for chat in c.keys().chain(s.keys()) {
                let (cm, sm) = (
                    c.get(chat).map_or(&[][..], Vec::as_slice),
                    s.get(chat).map_or(&[][..], Vec::as_slice),
                );
                if cm.len() > sm.len() || (cm.is_empty() && !sm.is_empty()) {
                    return first_list_difference(&format!("messages of {chat}"), cm, sm);
                }
                let tail = &sm[sm.len() - cm.len()..];
                if let Some(d) = first_list_difference(&format!("messages of {chat}"), cm, tail) {
                    return Some(d);
                }
            }
            None
        })
}

// ---------------------------------------------------------------------
// A client process.

struct Journal(std::fs::File);

impl Journal {
    fn write(&mut self, v: Value) {
        // Fsynced before the command can go out.
        writeln!(self.0, "{v}").expect("journal");
        self.0.sync_data().expect("journal fsync");
    }
}

fn client(url: &str, dir: &Path, device: u64, seed: u64, drain: bool) -> i32 {
    let journal_path = dir.join("journal.jsonl");
    let past = entries(&read_journal(&journal_path));
    let mut journal = Journal(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .expect("journal"),
    );
    let secrets = Arc::new(FileSecretStore::new(dir.join("secrets.json")));
    let client = Client::open(
        ClientConfig {
            store_path: dir.join("rapport.db"),
            server_url: url.to_owned(),
        },
        secrets,
    )
    .expect("open the store");
    if client.login_info().is_none() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rt.block_on(client.login(EMAIL, PASSWORD)) {
                Ok(_) => break,
                Err(ClientError::Sync(e)) if e.is_retryable() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => {
                    eprintln!("login: {e}");
                    return 3;
                }
            }
        }
    }
    client.start_sync().expect("sync");
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.last_seq().map_or(true, |s| s.0 == 0) {
        if Instant::now() > deadline {
            eprintln!("no first sync");
            return 3;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Commands journaled but killed before their outcome: queued again
    // with the same key (one command however often).
    for (key, e) in &past {
        if e.outcome.is_none() {
            let outcome = queue(&client, key, e.action.clone());
            journal.write(outcome);
        }
    }
    if drain {
        return drain_client(&client, &mut journal);
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ (device << 56) ^ ((past.len() as u64) << 32));
    let me = client.me().expect("me");
    let mut n = past.len();
    while !dir.parent().expect("round dir").join("stop").exists() {
        set_aside_failed(&client, &mut journal);
        std::thread::sleep(Duration::from_millis(rng.u64(10..60)));
        let chats = client
            .chat_page(&ChatFilter::default(), None, 30)
            .map(|p| p.rows)
            .unwrap_or_default();
        if chats.is_empty() {
            continue;
        }
        let chat = &chats[rng.usize(..chats.len())].chat;
        let key = format!("k{seed:x}-d{device}-{n}");
        n += 1;
        let chat_id = chat.id.clone();
        let action = match rng.u8(0..100) {
            0..45 => Action::SendText {
                chat_id,
                text: format!("chaos {key}"),
                message_id: None,
            },
            45..65 => Action::AddNote {
                chat_id,
                text: format!("chaos note {key}"),
            },
            65..80 => Action::Pause {
                chat_id,
                action: if chat.paused_until.is_some() {
                    PauseAction::Continue
                } else {
                    PauseAction::Start
                },
            },
            _ => Action::Assign {
                chat_id,
                member_id: rng.bool().then(|| MemberId::clone(&me)),
            },
        };
        journal.write(json!({"want": key, "action": action}));
        let outcome = queue(&client, &key, action);
        journal.write(outcome);
    }
    0
}

/// Queues one command with its key; the journal line of its outcome.
fn queue(client: &Client, key: &str, action: Action) -> Value {
    let r = match &action {
        Action::SendText { chat_id, text, .. } => client
            .send(chat_id, Draft::Text(text), Some(key))
            .map(|_| ()),
        _ => client.run_action_keyed(action, key),
    };
    match r {
        Ok(()) => json!({"ok": key}),
        Err(e) => json!({"refused": key, "why": e.to_string()}),
    }
}

/// A command the server refused waits for the agent; the agent here
/// discards it (so that the chat's later commands go on).
fn set_aside_failed(client: &Client, journal: &mut Journal) {
    for e in client.outbox().unwrap_or_default() {
        if let OutboxState::Failed { code, .. } = &e.state {
            journal.write(json!({"failed": e.key, "code": code}));
            let _ = client.discard(e.id);
        }
    }
}

fn drain_client(client: &Client, journal: &mut Journal) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        set_aside_failed(client, journal);
        if client.unsent_commands().is_ok_and(|n| n == 0) {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("outbox never drained: {:?}", client.outbox());
            return 4;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("drained");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return 4;
    }
    let head: u64 = line.trim().parse().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.last_seq().map_or(true, |s| s.0 < head) {
        if Instant::now() > deadline {
            eprintln!("never reached seq {head}: {:?}", client.last_seq());
            return 4;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    client.stop_sync();
    println!("synced");
    0
}
