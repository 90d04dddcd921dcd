//! Issue 16, the chaos campaign: two short rounds of `rapport-chaos` (the
//! binary scripts/chaos.sh runs) against the real `rapport-server` binary,
//! and the bugs the campaign found, each pinned by a test.

use rapport_core::generate::GenConfig;
use rapport_core::model::{EventPayload, MessageId};
use std::collections::HashSet;
use std::process::Command;

/// The `rapport-server` binary next to this package's binaries, built
/// first (cargo test builds only this package's own).
fn server_binary() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "rapport-server",
            "--bin",
            "rapport-server",
        ])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building rapport-server");
    std::path::Path::new(env!("CARGO_BIN_EXE_rapport-chaos")).with_file_name("rapport-server")
}

#[test]
fn s2_e7_two_chaos_rounds_lose_nothing_duplicate_nothing_and_converge() {
    let server = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rapport-chaos"))
        .args(["run", "--rounds", "2", "--round-ms", "2000", "--seed", "16"])
        .arg("--server")
        .arg(&server)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("rapport-chaos runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chaos rounds failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("lost: 0, duplicated: 0, diverged: 0"),
        "{stdout}"
    );
    // The rounds did something: commands went through kills and faults.
    let commands: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("chaos: 2 rounds, "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(commands > 0, "{stdout}");
    for metric in [
        "chaos_rounds",
        "chaos_lost",
        "chaos_duplicated",
        "chaos_diverged",
    ] {
        assert!(
            stdout.contains(&format!("\"metric\":\"{metric}\"")),
            "{stdout}"
        );
    }
}

/// Found by the campaign: a restarted server's simulator started again at
/// the end of the seeded history and gave its new messages and notes the
/// ids its previous run had already used, so each upsert overwrote an
/// earlier message on the server (lost) while a client that held only the
/// newest messages took it as a new one (unread and activity diverged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_restarted_demo_simulator_never_reuses_a_message_or_note_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = rapport_server::start(rapport_server::ServerConfig {
        db: dir.path().join("server.db"),
        listen: "127.0.0.1:0".parse().unwrap(),
        heartbeat_ms: 300,
        clock: None,
    })
    .await
    .unwrap();
    let state = server.state.clone();
    let cfg = || GenConfig::new(5, 50);
    // One run of the demo: its live activity, emitted as the simulator does.
    let run = |mut g: rapport_core::generate::Generator| {
        g.continue_for(300);
        g.map(|e| e.payload).collect::<Vec<_>>()
    };
    let ids = |payloads: &[EventPayload]| -> HashSet<String> {
        payloads
            .iter()
            .filter_map(|p| match p {
                EventPayload::MessageUpserted(m) => Some(format!("message {}", m.id)),
                EventPayload::NoteUpserted(n) => Some(format!("note {}", n.id.0)),
                _ => None,
            })
            .collect()
    };
    let (ws, g) = rapport_server::demo::workspace(state.clone(), cfg())
        .await
        .unwrap();
    let first = run(g);
    assert!(
        first
            .iter()
            .any(|p| matches!(p, EventPayload::NoteUpserted(_)))
    );
    let hub = state.clone();
    let w = ws.clone();
    let emitted = first.clone();
    tokio::task::spawn_blocking(move || hub.hub.emit(&w, emitted))
        .await
        .unwrap()
        .unwrap();
    // The server restarted: the demo workspace exists, the simulator goes on.
    let (ws, g) = rapport_server::demo::workspace(state.clone(), cfg())
        .await
        .unwrap();
    let second = run(g);
    let reused: Vec<_> = ids(&first).intersection(&ids(&second)).cloned().collect();
    assert!(reused.is_empty(), "ids used again: {reused:?}");
    for p in &second {
        if let EventPayload::MessageUpserted(m) = p {
            assert!(
                !ws.store.has_message(&MessageId(m.id.0.clone())).unwrap(),
                "{} is already a message of the workspace",
                m.id
            );
        }
    }
}

/// Found by the campaign: a reply's local echo carries the device's time,
/// which became the chat's last activity; the server's copy, a few ms
/// earlier on the server's clock, left it there, so the client's chat row
/// differed from the server's for good.
#[test]
fn s2_e7_a_confirmed_echo_leaves_the_chat_activity_the_servers() {
    use rapport_core::model::*;
    use rapport_tests::{Events, TempStore};
    let (client, server) = (TempStore::new(), TempStore::new());
    let mut ev = Events::default();
    let history = vec![
        ev.chat("c1", App::Telegram, "Ann"),
        ev.inbound("c1", "m1", "hi"),
    ];
    client.apply(&history);
    server.apply(&history);
    let chat = ChatId::from("c1");
    let id = MessageId::from("m-k1");
    let text = || Content::Text {
        text: "on my way".into(),
    };
    // The device's clock runs 5 ms ahead of the server's.
    let server_at = Timestamp(ev.now + 10_000);
    let echo = rapport_core::outbox::echo(
        id.clone(),
        &chat,
        rapport_core::generate::me(),
        text(),
        server_at.plus_millis(5),
    );
    let action = rapport_core::sync::Action::SendText {
        chat_id: chat.clone(),
        text: "on my way".into(),
        message_id: Some(id.clone()),
    };
    client
        .store
        .enqueue(&action, "k1", Some(&echo), server_at)
        .unwrap();
    let mut copy = echo.clone();
    copy.sent_at = server_at;
    copy.delivery = Some(Delivery::Sent);
    // The server's copy, and the pause the reply started on its clock.
    let confirmed = vec![
        ev.ev(EventPayload::MessageUpserted(copy)),
        ev.ev(EventPayload::PauseChanged {
            chat_id: chat.clone(),
            until: Some(server_at.plus_millis(3_600_000)),
        }),
    ];
    client.apply(&confirmed);
    server.apply(&confirmed);
    let row = |t: &TempStore| t.store.chat(&chat).unwrap().unwrap();
    assert_eq!(row(&client).chat.last_activity, server_at);
    assert_eq!(row(&client), row(&server));
}
