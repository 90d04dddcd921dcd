//! E2: attachments through the client and the outbox against the reference
//! server: sniffed by content (executables refused on both sides), each
//! app's size limit, an upload in parts with progress, an interrupted
//! upload that resumes without a second message, and a manual reply's
//! pause set in the core at once (E3).

use rapport_core::model::*;
use rapport_core::outbox::Draft;
use rapport_core::outbox::{UPLOAD_PART, UploadProgress};
use rapport_core::policy::Refusal;
use rapport_core::policy::attachment::MB;
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::sync::{Action, Backend, RapportBackend, SyncError, UploadRef};
use rapport_core::timers::ServerClock;
use rapport_core::{Client, ClientError, Store};
use rapport_tests::{PASSWORD, TempStore, TestServer, wait_until};
use std::sync::{Arc, Mutex};

/// A new `app` chat `id` in w1 whose only message is its subscriber's:
/// just now if `open` (the support window is open), else two days ago.
fn chat_on(srv: &TestServer, id: &str, app: App, open: bool) {
    let w1 = srv.workspace("w1");
    let now = rapport_server::hub::now();
    let mut chat = w1.store.chat(&ChatId::from("c1")).unwrap().unwrap().chat;
    chat.id = ChatId::from(id);
    chat.app = app;
    let at = if open {
        now
    } else {
        now.plus_millis(-2 * 86_400_000)
    };
    chat.last_inbound_at = Some(at);
    chat.last_activity = at;
    let inbound = rapport_tests::message(id, &format!("in-{id}"), Sender::Subscriber, "hi", at);
    srv.server
        .state
        .hub
        .emit(
            &w1,
            vec![
                EventPayload::ChatUpserted(chat),
                EventPayload::MessageUpserted(inbound),
            ],
        )
        .unwrap();
}

fn open_client(srv: &TestServer, dir: &std::path::Path, rt: &tokio::runtime::Runtime) -> Client {
    let c = srv.client(dir, rt, "u0@w1.test");
    srv.sync(&c);
    c
}

/// `len` bytes that sniff as a PNG image.
fn png(len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let mut rng = fastrand::Rng::with_seed(7);
    b.extend((b.len()..len).map(|_| rng.u8(..)));
    b
}

/// `len` bytes of a plain file (random: no magic number).
fn blob(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut b: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    b[0] = 0; // never a magic number by chance
    b
}

fn message(c: &Client, chat: &str, id: &MessageId) -> Option<Message> {
    match c
        .timeline_item(&ChatId::from(chat), &TimelineItemId::Message(id.clone()))
        .unwrap()
    {
        Some(TimelineItem::Message(m)) => Some(m),
        _ => None,
    }
}

/// Collects the client's upload progress on a thread of its own.
fn watch_progress(c: &Client, rt: &tokio::runtime::Runtime) -> Arc<Mutex<Vec<UploadProgress>>> {
    let seen: Arc<Mutex<Vec<UploadProgress>>> = Arc::default();
    let mut rx = c.upload_progress();
    let s = seen.clone();
    rt.spawn(async move {
        while let Ok(p) = rx.recv().await {
            s.lock().unwrap().push(p);
        }
    });
    seen
}

fn server_attachments(srv: &TestServer, chat: &str, name: &str) -> Vec<Message> {
    srv.workspace("w1")
        .store
        .messages_before(&ChatId::from(chat), None, u32::MAX)
        .unwrap()
        .0
        .into_iter()
        .filter(|m| matches!(&m.content, Content::Attachment(a) if a.name == name))
        .collect()
}

