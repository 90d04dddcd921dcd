//! rapport-sendpulse against the fake SendPulse over loopback (issue 17):
//! tokens, 401/429/5xx, pagination, each command's request shape, the
//! contract test (every request the client made validates against
//! docs/sendpulse/openapi.yml) and webhook bodies emitted by the fake.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport_sendpulse::webhook::{self, Skip, Title};
use rapport_sendpulse::{
    App, Client, Config, Credentials, Error, FileKind, MessageTag, Outgoing, file_shape,
};
use rapport_tests::fake_sendpulse::{FakeSendPulse, Fault, Recorded};
use serde_json::{Value, json};

const ID: &str = "client-id-1";
const SECRET: &str = "client-secret-very-long-1";

fn client_for(fake: &FakeSendPulse, page: u32) -> Client {
    let mut cfg = Config::new(&fake.url);
    cfg.backoff_base = Duration::from_millis(1);
    cfg.backoff_max = Duration::from_secs(2);
    cfg.max_attempts = 4;
    cfg.page_size = page;
    Client::new(cfg, Credentials::new(ID, SECRET)).expect("client")
}

async fn fake_with_contact(app: App) -> (FakeSendPulse, String, String) {
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let bot = fake.add_bot(app, "Shop");
    let c = fake.add_contact(&bot, "Ann");
    (fake, bot, c)
}

// ---- tokens ----------------------------------------------------------------

#[tokio::test]
async fn s5_token_fetched_once_then_renewed_when_it_expires() {
    let (fake, _bot, _c) = fake_with_contact(App::Telegram).await;
    let client = client_for(&fake, 10);
    client.bots(App::Telegram).await.unwrap();
    client.bots(App::Telegram).await.unwrap();
    assert_eq!(client.stats().token_fetches, 1, "a valid token is reused");

    // Tokens that expire at once: every call renews first, none meets a 401.
    fake.with(|s| s.token_life_s = 0);
    let short = client_for(&fake, 10);
    short.bots(App::Telegram).await.unwrap();
    short.bots(App::Telegram).await.unwrap();
    assert_eq!(short.stats().token_fetches, 2);
    assert!(fake.requests().iter().all(|r| r.status != 401));
}

#[tokio::test]
async fn s5_a_401_refreshes_the_token_exactly_once() {
    let (fake, _bot, _c) = fake_with_contact(App::Telegram).await;
    let client = client_for(&fake, 10);
    client.bots(App::Telegram).await.unwrap();
    fake.expire_tokens();
    let bots = client.bots(App::Telegram).await.unwrap();
    assert_eq!(bots.len(), 1);
    assert_eq!(client.stats().token_fetches, 2);

    // A 401 that a fresh token does not cure: one refresh, then a typed error.
    fake.fail_next("/telegram/bots", Fault::Status(401, None));
    fake.fail_next("/telegram/bots", Fault::Status(401, None));
    let before = fake.count("/telegram/bots");
    assert_eq!(client.bots(App::Telegram).await, Err(Error::Unauthorized));
    assert_eq!(fake.count("/telegram/bots") - before, 2);
    assert_eq!(client.stats().token_fetches, 3);
}

#[tokio::test]
async fn s5_wrong_credentials_are_a_typed_error() {
    let (fake, _bot, _c) = fake_with_contact(App::Telegram).await;
    let client = Client::new(Config::new(&fake.url), Credentials::new(ID, "wrong")).unwrap();
    assert_eq!(
        client.bots(App::Telegram).await,
        Err(Error::TokenRefused { status: 401 })
    );
}

// ---- backoff ----------------------------------------------------------------

#[tokio::test]
async fn backoff_on_429_honours_retry_after_and_is_bounded() {
    let (fake, _bot, _c) = fake_with_contact(App::Whatsapp).await;
    let client = client_for(&fake, 10);
    client.bots(App::Whatsapp).await.unwrap();
    fake.fail_next("/whatsapp/bots", Fault::Status(429, Some(1)));
    client.bots(App::Whatsapp).await.unwrap();
    assert_eq!(client.stats().waits, vec![Duration::from_secs(1)]);

    // Without Retry-After: the doubling backoff, then a typed error after
    // max_attempts requests.
    for _ in 0..4 {
        fake.fail_next("/whatsapp/bots", Fault::Status(429, None));
    }
    let before = fake.count("/whatsapp/bots");
    assert_eq!(
        client.bots(App::Whatsapp).await,
        Err(Error::RateLimited { attempts: 4 })
    );
    assert_eq!(fake.count("/whatsapp/bots") - before, 4);
    let waits = client.stats().waits;
    assert_eq!(
        &waits[1..],
        &[
            Duration::from_millis(1),
            Duration::from_millis(2),
            Duration::from_millis(4)
        ]
    );
}

