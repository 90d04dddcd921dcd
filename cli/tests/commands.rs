//! The one-shot commands, run as the built binary against the real server
//! over loopback, with real SQLite files in a temporary data directory.

mod common;

use rapport_core::model::App as MessagingApp;
use rapport_core::store::ChatFilter;
use rapport_tests::PASSWORD;
use serde_json::Value;
use std::process::Command;

struct Cli {
    data: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
    fn error(&self) -> Value {
        serde_json::from_str::<Value>(&self.stderr)
            .unwrap_or_else(|e| panic!("no JSON error ({e}): {}", self.stderr))["error"]
            .clone()
    }
}

impl Cli {
    fn new() -> Cli {
        Cli {
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(args)
            .arg("--data")
            .arg(self.data.path())
            .args(["--timeout", "30"])
            .env_remove("RAPPORT_PASSWORD")
            .output()
            .expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and expects success.
    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.stdout, r.stderr);
        r
    }

    fn login(&self, url: &str) {
        self.ok(&[
            "login",
            "--server",
            url,
            "--email",
            "u0@w1.test",
            "--password",
            PASSWORD,
        ]);
    }
}

#[test]
fn s5_login_errors_and_exit_codes() {
    let s = common::server(10, 50);
    let url = s.srv.url();
    let cli = Cli::new();
    // Not logged in: exit 4 with a hint.
    let r = cli.run(&["chats"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("rapport login"), "{}", r.stderr);
    // Wrong password: refused, exit 3; JSON error on stderr.
    let r = cli.run(&[
        "login",
        "--server",
        &url,
        "--email",
        "u0@w1.test",
        "--password",
        "nope",
        "--json",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error()["code"], "bad_credentials");
    // No server there: exit 1.
    let r = cli.run(&[
        "login",
        "--server",
        "http://127.0.0.1:9",
        "--email",
        "u0@w1.test",
        "--password",
        PASSWORD,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Bad usage: exit 2.
    assert_eq!(cli.run(&["chats", "--status", "maybe"]).code, 2);
    assert_eq!(cli.run(&["frobnicate"]).code, 2);
    assert_eq!(cli.run(&["send", "only-a-chat"]).code, 2);
    assert_eq!(cli.run(&["chats", "--bogus"]).code, 2);
    let help = cli.ok(&["--help"]);
    assert!(help.stdout.contains("rapport demo"));

    let r = cli.ok(&[
        "login",
        "--server",
        &url,
        "--email",
        "u0@w1.test",
        "--password",
        PASSWORD,
        "--json",
    ]);
    assert_eq!(r.json()["member_id"], "u0");
    // The session is kept (secrets file, 0600), the store is local.
    assert!(cli.data.path().join("rapport.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.data.path().join("session.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the session is private");
    }
    // Unknown chat: exit 4.
    let r = cli.run(&["show", "no-such-chat", "--json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.error()["code"], "not_found");
    // Logout deletes the local data.
    cli.ok(&["logout"]);
    assert!(!cli.data.path().join("rapport.db").exists());
    assert_eq!(cli.run(&["chats"]).code, 4);
}

#[test]
fn s2_a2_a6_i1_sync_chats_search_show_stats() {
    let s = common::server(40, 400);
    let cli = Cli::new();
    cli.login(&s.srv.url());
    let r = cli.ok(&["sync", "--json"]).json();
    let head = s.srv.head("w1");
    assert!(r["seq"].as_u64().unwrap() >= head.0);
    assert_eq!(r["counts"]["all"], 40);

    // A2-A5 with live counts, exactly as the server's own store counts.
    let w1 = s.srv.workspace("w1");
    let f = ChatFilter {
        app: Some(MessagingApp::Telegram),
        status: rapport_core::store::StatusFilter::Open,
        ..Default::default()
    };
    let r = cli
        .ok(&["chats", "--app", "telegram", "--status", "open", "--json"])
        .json();
    let want = w1.store.chat_page(&f, None, 50).unwrap().rows;
    let got: Vec<&str> = r["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chat"]["id"].as_str().unwrap())
        .collect();
    let want_ids: Vec<&str> = want.iter().map(|c| c.chat.id.as_str()).collect();
    assert_eq!(got, want_ids);
    assert_eq!(
        r["counts"],
        serde_json::to_value(w1.store.status_counts(&f).unwrap()).unwrap()
    );
    // Text output: one row per chat with its app.
    let text = cli.ok(&["chats", "--app", "telegram", "--offline"]).stdout;
    assert!(text.starts_with("open "), "{text}");
    assert!(text.lines().filter(|l| l.contains(" TG ")).count() >= want.len().min(1));

    // A6: search by the start of a word of a name.
    let name = want
        .first()
        .map(|c| c.chat.title.clone())
        .unwrap_or_else(|| "a".into());
    let word: String = name
        .split_whitespace()
        .next()
        .unwrap()
        .chars()
        .take(3)
        .collect();
    let r = cli.ok(&["search", &word, "--json", "--offline"]).json();
    let ids: Vec<&str> = r["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chat"]["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&want[0].chat.id.as_str()), "{word}: {ids:?}");

    // show: the row, the window, the card and the timeline.
    let id = want[0].chat.id.as_str();
    let r = cli.ok(&["show", id, "--json", "--limit", "5"]).json();
    assert_eq!(r["chat"]["chat"]["id"], id);
    assert_eq!(r["window"]["type"], "unlimited", "Telegram has no window");
    assert!(r["subscriber"]["name"].is_string());
    assert!(!r["timeline"].as_array().unwrap().is_empty());
    let text = cli.ok(&["show", id, "--offline"]).stdout;
    assert!(text.contains("no reply window"), "{text}");

    // I1.
    let r = cli.ok(&["stats", "--json", "--offline"]).json();
    let total = &r["stats"][0];
    assert!(total["bot_id"].is_null());
    assert!(total["subscribers"].as_u64().unwrap() > 0);
    assert!(cli.ok(&["stats", "--offline"]).stdout.contains("All bots"));
}

#[test]
fn e1_e7_c1_d1_f7_a8_actions_go_through_the_outbox() {
    let s = common::server(30, 200);
    let cli = Cli::new();
    cli.login(&s.srv.url());
    cli.ok(&["sync"]);
    let w1 = s.srv.workspace("w1");
    let wa = common::chats_of(&w1.store, MessagingApp::Whatsapp)[0].clone();

    // E4/E5: 25 hours on, the window is closed: refused, exit 3, nothing
    // queued, with the reason and what may go instead.
    let r = cli.run(&["send", wa.as_str(), "hello", "--json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error()["code"], "window_closed");
    let r = cli.ok(&["show", wa.as_str(), "--json"]).json();
    assert_eq!(r["reply"]["allowed"], false);
    assert_eq!(r["reply"]["refusal"]["code"], "window_closed");
    assert_eq!(r["reply"]["instead"][0]["type"], "whatsapp_template");
    // E1: too long, whatever the window.
    let r = cli.run(&["send", wa.as_str(), &"x".repeat(513), "--json"]);
    assert_eq!(r.error()["code"], "text_too_long");

    // The subscriber writes: the window opens, the reply goes out once.
    s.srv.subscriber_writes(wa.as_str(), "cli-in-1");
    let r = cli
        .ok(&["send", wa.as_str(), "Hello from the CLI", "--json"])
        .json();
    assert_ne!(r["delivery"], "pending");
    let id = r["message_id"].as_str().unwrap().to_owned();
    let on_server = rapport_tests::texts_with_prefix(&w1.store, wa.as_str(), "Hello from the CLI");
    assert_eq!(on_server.len(), 1, "sent exactly once");
    assert!(
        w1.store
            .has_message(&rapport_core::model::MessageId(id))
            .unwrap()
    );
    // E3: the manual reply paused the bot; F7 continue, start, extend.
    let chat = || w1.store.chat(&wa).unwrap().unwrap().chat;
    assert!(chat().paused_until.is_some());
    cli.ok(&["pause", wa.as_str(), "continue"]);
    assert!(chat().paused_until.is_none());
    cli.ok(&["pause", wa.as_str()]);
    let until = chat().paused_until.unwrap();
    cli.ok(&["pause", wa.as_str(), "extend"]);
    assert!(chat().paused_until.unwrap() > until);

    // C1 notes, D1 assignment, A8 close and open.
    cli.ok(&["note", wa.as_str(), "VIP: call back tomorrow"]);
    let notes = w1.store.timeline_page(&wa, None, 100).unwrap().items;
    assert!(notes.iter().any(|i| matches!(i,
        rapport_core::store::TimelineItem::Note(n) if n.text == "VIP: call back tomorrow")));
    cli.ok(&["assign", wa.as_str(), "me"]);
    assert_eq!(chat().assignee.map(|m| m.0), Some("u0".to_owned()));
    cli.ok(&["assign", wa.as_str(), "Agent u1"]);
    assert_eq!(chat().assignee.map(|m| m.0), Some("u1".to_owned()));
    // A member without access to conversations cannot be chosen (D1).
    let r = cli.run(&["assign", wa.as_str(), "u3", "--json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error()["code"], "not_assignable");
    let r = cli.run(&["assign", wa.as_str(), "nobody-here"]);
    assert_eq!(r.code, 4);
    cli.ok(&["assign", wa.as_str(), "none"]);
    assert_eq!(chat().assignee, None);
    let r = cli.ok(&["close", wa.as_str(), "--json"]).json();
    assert_eq!(r["done"], true);
    assert_eq!(chat().state, rapport_core::model::ChatState::Closed);
    cli.ok(&["open", wa.as_str()]);
    assert_eq!(chat().state, rapport_core::model::ChatState::Open);

    // E7 offline: queued locally, sent by the next sync, once.
    let r = cli
        .ok(&[
            "note",
            wa.as_str(),
            "written offline",
            "--offline",
            "--json",
        ])
        .json();
    assert_eq!(r["queued"], true);
    let has_note = || {
        w1.store
            .timeline_page(&wa, None, 200)
            .unwrap()
            .items
            .iter()
            .filter(|i| {
                matches!(i,
                rapport_core::store::TimelineItem::Note(n) if n.text == "written offline")
            })
            .count()
    };
    assert_eq!(has_note(), 0);
    cli.ok(&["sync"]);
    assert_eq!(has_note(), 1);
}

#[test]
fn e2_e5_files_templates_and_tags() {
    let s = common::server(30, 200);
    let cli = Cli::new();
    cli.login(&s.srv.url());
    cli.ok(&["sync"]);
    let w1 = s.srv.workspace("w1");
    let tg = common::chats_of(&w1.store, MessagingApp::Telegram)[0].clone();

    // E2: a file with a caption; the core sniffs it, the outbox uploads it.
    let file = cli.data.path().join("invoice.txt");
    std::fs::write(&file, "Invoice 42: 3 items\n".repeat(200)).unwrap();
    let r = cli
        .ok(&[
            "send",
            tg.as_str(),
            "your invoice",
            "--file",
            file.to_str().unwrap(),
            "--json",
        ])
        .json();
    let id = rapport_core::model::MessageId(r["message_id"].as_str().unwrap().into());
    let on_server = w1
        .store
        .timeline_item(&tg, &rapport_core::store::TimelineItemId::Message(id))
        .unwrap();
    match on_server {
        Some(rapport_core::store::TimelineItem::Message(m)) => match m.content {
            rapport_core::model::Content::Attachment(a) => {
                assert_eq!(a.name, "invoice.txt");
                assert_eq!(a.size_bytes, 4000);
                assert_eq!(a.caption.as_deref(), Some("your invoice"));
            }
            other => panic!("not a file: {other:?}"),
        },
        other => panic!("not on the server: {other:?}"),
    }
    // An executable is refused by the core before anything is queued.
    let script = cli.data.path().join("run.sh");
    std::fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
    let r = cli.run(&[
        "send",
        tg.as_str(),
        "--file",
        script.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error()["code"], "executable");
    let r = cli.run(&["send", tg.as_str(), "--file", "/no/such/file"]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // E5: 25 hours on, WhatsApp takes a template, Messenger a tagged text.
    let wa = common::chats_of(&w1.store, MessagingApp::Whatsapp)[0].clone();
    cli.ok(&["send", wa.as_str(), "--template", "order_update"]);
    let fb = common::chats_of(&w1.store, MessagingApp::Messenger)[0].clone();
    assert_eq!(cli.run(&["send", fb.as_str(), "Any news?"]).code, 3);
    cli.ok(&[
        "send",
        fb.as_str(),
        "Your order shipped",
        "--tag",
        "human_agent",
    ]);
    assert_eq!(
        rapport_tests::texts_with_prefix(&w1.store, fb.as_str(), "Your order shipped").len(),
        1
    );
    let r = cli.run(&["send", fb.as_str(), "x", "--tag", "whenever"]);
    assert_eq!(r.code, 2);
}

/// The ids of a `show --json` timeline, oldest first.
fn timeline_ids(show: &Value) -> Vec<String> {
    show["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let item = i.get("message").or_else(|| i.get("note")).unwrap();
            item["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn b1_show_limit_fetches_the_older_history_a_second_devices_snapshot_left_out() {
    let s = common::server(4, 400);
    // The chat with the longest history, as the server holds it.
    let w1 = s.srv.workspace("w1");
    let all = |chat: &rapport_core::model::ChatId| -> Vec<String> {
        w1.store
            .timeline_page(chat, None, 100_000)
            .unwrap()
            .items
            .iter()
            .map(|i| match i.id() {
                rapport_core::store::TimelineItemId::Message(m) => m.0,
                rapport_core::store::TimelineItemId::Note(n) => n.0,
            })
            .collect()
    };
    let (chat, history) = w1
        .store
        .chat_page(&ChatFilter::default(), None, 100)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| {
            let h = all(&r.chat.id);
            (r.chat.id, h)
        })
        .max_by_key(|(_, h)| h.len())
        .unwrap();
    assert!(history.len() > 60, "{} items", history.len());
    let id = chat.as_str();

    // A device that logs in now gets each chat's last 20 messages.
    let cli = Cli::new();
    cli.login(&s.srv.url());
    cli.ok(&["sync"]);
    let offline = cli
        .ok(&["show", id, "--json", "--offline", "--limit", "60"])
        .json();
    assert!(
        timeline_ids(&offline).len() < 60,
        "the snapshot holds only the latest messages"
    );

    // B1: asked for more, show fetches older pages until it has them...
    let r = cli.ok(&["show", id, "--json", "--limit", "60"]).json();
    assert_eq!(timeline_ids(&r), history[history.len() - 60..]);
    // ...or until the history starts.
    let r = cli.ok(&["show", id, "--json", "--limit", "5000"]).json();
    assert_eq!(timeline_ids(&r), history);
    // What it fetched stays in the store.
    let r = cli
        .ok(&["show", id, "--json", "--offline", "--limit", "5000"])
        .json();
    assert_eq!(timeline_ids(&r), history);
}

/// Issue 17: the console's commands on a SendPulse account directly (the
/// fake SendPulse over loopback, no Rapport server).
#[test]
fn s2_a2_a6_b1_e1_a8_d1_f7_the_commands_work_on_sendpulse_directly() {
    use rapport_tests::fake_sendpulse::FakeSendPulse;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeSendPulse::start("cli-sp-id", "cli-sp-secret"));
    let tg = fake.add_bot(rapport_core::sendpulse::api::App::Telegram, "Shop");
    let wa = fake.add_bot(rapport_core::sendpulse::api::App::Whatsapp, "Shop WA");
    let ann = fake.add_contact(&tg, "Ann Lee");
    let bob = fake.add_contact(&wa, "Bob Stone");
    for i in 0..5 {
        fake.add_incoming(&ann, &format!("hello {i}"));
    }
    fake.add_incoming(&bob, "hi");
    let cli = Cli::new();

    // A wrong secret is refused (and nothing is saved).
    let r = cli.run(&[
        "login",
        "--sendpulse",
        &fake.url,
        "--client-id",
        "cli-sp-id",
        "--client-secret",
        "nope",
        "--json",
    ]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(cli.run(&["sync"]).code, 4, "not logged in");

    let r = cli
        .ok(&[
            "login",
            "--sendpulse",
            &fake.url,
            "--client-id",
            "cli-sp-id",
            "--client-secret",
            "cli-sp-secret",
            "--operator-id",
            "7",
            "--json",
        ])
        .json();
    assert_eq!(r["workspace_id"], "sendpulse:cli-sp-id");
    let secrets = std::fs::read_to_string(cli.data.path().join("session.json")).unwrap();
    assert!(
        secrets.contains("cli-sp-secret"),
        "the secret is in the secret store"
    );
    let r = cli.ok(&["sync", "--json"]).json();
    assert_eq!(r["counts"]["all"], 2);

    let ids = |r: &Value| -> Vec<String> {
        r["chats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["chat"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (ann_chat, bob_chat) = (format!("sp-{ann}"), format!("sp-{bob}"));
    let r = cli.ok(&["chats", "--app", "whatsapp", "--json"]).json();
    assert_eq!(ids(&r), vec![bob_chat.clone()]);
    let r = cli.ok(&["search", "ann", "--json", "--offline"]).json();
    assert_eq!(ids(&r), vec![ann_chat.clone()]);

    // B1: show fetches the older history from SendPulse.
    let r = cli
        .ok(&["show", &ann_chat, "--json", "--limit", "10"])
        .json();
    assert_eq!(r["timeline"].as_array().unwrap().len(), 5, "{r}");

    // E1, A8, D1, F7 through the outbox to SendPulse.
    cli.ok(&["send", &ann_chat, "on it"]);
    assert_eq!(fake.outgoing_texts(&ann), vec!["on it".to_owned()]);
    cli.ok(&["open", &ann_chat]);
    assert!(fake.contact(&ann).opened);
    cli.ok(&["close", &ann_chat]);
    assert!(!fake.contact(&ann).opened);
    cli.ok(&["assign", &ann_chat, "me"]);
    assert_eq!(fake.contact(&ann).operator, Some(7));
    cli.ok(&["pause", &bob_chat, "start"]);
    assert_eq!(fake.contact(&bob).paused_minutes, Some(60));
    // What the connector does not offer is refused before it is queued,
    // with its code (exit 3).
    let r = cli.run(&["note", &ann_chat, "a note", "--json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error()["code"], "not_offered");
    // The reply shows once, as the agent's.
    let r = cli
        .ok(&["show", &ann_chat, "--json", "--limit", "20"])
        .json();
    let mine = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.to_string().contains("on it"))
        .count();
    assert_eq!(mine, 1, "{r}");
    cli.ok(&["logout"]);
    assert!(
        !std::fs::read_to_string(cli.data.path().join("session.json"))
            .unwrap_or_default()
            .contains("cli-sp-secret")
    );
    drop(fake);
}