#[test]
fn e2_e3_e7_a_file_goes_up_in_parts_with_progress_and_becomes_one_message() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    chat_on(&srv, "x1", App::Whatsapp, true);
    let dir = tempfile::tempdir().unwrap();
    let c = open_client(&srv, dir.path(), &rt);
    let progress = watch_progress(&c, &rt);
    let file = png(3 * MB as usize / 2);

    let before = rapport_server::hub::now();
    let id = c
        .send(
            &ChatId::from("x1"),
            Draft::File {
                name: "receipt.png",
                bytes: &file,
                caption: Some("Your receipt"),
            },
            None,
        )
        .unwrap();
    // The echo at once: pending, typed from the bytes.
    let echo = message(&c, "x1", &id).expect("echo");
    assert_eq!(echo.delivery, Some(Delivery::Pending));
    let Content::Attachment(a) = &echo.content else {
        panic!("{:?}", echo.content)
    };
    assert_eq!(
        (a.mime.as_str(), a.media, a.size_bytes),
        ("image/png", MediaKind::Image, file.len() as u64)
    );
    // E3 in the core: the pause starts with the queued reply, not later.
    let paused = c.chat(&ChatId::from("x1")).unwrap().unwrap().chat;
    assert!(
        paused
            .paused_until
            .is_some_and(|u| u.0 >= before.0 + 59 * 60_000),
        "{:?}",
        paused.paused_until
    );

    wait_until("the server's copy", 30, || {
        message(&c, "x1", &id).is_some_and(|m| m.delivery != Some(Delivery::Pending))
    });
    let sent = server_attachments(&srv, "x1", "receipt.png");
    assert_eq!(sent.len(), 1, "one message");
    assert_eq!(sent[0].id, id, "the echo became the message");
    let Content::Attachment(a) = &sent[0].content else {
        unreachable!()
    };
    assert_eq!(a.caption.as_deref(), Some("Your receipt"));
    wait_until("the outbox empties", 30, || {
        c.unsent_commands().unwrap() == 0
    });

    // Progress: one report per part, never backwards, ending at the size.
    // (The reports reach this test through a task of its own runtime, which
    // a loaded machine may run after the outbox emptied.)
    let parts = file.len().div_ceil(UPLOAD_PART);
    wait_until("every part's report", 10, || {
        progress.lock().unwrap().len() > parts
    });
    let seen = progress.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        parts + 1,
        "the opening report, then one per part"
    );
    assert!(seen.windows(2).all(|w| w[0].sent_bytes < w[1].sent_bytes));
    assert_eq!(seen[0].sent_bytes, 0);
    let last = seen.last().unwrap();
    assert_eq!(
        (last.sent_bytes, last.total_bytes, last.message_id.as_ref()),
        (file.len() as u64, file.len() as u64, Some(&id))
    );

    // The link in the message serves the same bytes.
    let url = format!("{}{}", srv.url(), a.url.as_deref().unwrap());
    let token = login_token(&rt, &srv);
    let got = rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    assert!(got[..] == file[..], "the downloaded file differs");
}