#[tokio::test]
async fn backoff_on_5xx_retries_reads_and_a_429_on_a_send_is_retried() {
    let (fake, _bot, c) = fake_with_contact(App::Telegram).await;
    let client = client_for(&fake, 10);
    fake.fail_next("/telegram/chats/messages", Fault::Status(500, None));
    fake.fail_next("/telegram/chats/messages", Fault::Status(503, None));
    fake.add_incoming(&c, "hello");
    let history = client.messages_all(App::Telegram, &c).await.unwrap();
    assert_eq!(history.len(), 1);

    // A 429 is a refusal before anything was done: a send is retried.
    fake.fail_next("/contacts/sendText", Fault::Status(429, None));
    client
        .send(App::Telegram, &c, &Outgoing::Text("reply".into()))
        .await
        .unwrap();
    assert_eq!(fake.outgoing_texts(&c), vec!["reply"]);
}

#[tokio::test]
async fn e7_a_send_whose_answer_is_lost_is_uncertain_and_never_repeated() {
    let (fake, _bot, c) = fake_with_contact(App::Telegram).await;
    let client = client_for(&fake, 10);

    // Accepted, then the answer dropped: the message exists once.
    fake.fail_next("/contacts/sendText", Fault::DropAfterAccept);
    let r = client
        .send(App::Telegram, &c, &Outgoing::Text("one".into()))
        .await;
    assert!(matches!(r, Err(Error::Uncertain(_))), "{r:?}");
    assert_eq!(fake.outgoing_texts(&c), vec!["one"]);
    assert_eq!(fake.count("/contacts/sendText"), 1);

    // A 500 on a send may mean done or not: not repeated either.
    fake.fail_next("/contacts/sendText", Fault::Status(500, None));
    let r = client
        .send(App::Telegram, &c, &Outgoing::Text("two".into()))
        .await;
    assert!(matches!(r, Err(Error::Uncertain(_))), "{r:?}");
    assert_eq!(fake.count("/contacts/sendText"), 2);

    // The caller finds the first one in the history before sending again.
    let history = client.messages_all(App::Telegram, &c).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].data["text"], "one");
}

// ---- pagination ---------------------------------------------------------------

#[tokio::test]
async fn a1_dialogs_are_paged_with_search_after_to_the_end() {
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let tg = fake.add_bot(App::Telegram, "tg");
    let wa = fake.add_bot(App::Whatsapp, "wa");
    let mut ids = Vec::new();
    for i in 0..25 {
        let c = fake.add_contact(if i % 2 == 0 { &tg } else { &wa }, &format!("n{i}"));
        fake.add_incoming(&c, "hi");
        ids.push(c);
    }
    let client = client_for(&fake, 10);
    let dialogs = client.dialogs_all().await.unwrap();
    assert_eq!(dialogs.len(), 25);
    let got: Vec<&str> = dialogs.iter().map(|d| d.contact.id.as_str()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(got, newest_first, "newest activity first, none twice");
    assert_eq!(dialogs[0].app(), Some(App::Telegram));
    assert_eq!(dialogs[1].app(), Some(App::Whatsapp));
    let pages: Vec<Recorded> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/chatbots/dialogs")
        .collect();
    assert_eq!(pages.len(), 3);
    assert!(!pages[0].query.iter().any(|(k, _)| k == "search_after"));
    assert!(pages[1].query.iter().any(|(k, _)| k == "search_after"));
}

#[tokio::test]
async fn b1_chats_and_history_are_paged_to_the_end() {
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let bot = fake.add_bot(App::Viber, "v");
    let mut contacts = Vec::new();
    for i in 0..23 {
        contacts.push(fake.add_contact(&bot, &format!("c{i}")));
    }
    let mut sent = Vec::new();
    for i in 0..25 {
        sent.push(fake.add_incoming(&contacts[0], &format!("m{i}")));
    }
    let client = client_for(&fake, 10);
    let chats = client.chats_all(App::Viber, &bot).await.unwrap();
    assert_eq!(chats.len(), 23);
    let distinct: BTreeSet<&str> = chats.iter().map(|c| c.contact.id.as_str()).collect();
    assert_eq!(distinct.len(), 23);
    assert_eq!(fake.count("/viber/chatbots/chats"), 3);

    let history = client.messages_all(App::Viber, &contacts[0]).await.unwrap();
    let got: Vec<&str> = history.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, sent.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(history[0].direction, rapport_sendpulse::Direction::In);
    assert_eq!(
        history[0].status,
        Some(rapport_sendpulse::MessageStatus::New)
    );
}

// ---- commands ------------------------------------------------------------------

/// A loopback server that answers every GET with `bytes` (the file a send
/// names by URL); its base URL.
async fn file_server(bytes: Vec<u8>) -> String {
    let app = axum::Router::new().fallback(move || {
        let b = bytes.clone();
        async move { b }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

#[tokio::test]
async fn e5_a_whatsapp_bots_templates_are_listed_with_language_and_status() {
    let (fake, bot, _c) = fake_with_contact(App::Whatsapp).await;
    fake.add_template(&bot, "order_update", "en_US", "APPROVED", "Shipped {{1}}");
    fake.add_template(&bot, "promo", "de", "PENDING", "Angebot");
    let other = fake.add_bot(App::Whatsapp, "Other");
    fake.add_template(&other, "elsewhere", "en", "APPROVED", "x");
    let client = client_for(&fake, 10);
    let list = client.whatsapp_templates(&bot).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].name.as_str(), list[0].language.as_str()),
        ("order_update", "en_US")
    );
    assert!(list[0].approved() && !list[1].approved());
    assert_eq!(list[0].body_text(), Some("Shipped {{1}}"));
}

#[tokio::test]
async fn e2_each_apps_file_send_is_downloaded_by_the_fake() {
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let base = file_server(bytes.clone()).await;
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let client = client_for(&fake, 10);
    for (app, kind, caption) in [
        (App::Telegram, FileKind::Image, Some("look")),
        (App::Telegram, FileKind::Document, None),
        (App::Whatsapp, FileKind::Document, Some("invoice")),
        (App::Whatsapp, FileKind::Audio, None),
        (App::Messenger, FileKind::Image, None),
        (App::Messenger, FileKind::Video, None),
        (App::Instagram, FileKind::Image, None),
        (App::Viber, FileKind::Image, None),
        (App::Livechat, FileKind::Document, None),
    ] {
        let bot = fake.add_bot(app, "b");
        let c = fake.add_contact(&bot, "x");
        let url = format!("{base}/f/{app:?}-{kind:?}");
        let out = Outgoing::File {
            kind,
            url: url.clone(),
            caption: caption.map(str::to_owned),
        };
        client
            .send(app, &c, &out)
            .await
            .unwrap_or_else(|e| panic!("{app:?} {kind:?}: {e}"));
        let got = fake.with(|s| s.fetched.last().cloned()).unwrap();
        assert_eq!(
            (got.contact_id.as_str(), got.url.as_str()),
            (c.as_str(), url.as_str())
        );
        assert!(got.bytes == bytes, "{app:?}: the file as served");
        // The history names it by its URL (the lost-send match).
        let h = client.messages_all(app, &c).await.unwrap();
        assert_eq!(
            rapport_sendpulse::map::send_key(&h[0].data),
            rapport_sendpulse::map::file_key(&url)
        );
    }
    // What an app's send cannot take is a typed error, nothing sent.
    assert!(file_shape(App::Viber, FileKind::Document, false).is_err());
    assert!(file_shape(App::Messenger, FileKind::Image, true).is_err());
    let bot = fake.add_bot(App::Instagram, "b");
    let c = fake.add_contact(&bot, "x");
    let video = Outgoing::File {
        kind: FileKind::Video,
        url: format!("{base}/v"),
        caption: None,
    };
    let before = fake.requests().len();
    assert!(matches!(
        client.send(App::Instagram, &c, &video).await,
        Err(Error::Decode(_))
    ));
    assert_eq!(fake.requests().len(), before);
    // A URL SendPulse cannot download: the send is refused.
    let gone = Outgoing::File {
        kind: FileKind::Image,
        url: "http://127.0.0.1:1/nothing".into(),
        caption: None,
    };
    assert_eq!(
        client.send(App::Instagram, &c, &gone).await.unwrap_err(),
        Error::Refused { status: 400 }
    );
}

#[tokio::test]
async fn e1_e5_each_apps_send_shape_is_accepted() {
    let fake = FakeSendPulse::start(ID, SECRET).await;
    let client = client_for(&fake, 10);
    for app in App::ALL {
        let bot = fake.add_bot(app, "b");
        let c = fake.add_contact(&bot, "x");
        let receipt = client
            .send(app, &c, &Outgoing::Text(format!("to {app:?}")))
            .await
            .unwrap_or_else(|e| panic!("{app:?}: {e}"));
        assert!(receipt.message_id.is_some());
        assert_eq!(fake.outgoing_texts(&c), vec![format!("to {app:?}")]);
        if app == App::Whatsapp {
            let t = Outgoing::WhatsappTemplate {
                name: "follow_up".into(),
                language: "en".into(),
                components: vec![],
            };
            client.send(app, &c, &t).await.unwrap();
            assert_eq!(fake.outgoing_texts(&c)[1], "template:follow_up");
        }
        if app == App::Messenger {
            let t = Outgoing::MessengerTagged {
                tag: MessageTag::HumanAgent,
                text: "late answer".into(),
            };
            client.send(app, &c, &t).await.unwrap();
            let body = fake.requests().last().unwrap().body.clone().unwrap();
            assert_eq!(body["message"]["tag"], "HUMAN_AGENT");
        }
    }
}

#[tokio::test]
async fn a8_b10_d1_f5_f6_f7_f8_commands_change_sendpulses_state() {
    let (fake, _bot, c) = fake_with_contact(App::Instagram).await;
    let client = client_for(&fake, 10);
    let app = App::Instagram;
    fake.add_incoming(&c, "a");
    fake.add_incoming(&c, "b");

    assert_eq!(client.mark_read(app, &c).await.unwrap(), 2);
    assert_eq!(fake.contact(&c).unread, 0);
    client.open_chat(app, &c).await.unwrap();
    assert!(fake.contact(&c).opened);
    client.close_chat(app, &c).await.unwrap();
    assert!(!fake.contact(&c).opened);
    client.assign(app, &c, 42).await.unwrap();
    assert_eq!(fake.contact(&c).operator, Some(42));
    client.unassign(app, &c).await.unwrap();
    assert_eq!(fake.contact(&c).operator, None);

    assert_eq!(client.pause_get(app, &c).await.unwrap(), None);
    client.pause_set(app, &c, 60).await.unwrap();
    assert_eq!(client.pause_get(app, &c).await.unwrap(), Some(60));
    client.pause_delete(app, &c).await.unwrap();
    assert_eq!(client.pause_get(app, &c).await.unwrap(), None);

    client
        .set_variable(app, &c, "email", json!("ann@example.com"))
        .await
        .unwrap();
    client
        .add_tags(app, &c, &["vip".into(), "new".into()])
        .await
        .unwrap();
    client.remove_tag(app, &c, "new").await.unwrap();
    let card = client.contact(app, &c).await.unwrap();
    assert_eq!(card.tags, vec!["vip"]);
    assert_eq!(card.variables["email"], "ann@example.com");
    assert_eq!(card.status, Some(rapport_sendpulse::ContactStatus::Active));

    client.run_flow(app, &c, "flow-1", None).await.unwrap();
    assert_eq!(
        fake.with(|s| s.flows_run.clone()),
        vec![(c.clone(), "flow-1".into())]
    );
    client.disable_contact(app, &c).await.unwrap();
    assert_eq!(
        client.contact(app, &c).await.unwrap().status,
        Some(rapport_sendpulse::ContactStatus::Disabled)
    );
    client.enable_contact(app, &c).await.unwrap();
    assert_eq!(fake.contact(&c).status, 1);

    // A contact SendPulse does not know: refused, typed.
    assert_eq!(
        client.open_chat(app, "nobody").await,
        Err(Error::Refused { status: 400 })
    );
}

// ---- contract -------------------------------------------------------------------

#[path = "support/sendpulse_contract.rs"]
mod contract;
use contract::Contract;

/// Drives every operation of the client against one fake.
async fn every_operation(fake: &FakeSendPulse, client: &Client) {
    let files = file_server(b"%PDF-1.4 a file".to_vec()).await;
    for app in App::ALL {
        let bot = fake.add_bot(app, "b");
        let c = fake.add_contact(&bot, "x");
        fake.add_incoming(&c, "hi");
        client.bots(app).await.unwrap();
        fake.add_flow(&bot, "Welcome", true);
        assert_eq!(client.flows_all(app, &bot).await.unwrap().len(), 1);
        client.chats_all(app, &bot).await.unwrap();
        client.messages_all(app, &c).await.unwrap();
        client.contact(app, &c).await.unwrap();
        client
            .send(app, &c, &Outgoing::Text("t".into()))
            .await
            .unwrap();
        client.mark_read(app, &c).await.unwrap();
        client.open_chat(app, &c).await.unwrap();
        client.close_chat(app, &c).await.unwrap();
        client.assign(app, &c, 7).await.unwrap();
        client.unassign(app, &c).await.unwrap();
        client.pause_set(app, &c, 60).await.unwrap();
        client.pause_get(app, &c).await.unwrap();
        client.pause_delete(app, &c).await.unwrap();
        client.set_variable(app, &c, "v", json!(1)).await.unwrap();
        client.add_tags(app, &c, &["t".into()]).await.unwrap();
        client.remove_tag(app, &c, "t").await.unwrap();
        client
            .run_flow(app, &c, "f", Some(json!({"k": "v"})))
            .await
            .unwrap();
        client.disable_contact(app, &c).await.unwrap();
        client.enable_contact(app, &c).await.unwrap();
        // C1 notes and I1 statistics.
        let n = client.create_note(app, &bot, &c, "n1").await.unwrap();
        let n = n.expect("the note's id");
        client.update_note(app, &bot, &c, &n, "n2").await.unwrap();
        let notes = client.notes(app, &bot, &c).await.unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(rapport_sendpulse::map::text_of(&notes[0].data), "n2");
        client.delete_note(app, &bot, &c, &n).await.unwrap();
        assert!(client.notes(app, &bot, &c).await.unwrap().is_empty());
        let st = client.bot_statistics(app, &bot).await.unwrap();
        assert_eq!(
            (st.subscribed_total, st.subscribed_active, st.outgoing_total),
            fake.bot_statistics(&bot)
        );
        assert!(st.subscribed_total == 1 && st.outgoing_total >= 1, "{st:?}");
        if app == App::Whatsapp {
            fake.add_template(&bot, "n", "en", "APPROVED", "hello");
            assert_eq!(client.whatsapp_templates(&bot).await.unwrap().len(), 1);
            let t = Outgoing::WhatsappTemplate {
                name: "n".into(),
                language: "en".into(),
                components: vec![json!({"type": "body"})],
            };
            client.send(app, &c, &t).await.unwrap();
        }
        // E2: every kind each app's send takes, with a caption where it can.
        for kind in [
            FileKind::Image,
            FileKind::Video,
            FileKind::Audio,
            FileKind::Document,
        ] {
            for caption in [false, true] {
                if file_shape(app, kind, caption).is_err() {
                    continue;
                }
                let f = Outgoing::File {
                    kind,
                    url: format!("{files}/{kind:?}"),
                    caption: caption.then(|| "c".to_owned()),
                };
                client.send(app, &c, &f).await.unwrap();
            }
        }
        if app == App::Telegram {
            let m = fake.add_incoming(&c, "react to me");
            client.telegram_react(&c, &m, "👍").await.unwrap();
            assert_eq!(fake.with(|s| s.reactions[&m].clone()), "👍");
        }
        if app == App::Messenger {
            let t = Outgoing::MessengerTagged {
                tag: MessageTag::HumanAgent,
                text: "x".into(),
            };
            client.send(app, &c, &t).await.unwrap();
        }
    }
    client.dialogs_all().await.unwrap();
}

#[tokio::test]
async fn contract_every_request_of_the_client_validates_against_the_subset() {
    let contract = Contract::load();
    let fake = FakeSendPulse::start(ID, SECRET).await;
    // Small pages, so the paging parameters are exercised too.
    let client = client_for(&fake, 2);
    every_operation(&fake, &client).await;
    let requests = fake.requests();
    let mut used = BTreeSet::new();
    for r in &requests {
        match contract.validate(r) {
            Ok(id) => {
                used.insert(id);
            }
            Err(e) => panic!("request outside the contract: {e}\n{r:?}"),
        }
    }
    // Every operation of the document is one the client really uses.
    let all: BTreeSet<String> = contract
        .operations()
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let unused: Vec<&String> = all.difference(&used).collect();
    assert!(unused.is_empty(), "operations never exercised: {unused:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.query.iter().any(|(k, _)| k == "search_after"))
    );
}

#[tokio::test]
async fn contract_validator_rejects_requests_outside_the_subset() {
    let contract = Contract::load();
    let rec = |method: &str, path: &str, query: &[(&str, &str)], body: Option<Value>| Recorded {
        method: method.into(),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
        status: 200,
    };
    let good = rec(
        "POST",
        "/viber/chatbots/contacts/send",
        &[],
        Some(json!({"contact_id": "c", "messages": [{"type": "text", "text": {"text": "x"}}]})),
    );
    assert_eq!(contract.validate(&good), Ok("viberSend".into()));
    let wrong = [
        rec(
            "POST",
            "/tiktok/contacts/openChat",
            &[],
            Some(json!({"contact_id": "c"})),
        ),
        rec("GET", "/telegram/contacts/openChat", &[], None),
        rec("POST", "/telegram/contacts/openChat", &[], Some(json!({}))),
        rec("POST", "/telegram/contacts/openChat", &[], None),
        rec("GET", "/telegram/chats", &[("size", "10")], None),
        rec(
            "GET",
            "/telegram/chats",
            &[("bot_id", "b"), ("size", "ten")],
            None,
        ),
        rec("GET", "/chatbots/dialogs", &[("order", "sideways")], None),
        rec("GET", "/chatbots/dialogs", &[("page", "2")], None),
        rec(
            "POST",
            "/telegram/contacts/operators/assign",
            &[],
            Some(json!({"contact_id": "c", "operator_id": "seven"})),
        ),
        rec(
            "POST",
            "/messenger/contacts/send",
            &[],
            Some(
                json!({"contact_id": "c", "message": {"type": "MESSAGE_TAG", "content_type": "message", "tag": "ANY"}}),
            ),
        ),
        rec(
            "POST",
            "/whatsapp/contacts/send",
            &[],
            Some(json!({"contact_id": "c", "message": {"type": "text", "text": "flat"}})),
        ),
        rec(
            "POST",
            "/telegram/contacts/sendText",
            &[],
            Some(json!({"contact_id": "c", "text": "x", "extra": 1})),
        ),
    ];
    for r in &wrong {
        assert!(contract.validate(r).is_err(), "accepted: {r:?}");
    }
}

// ---- webhooks ----------------------------------------------------------------------

/// A loopback receiver that keeps every body posted to it.
async fn receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let keep = bodies.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |b: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(b.to_vec());
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.ok() });
    (url, bodies)
}