fn login_token(rt: &tokio::runtime::Runtime, srv: &TestServer) -> String {
    rapport_core::sync::install_crypto();
    rt.block_on(async {
        let r: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/login", srv.url()))
            .json(&serde_json::json!({"email": "u1@w1.test", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_owned()
    })
}

#[test]
fn e2_e7_an_interrupted_upload_resumes_where_it_stopped_and_sends_one_message() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    chat_on(&srv, "x2", App::Telegram, true);
    let dir = tempfile::tempdir().unwrap();
    let file = blob(12 * UPLOAD_PART + 1234, 3);
    let faults = &srv.server.state.faults;
    // Slow parts, so the app is "killed" mid-upload.
    faults.set_latency_ms(40);

    let c = open_client(&srv, dir.path(), &rt);
    let progress = watch_progress(&c, &rt);
    let id = c
        .send(
            &ChatId::from("x2"),
            Draft::File {
                name: "contract.bin",
                bytes: &file,
                caption: None,
            },
            Some("resume-1"),
        )
        .unwrap();
    wait_until("a third of the file", 30, || {
        progress
            .lock()
            .unwrap()
            .last()
            .is_some_and(|p| p.sent_bytes >= 4 * UPLOAD_PART as u64)
    });
    // The app dies: its runtime and connections go, the store stays.
    drop(c);
    let had = progress.lock().unwrap().last().unwrap().sent_bytes;
    assert!(had < file.len() as u64, "stopped before the end");
    assert!(server_attachments(&srv, "x2", "contract.bin").is_empty());

    // The next start, through a flaky network: 503s and dropped answers.
    faults.set_latency_ms(2);
    faults.fail_next(2);
    faults.drop_next(2);
    let c = open_client(&srv, dir.path(), &rt);
    let progress = watch_progress(&c, &rt);
    wait_until("the message", 60, || {
        message(&c, "x2", &id).is_some_and(|m| m.delivery != Some(Delivery::Pending))
    });
    let resumed = progress.lock().unwrap().clone();
    assert!(
        resumed[0].sent_bytes >= had,
        "resumed at {} of {}, after {had} had gone up",
        resumed[0].sent_bytes,
        file.len()
    );
    assert_eq!(
        server_attachments(&srv, "x2", "contract.bin")
            .iter()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>(),
        vec![id],
        "exactly one message"
    );
    // Every byte went up once: the parts tile the file.
    let db = rusqlite::Connection::open(srv.dir.path().join("server.db")).unwrap();
    let (parts, bytes): (i64, i64) = db
        .query_row(
            "SELECT count(*), sum(length(data)) FROM upload_parts WHERE id = 'up-resume-1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(bytes, file.len() as i64);
    assert_eq!(parts as usize, file.len().div_ceil(UPLOAD_PART));
    wait_until("the outbox empties", 30, || {
        c.unsent_commands().unwrap() == 0
    });
}

#[test]
fn e2_executables_sizes_and_the_window_are_refused_before_anything_is_queued() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    chat_on(&srv, "x1", App::Viber, true);
    chat_on(&srv, "x2", App::Whatsapp, false);
    chat_on(&srv, "x3", App::Telegram, true);
    let dir = tempfile::tempdir().unwrap();
    let c = open_client(&srv, dir.path(), &rt);
    let refused = |chat: &str, name: &str, bytes: &[u8]| match c.send(
        &ChatId::from(chat),
        Draft::File {
            name,
            bytes,
            caption: None,
        },
        None,
    ) {
        Err(ClientError::Refused(r)) => r,
        other => panic!("{chat} {name}: {other:?}"),
    };

    let mut pe = b"MZ".to_vec();
    pe.resize(4096, 0);
    assert_eq!(
        refused("x3", "cat.jpg", &pe),
        Refusal::Executable { kind: "pe".into() }
    );
    assert_eq!(
        refused("x3", "install.sh", b"#!/bin/sh\necho hi\n"),
        Refusal::Executable {
            kind: "script".into()
        }
    );
    assert_eq!(refused("x3", "empty.txt", b""), Refusal::FileEmpty);
    // Viber takes images up to 1 MB; the same bytes as a file are fine.
    let big = png(MB as usize + 1);
    assert_eq!(
        refused("x1", "big.png", &big),
        Refusal::AttachmentTooLarge {
            limit_bytes: MB,
            actual_bytes: MB + 1
        }
    );
    // Over 20 MB on any app.
    assert!(matches!(
        refused("x3", "huge.bin", &blob(20 * MB as usize + 1, 1)),
        Refusal::AttachmentTooLarge { .. }
    ));
    // E4: WhatsApp's window closed two days ago.
    assert!(matches!(
        refused("x2", "doc.pdf", b"%PDF-1.7\n"),
        Refusal::WindowClosed { .. }
    ));
    // A caption is a text: E1's limits.
    let long = "x".repeat(5000);
    assert!(matches!(
        c.send(
            &ChatId::from("x3"),
            Draft::File {
                name: "a.png",
                bytes: &png(100),
                caption: Some(&long)
            },
            None
        ),
        Err(ClientError::Refused(Refusal::TextTooLong { .. }))
    ));
    assert_eq!(c.unsent_commands().unwrap(), 0, "nothing queued");
}

#[test]
fn e2_the_server_refuses_what_a_client_should_not_have_sent() {
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(10, 40));
    chat_on(&srv, "x3", App::Telegram, true);
    let backend =
        Arc::new(RapportBackend::new(&srv.url(), Arc::new(ServerClock::default())).unwrap());
    rt.block_on(backend.login("u0@w1.test", PASSWORD)).unwrap();
    let sha = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    let send = |upload: &UploadRef, bytes: &[u8], key: &str| -> Result<(), String> {
        rt.block_on(async {
            let at = backend.upload_open(upload).await.map_err(code)?;
            if !bytes.is_empty() {
                backend
                    .upload_part(&upload.id, at, bytes.to_vec())
                    .await
                    .map_err(code)?;
            }
            let action = Action::SendAttachment {
                chat_id: ChatId::from("x3"),
                upload: upload.clone(),
                caption: None,
                message_id: None,
            };
            backend.run(&action, key).await.map(|_| ()).map_err(code)
        })
    };
    let up = |id: &str, bytes: &[u8]| UploadRef {
        id: id.into(),
        name: "photo.jpg".into(),
        size_bytes: bytes.len() as u64,
        sha256: sha(bytes),
    };

    // An ELF named like a photo: the server sniffs too.
    let mut elf = b"\x7FELF\x02\x01\x01".to_vec();
    elf.resize(256, 0);
    assert_eq!(
        send(&up("u-elf", &elf), &elf, "k1"),
        Err("executable".into())
    );
    // Bytes that do not match the announced hash.
    let mut lie = up("u-lie", &png(1000));
    lie.sha256 = sha(b"something else");
    assert_eq!(send(&lie, &png(1000), "k2"), Err("upload_corrupt".into()));
    // Half a file.
    let whole = png(2000);
    let half = UploadRef {
        size_bytes: 4000,
        ..up("u-half", &whole)
    };
    assert_eq!(send(&half, &whole, "k3"), Err("upload_incomplete".into()));
    // A part at the wrong offset, and an id reused for another file.
    rt.block_on(async {
        let u = up("u-off", &png(3000));
        backend.upload_open(&u).await.unwrap();
        let e = backend.upload_part(&u.id, 10, png(10)).await.unwrap_err();
        assert_eq!(code(e), "upload_offset");
        let other = up("u-off", &png(3001));
        assert_eq!(
            code(backend.upload_open(&other).await.unwrap_err()),
            "upload_conflict"
        );
    });
    assert!(server_attachments(&srv, "x3", "photo.jpg").is_empty());
    // A good one goes.
    assert_eq!(send(&up("u-ok", &png(5000)), &png(5000), "k4"), Ok(()));
    assert_eq!(server_attachments(&srv, "x3", "photo.jpg").len(), 1);
}

fn code(e: SyncError) -> String {
    match e {
        SyncError::Refused { code, .. } => code.as_str().into(),
        other => format!("{other:?}"),
    }
}

#[test]
fn e2_e7_a_files_bytes_leave_the_store_with_its_command() {
    let t = TempStore::new();
    let mut ev = rapport_tests::Events::default();
    t.apply(&[ev.chat("x1", App::Telegram, "Ana")]);
    let action = |n: &str| Action::SendAttachment {
        chat_id: ChatId::from("x1"),
        upload: UploadRef {
            id: format!("up-{n}"),
            name: "a.bin".into(),
            size_bytes: 3,
            sha256: String::new(),
        },
        caption: None,
        message_id: None,
    };
    let files = |s: &Store| {
        rusqlite::Connection::open(s.path())
            .unwrap()
            .query_row("SELECT count(*) FROM outbox_files", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
    };
    let now = Timestamp(1_800_000_000_000);
    t.store
        .enqueue_with_file(&action("a"), "a", None, Some(b"abc"), now)
        .unwrap();
    t.store
        .enqueue_with_file(&action("b"), "b", None, Some(b"xyz"), now)
        .unwrap();
    assert_eq!(files(&t.store), 2);
    // Read in chunks, from any offset.
    assert_eq!(
        t.store.outbox_file_chunk("a", 1, 10).unwrap(),
        Some(b"bc".to_vec())
    );
    assert_eq!(t.store.outbox_file_chunk("a", 3, 10).unwrap(), Some(vec![]));
    assert_eq!(t.store.outbox_file_chunk("nope", 0, 10).unwrap(), None);
    let queued = t.store.outbox().unwrap();
    t.store.outbox_sent(queued[0].id).unwrap();
    t.store
        .outbox_failed(queued[1].id, "window_closed", "closed")
        .unwrap();
    assert_eq!(files(&t.store), 1, "a failed command keeps its file");
    t.store.outbox_discard(queued[1].id).unwrap();
    assert_eq!(files(&t.store), 0);
}