#[tokio::test]
async fn webhooks_emitted_as_arrays_with_duplicates_out_of_order_and_unknown_titles() {
    let (fake, bot, c) = fake_with_contact(App::Telegram).await;
    let (url, bodies) = receiver().await;
    let m1 = fake.add_incoming(&c, "first");
    let m2 = fake.add_incoming(&c, "second");
    let i1 = fake.message_item(&m1);
    let i2 = fake.message_item(&m2);
    let unknown = json!({"title": "new_feature_event", "service": "telegram",
        "bot": {"id": bot}, "contact": {"id": c}, "date": 1});
    // Out of order, a duplicate, an unknown title; then the duplicate again alone.
    assert_eq!(
        fake.emit_webhook(&url, &[i2.clone(), unknown, i1.clone(), i2.clone()])
            .await,
        200
    );
    assert_eq!(fake.emit_webhook(&url, &[i1]).await, 200);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);

    let first = webhook::parse(&bodies[0]).unwrap();
    assert_eq!(
        first.skipped,
        vec![(1, Skip::UnknownTitle("new_feature_event".into()))]
    );
    assert!(
        first
            .items
            .iter()
            .all(|i| i.title == Title::IncomingMessage)
    );
    let order: Vec<&str> = first
        .items
        .iter()
        .filter_map(|i| i.message_id.as_deref())
        .collect();
    assert_eq!(order, vec![m2.as_str(), m1.as_str(), m2.as_str()]);

    // Deduplicated by message id, ordered by date: exactly the fake's messages.
    let mut seen = std::collections::BTreeMap::new();
    for b in &bodies {
        for i in webhook::parse(b).unwrap().items {
            seen.insert((i.date, i.message_id.clone().unwrap()), i.text.clone());
        }
    }
    let texts: Vec<Option<String>> = seen.into_values().collect();
    assert_eq!(
        texts,
        vec![Some("first".to_owned()), Some("second".to_owned())]
    );
    assert!(webhook::parse(b"not json").is_err());
}
