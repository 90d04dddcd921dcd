//! Gateway mode (issue 17 §1): rapport-server linked to a SendPulse account
//! (the fake on loopback). Webhooks in (arrays, duplicates, out of order,
//! unknown titles, a flood), the reconcile pass after dropped webhooks,
//! agents' commands out through SendPulse after the rules, exactly once
//! when an answer is lost, tokens expiring and 429s, and every request the
//! gateway makes checked against docs/sendpulse/openapi.yml.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_core::model::*;
use rapport_core::outbox::Draft;
use rapport_core::store::{TimelineItem, TimelineItemId};
use rapport_core::sync::{Action, Backend, PauseAction, RapportBackend, SyncError};
use rapport_core::timers::ServerClock;
use rapport_core::wire::SubscriberEdit;
use rapport_sendpulse::App as SpApp;
use rapport_server::gateway::seal::ServerKey;
use rapport_server::gateway::{self, NewLink, Tuning};
use rapport_server::hub::Workspace;
use rapport_tests::fake_sendpulse::{FakeSendPulse, Fault};
use rapport_tests::wait_until;
use serde_json::Value;

#[path = "support/sendpulse_contract.rs"]
mod contract;

const ID: &str = "gw-client-id";
const SECRET: &str = "gw-client-secret-0123456789";
const PASSWORD: &str = "correct horse";
const WS: &str = "sp";

struct Gw {
    server: rapport_server::RunningServer,
    _dir: tempfile::TempDir,
    fake: FakeSendPulse,
    hook: String,
}

/// A server on `db` with the gateway's key and short waits.
async fn server_on(db: &std::path::Path) -> rapport_server::RunningServer {
    let server = rapport_server::start(rapport_server::ServerConfig {
        db: db.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        heartbeat_ms: 300,
        clock: None,
    })
    .await
    .unwrap();
    server.state.gateway.set_key(ServerKey::from_bytes([9; 32]));
    server.state.gateway.set_tuning(Tuning {
        max_attempts: 4,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(50),
        page_size: 3,
        lookups: 2,
        lookup_wait: Duration::from_millis(10),
        match_slack_ms: 60_000,
    });
    server
}

impl Gw {
    /// The server stopped and started again on the same files.
    async fn restart(&mut self) {
        let db = self._dir.path().join("server.db");
        let old = std::mem::replace(&mut self.server, server_on(&db).await);
        let secret = self.hook.rsplit('/').next().unwrap().to_owned();
        drop(old);
        self.hook = format!("{}{}", self.server.url(), gateway::hook_path(&secret));
    }

    async fn start() -> Gw {
        // reqwest (the webhooks the tests post) needs rustls's provider.
        rapport_core::sync::install_crypto();
        let fake = FakeSendPulse::start(ID, SECRET).await;
        let dir = tempfile::tempdir().unwrap();
        let server = server_on(&dir.path().join("server.db")).await;
        let state = server.state.clone();
        let url = fake.url.clone();
        let secret = tokio::task::spawn_blocking(move || {
            let hub = &state.hub;
            let ws = hub.create_workspace(WS, "SendPulse shop").unwrap();
            for (id, email) in [("u0", "u0@sp.test"), ("u1", "u1@sp.test")] {
                let m = Member {
                    id: MemberId::from(id),
                    name: format!("Agent {id}"),
                    avatar_url: None,
                    role: "Agent".into(),
                    conversations_access: true,
                };
                hub.add_account(&ws, email, PASSWORD, m).unwrap();
            }
            state
                .gateway
                .link(
                    hub,
                    &NewLink {
                        workspace: WS.into(),
                        base_url: url,
                        client_id: ID.into(),
                        client_secret: SECRET.into(),
                        operators: BTreeMap::from([("u0".to_owned(), 7)]),
                    },
                )
                .unwrap()
        })
        .await
        .unwrap();
        let hook = format!("{}{}", server.url(), gateway::hook_path(&secret));
        Gw {
            server,
            _dir: dir,
            fake,
            hook,
        }
    }

    fn ws(&self) -> Arc<Workspace> {
        self.server.state.hub.workspace(WS).unwrap()
    }

    fn head(&self) -> u64 {
        self.server.state.hub.head(&self.ws()).unwrap().0
    }

    /// Posts one webhook body; waits until the worker has applied it.
    async fn webhook(&self, items: &[Value]) {
        let before = self.server.state.gateway.stats().bodies;
        assert_eq!(self.fake.emit_webhook(&self.hook, items).await, 200);
        self.applied(before + 1).await;
    }

    async fn applied(&self, bodies: u64) {
        let t = Instant::now();
        while self.server.state.gateway.stats().bodies < bodies {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "webhooks not applied"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn reconcile(&self) -> gateway::Reconciled {
        gateway::reconcile::pass(&self.server.state, WS)
            .await
            .expect("reconcile")
    }

    async fn agent(&self) -> RapportBackend {
        let b = RapportBackend::new(&self.server.url(), Arc::new(ServerClock::default())).unwrap();
        b.login("u0@sp.test", PASSWORD).await.unwrap();
        b
    }

    fn chat(&self, contact: &str) -> Option<Chat> {
        self.ws()
            .store
            .chat(&ChatId::from(format!("sp-{contact}").as_str()))
            .unwrap()
            .map(|s| s.chat)
    }

    /// A chat's messages as (id, inbound, text), oldest first.
    fn messages(&self, contact: &str) -> Vec<(String, bool, String)> {
        messages_in(&self.ws().store, contact)
    }

    /// The workspace as SendPulse's state would put it, per contact: the
    /// chat's state, the subscriber's status, unread and the messages'
    /// (direction, text); compared with the fake's own.
    fn converged(&self) -> Result<(), String> {
        self.converged_as(true)
    }

    /// `ordered: false` compares each chat's messages as a set: webhooks'
    /// times are whole seconds, so messages of one second keep the order
    /// they arrived in until a reconcile reads SendPulse's times.
    fn converged_as(&self, ordered: bool) -> Result<(), String> {
        converged_in(&self.fake, &self.ws().store, ordered)
    }
}

/// A chat's messages in `store` (the server's or a phone's) as (id,
/// inbound, text), oldest first.
fn messages_in(store: &rapport_core::Store, contact: &str) -> Vec<(String, bool, String)> {
    let (list, _) = store
        .messages_before(
            &ChatId::from(format!("sp-{contact}").as_str()),
            None,
            u32::MAX,
        )
        .unwrap();
    list.into_iter()
        .map(|m| {
            let text = match &m.content {
                Content::Text { text } => text.clone(),
                other => format!("{other:?}"),
            };
            (m.id.0.clone(), m.direction() == Direction::Inbound, text)
        })
        .collect()
}

/// `store` (the server's workspace or a phone's) as SendPulse's state
/// would put it, per contact: the chat's state, the subscriber's status,
/// unread and the messages' (direction, text); compared with the fake's.
fn converged_in(
    fake: &FakeSendPulse,
    store: &rapport_core::Store,
    ordered: bool,
) -> Result<(), String> {
    let contacts: Vec<_> = fake.with(|s| s.contacts.values().cloned().collect());
    for c in contacts {
        let chat = store
            .chat(&ChatId::from(format!("sp-{}", c.id).as_str()))
            .unwrap()
            .map(|s| s.chat)
            .ok_or(format!("no chat for {}", c.id))?;
        let want_state = if c.opened {
            ChatState::Open
        } else {
            ChatState::Closed
        };
        if chat.state != want_state {
            return Err(format!("{}: state {:?}", c.id, chat.state));
        }
        if i64::from(chat.unread_count) != c.unread {
            return Err(format!(
                "{}: unread {} vs {}",
                c.id, chat.unread_count, c.unread
            ));
        }
        let sub = store.subscriber(&chat.subscriber_id).unwrap().unwrap();
        let want_status = match c.status {
            1 => SubscriptionStatus::Active,
            3 => SubscriptionStatus::Disabled,
            _ => SubscriptionStatus::Unsubscribed,
        };
        if sub.status != want_status {
            return Err(format!("{}: status {:?}", c.id, sub.status));
        }
        let mut ours: Vec<(bool, String)> = messages_in(store, &c.id)
            .into_iter()
            .map(|(_, i, t)| (i, t))
            .collect();
        let mut theirs: Vec<(bool, String)> = fake
            .history(&c.id)
            .into_iter()
            .map(|(_, d, t)| (d == 1, t))
            .collect();
        if !ordered {
            ours.sort();
            theirs.sort();
        }
        if ours != theirs {
            return Err(format!("{}: {ours:?} vs {theirs:?}", c.id));
        }
    }
    Ok(())
}

// ---- link -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_link_keeps_the_secret_sealed_and_the_hook_secret_hashed() {
    let gw = Gw::start().await;
    let db = rusqlite::Connection::open(gw._dir.path().join("server.db")).unwrap();
    let (sealed, hash): (Vec<u8>, String) = db
        .query_row(
            "SELECT sealed_secret, hook_hash FROM sendpulse_links WHERE workspace = 'sp'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    let secret = gw.hook.rsplit('/').next().unwrap();
    assert_eq!(secret.len(), 64, "256 random bits");
    assert_ne!(hash, secret);
    // An unknown secret: a plain 404, nothing kept.
    let wrong = gw.hook.replace(secret, &"0".repeat(64));
    assert_eq!(gw.fake.emit_webhook(&wrong, &[]).await, 404);
    // A body that is not a webhook: a typed 400, nothing kept.
    let r = reqwest::Client::new()
        .post(&gw.hook)
        .body("{\"title\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    assert_eq!(gw.server.state.gateway.stats().bodies, 0);
    let n: i64 = db
        .query_row("SELECT count(*) FROM sendpulse_inbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    // A new link replaces the secret: the old URL stops working.
    let state = gw.server.state.clone();
    let url = gw.fake.url.clone();
    let new_secret = tokio::task::spawn_blocking(move || {
        state.gateway.link(
            &state.hub,
            &NewLink {
                workspace: WS.into(),
                base_url: url,
                client_id: ID.into(),
                client_secret: SECRET.into(),
                operators: BTreeMap::new(),
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(gw.fake.emit_webhook(&gw.hook, &[]).await, 404);
}

// ---- webhooks -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_webhooks_in_arrays_duplicated_out_of_order_and_unknown_change_nothing_twice() {
    let gw = Gw::start().await;
    let bot = gw.fake.add_bot(SpApp::Telegram, "Shop");
    let c = gw.fake.add_contact(&bot, "Ann");
    let m1 = gw.fake.add_incoming(&c, "hello");
    let m2 = gw.fake.add_incoming(&c, "anyone there?");
    let m3 = gw.fake.add_incoming(&c, "ok bye");
    gw.fake
        .with(|s| s.contacts.get_mut(&c).unwrap().opened = true);
    let unknown = serde_json::json!({"title": "something_new", "service": "telegram",
        "bot": {"id": bot}, "contact": {"id": c}, "date": 1});
    let item = |id: &str| gw.fake.message_item(id);
    // The last message first, the subscriber after, a duplicate, an
    // unknown title, a link click (known, not used), the chat opened.
    let body = vec![
        item(&m3),
        gw.fake.contact_item(&c, "new_subscriber"),
        item(&m1),
        unknown.clone(),
        item(&m1),
        gw.fake.contact_item(&c, "link_click"),
        item(&m2),
        gw.fake.contact_item(&c, "open_chat"),
    ];
    gw.webhook(&body).await;
    let mut texts: Vec<String> = gw.messages(&c).into_iter().map(|(_, _, t)| t).collect();
    texts.sort();
    assert_eq!(texts, ["anyone there?", "hello", "ok bye"]);
    let chat = gw.chat(&c).unwrap();
    assert_eq!(chat.state, ChatState::Open);
    assert_eq!(chat.unread_count, 3);
    assert_eq!(chat.app, App::Telegram);
    assert_eq!(chat.title, "Ann");
    gw.converged_as(false).unwrap();
    // The bot first seen in a webhook gets its name from the next pass.
    let bots = gw.ws().store.bots().unwrap();
    assert_eq!(bots.len(), 1);
    assert_ne!(bots[0].name, "Shop");
    gw.reconcile().await;
    assert_eq!(gw.ws().store.bots().unwrap()[0].name, "Shop");

    // The same body again, reversed, and split: nothing changes.
    let head = gw.head();
    gw.webhook(&body).await;
    let mut rev = body.clone();
    rev.reverse();
    gw.webhook(&rev).await;
    for it in &body {
        gw.webhook(std::slice::from_ref(it)).await;
    }
    assert_eq!(gw.head(), head, "a replay emits nothing");
    let stats = gw.server.state.gateway.stats();
    assert_eq!(stats.skipped.get("unknown_title"), Some(&(1 + 1 + 1 + 1)));
    assert_eq!(stats.skipped.get("not_used"), Some(&4));

    // unsubscribe / bot_block: the subscriber's status.
    gw.fake.with(|s| s.contacts.get_mut(&c).unwrap().status = 2);
    gw.webhook(&[gw.fake.contact_item(&c, "unsubscribe")]).await;
    let sub = gw
        .ws()
        .store
        .subscriber(&SubscriberId::from(format!("sp-{c}").as_str()))
        .unwrap()
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Unsubscribed);
    let head = gw.head();
    gw.webhook(&[gw.fake.contact_item(&c, "bot_block")]).await;
    assert_eq!(gw.head(), head, "blocked reads as unsubscribed already");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_webhook_flood_is_answered_fast_and_applied_once() {
    let gw = Gw::start().await;
    let bot = gw.fake.add_bot(SpApp::Whatsapp, "Flood");
    let contacts: Vec<String> = (0..20)
        .map(|i| gw.fake.add_contact(&bot, &format!("C{i}")))
        .collect();
    let mut items = Vec::new();
    for i in 0..400 {
        let m = gw.fake.add_incoming(&contacts[i % 20], &format!("msg {i}"));
        items.push(gw.fake.message_item(&m));
    }
    // 80 bodies of 5 items, each posted twice, 8 at a time.
    let bodies: Vec<Vec<Value>> = items.chunks(5).map(<[Value]>::to_vec).collect();
    let before = gw.server.state.gateway.stats().bodies;
    let mut answers = Vec::new();
    let http = reqwest::Client::new();
    for round in bodies.chunks(8).flat_map(|c| [c, c]) {
        let posts = round.iter().map(|b| {
            let http = http.clone();
            let url = gw.hook.clone();
            let b = Value::Array(b.clone());
            async move {
                let t = Instant::now();
                let r = http.post(url).json(&b).send().await.unwrap();
                (r.status().as_u16(), t.elapsed())
            }
        });
        answers.extend(futures_util::future::join_all(posts).await);
    }
    assert!(answers.iter().all(|(s, _)| *s == 200));
    gw.applied(before + 160).await;
    let mut times: Vec<Duration> = answers.iter().map(|(_, t)| *t).collect();
    times.sort();
    let p99 = times[times.len() * 99 / 100];
    eprintln!(
        "webhook answer p50 {:?} p99 {:?} over {} posts",
        times[times.len() / 2],
        p99,
        times.len()
    );
    assert!(p99 < Duration::from_secs(2), "answered fast: {p99:?}");
    let total: usize = contacts.iter().map(|c| gw.messages(c).len()).sum();
    assert_eq!(total, 400, "each message once");
    gw.converged_as(false).unwrap();
    // A reconcile pass puts messages of one second in SendPulse's order.
    gw.reconcile().await;
    gw.converged().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_link_over_its_share_of_webhooks_is_refused_and_reconcile_repairs_it() {
    // A leaked webhook secret cannot fill the inbox faster than the share:
    // bodies over it are answered 429 and not kept; the genuine ones among
    // them are found again by the reconcile pass.
    let gw = Gw::start().await;
    gw.server.state.gateway.set_hook_rate(2, 5);
    let bot = gw.fake.add_bot(SpApp::Telegram, "Leaky");
    let c = gw.fake.add_contact(&bot, "Ann");
    let before = gw.server.state.gateway.stats().bodies;
    let mut answers = Vec::new();
    let t = Instant::now();
    for i in 0..30 {
        let m = gw.fake.add_incoming(&c, &format!("msg {i}"));
        answers.push(
            gw.fake
                .emit_webhook(&gw.hook, &[gw.fake.message_item(&m)])
                .await,
        );
    }
    let took = t.elapsed().as_secs_f64();
    let kept = answers.iter().filter(|&&s| s == 200).count() as u64;
    let refused = answers.iter().filter(|&&s| s == 429).count() as u64;
    assert_eq!(kept + refused, 30, "{answers:?}");
    // A burst of 5, then 2 a second for as long as the posts took (however
    // slow this machine is now).
    let share = 5 + (2.0 * took).ceil() as u64;
    assert!(
        kept >= 5 && kept <= share,
        "kept {kept} of 30 in {took:.1} s: {answers:?}"
    );
    if took < 10.0 {
        assert!(refused > 0, "{answers:?}");
    }
    assert_eq!(gw.server.state.gateway.stats().refused, refused);
    gw.applied(before + kept).await;
    assert_eq!(gw.messages(&c).len() as u64, kept, "only what was kept");
    gw.reconcile().await;
    assert_eq!(
        gw.messages(&c).len(),
        30,
        "the reconcile pass repairs the rest"
    );
    gw.converged().unwrap();
    // The share comes back with time.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let m = gw.fake.add_incoming(&c, "later");
    gw.webhook(&[gw.fake.message_item(&m)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_h2_a_webhook_reaches_a_phone_over_rapports_live_stream() {
    let gw = Gw::start().await;
    let bot = gw.fake.add_bot(SpApp::Telegram, "Live");
    let c = gw.fake.add_contact(&bot, "Ann");
    let phone = rapport_tests::TempStore::new();
    let backend = Arc::new(gw.agent().await);
    let engine = Arc::new(rapport_core::sync::SyncEngine::new(
        phone.store.clone(),
        backend,
    ));
    engine.catch_up().await.unwrap();
    let live = engine.clone();
    let task = tokio::spawn(async move { live.run().await });
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    let mut answered = Vec::new();
    for i in 0..40 {
        let m = gw.fake.add_incoming(&c, &format!("live {i}"));
        let id = MessageId::from(format!("sp-{m}").as_str());
        let body = Value::Array(vec![gw.fake.message_item(&m)]);
        let t = Instant::now();
        let r = http.post(&gw.hook).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        answered.push(t.elapsed());
        while !phone.store.has_message(&id).unwrap() {
            assert!(t.elapsed() < Duration::from_secs(10), "not on the phone");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        took.push(t.elapsed());
    }
    task.abort();
    took.sort();
    answered.sort();
    eprintln!(
        "webhook to the phone's store: p50 {:?} p99 {:?}; answered p50 {:?} (40 webhooks, loopback)",
        took[20], took[39], answered[20]
    );
    let chat = phone
        .store
        .chat(&ChatId::from(format!("sp-{c}").as_str()))
        .unwrap()
        .unwrap();
    assert_eq!(chat.chat.unread_count, 40);
    assert_eq!(chat.chat.title, "Ann");
}

// ---- reconcile ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_reconcile_after_dropped_webhooks_converges_and_then_changes_nothing() {
    let mut gw = Gw::start().await;
    let tg = gw.fake.add_bot(SpApp::Telegram, "TG");
    let wa = gw.fake.add_bot(SpApp::Whatsapp, "WA");
    let mut all = Vec::new();
    for (bot, n) in [(&tg, 4), (&wa, 3)] {
        for i in 0..n {
            let c = gw.fake.add_contact(bot, &format!("P{i}"));
            for k in 0..(i + 2) {
                gw.fake.add_incoming(&c, &format!("q{k}"));
                if k % 2 == 0 {
                    gw.fake.add_outgoing(&c, &format!("bot answer {k}"));
                }
            }
            all.push(c);
        }
    }
    gw.fake.with(|s| {
        s.contacts.get_mut(&all[0]).unwrap().opened = true;
        s.contacts.get_mut(&all[5]).unwrap().opened = true;
        s.contacts.get_mut(&all[2]).unwrap().status = 2;
        s.contacts.get_mut(&all[3]).unwrap().unread = 0;
    });
    // Only some webhooks arrived (one message of the first contact, twice).
    let m = gw.fake.last_message_id(&all[0]).unwrap();
    gw.webhook(&[gw.fake.message_item(&m), gw.fake.message_item(&m)])
        .await;
    assert!(gw.converged().is_err());

    // Tokens expire and SendPulse rate-limits during the pass.
    gw.fake.expire_tokens();
    gw.fake
        .fail_next("/telegram/chats", Fault::Status(429, Some(0)));
    gw.fake
        .fail_next("/chatbots/dialogs", Fault::Status(503, None));
    let r = gw.reconcile().await;
    gw.converged().unwrap();
    assert_eq!(r.chats, 7);
    assert_eq!(r.histories, 7);
    eprintln!("reconcile from (almost) empty: {r:?}");

    // A second pass: nothing to change, no history read again.
    let head = gw.head();
    let again = gw.reconcile().await;
    assert_eq!(gw.head(), head);
    assert_eq!((again.events, again.histories), (0, 0));
    assert!(again.requests < r.requests);

    // One new message missed by the webhooks: one history read.
    gw.fake.add_incoming(&all[4], "late");
    let third = gw.reconcile().await;
    assert_eq!(third.histories, 1);
    gw.converged().unwrap();
    let head = gw.head();
    // And replaying the webhooks after the pass changes nothing either.
    let items: Vec<Value> = gw
        .fake
        .history(&all[4])
        .iter()
        .map(|(id, _, _)| gw.fake.message_item(id))
        .collect();
    gw.webhook(&items).await;
    assert_eq!(gw.head(), head);

    // Restarted: the pass at start reads only the history that changed
    // while the server was down.
    gw.fake.add_incoming(&all[6], "while you were out");
    gw.restart().await;
    gw.server
        .state
        .gateway
        .schedule_reconcile(Duration::from_secs(3600));
    let t = Instant::now();
    while gw.server.state.gateway.stats().passes == 0 {
        assert!(t.elapsed() < Duration::from_secs(20), "no pass at start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_start = gw.server.state.gateway.stats().last_pass.unwrap();
    assert_eq!(at_start.histories, 1, "{at_start:?}");
    gw.converged().unwrap();
}

#[test]
fn s2_e7_phones_converge_with_sendpulse_through_the_gateway_under_faults() {
    // Issue 17's convergence, end to end: two agents' phones on the
    // gateway while webhooks are dropped, duplicated and reordered,
    // SendPulse loses an answer to a send, tokens expire and reads are
    // rate-limited. After a reconcile pass each phone's store is SendPulse's
    // state: every chat, status, unread count and message, once.
    let rt = rapport_tests::runtime();
    let gw = rt.block_on(Gw::start());
    let tg = gw.fake.add_bot(SpApp::Telegram, "TG");
    let wa = gw.fake.add_bot(SpApp::Whatsapp, "WA");
    let contacts: Vec<String> = (0..6)
        .map(|i| {
            let c = gw
                .fake
                .add_contact(if i % 2 == 0 { &tg } else { &wa }, &format!("P{i}"));
            gw.fake.add_incoming(&c, "hello");
            c
        })
        .collect();
    rt.block_on(gw.reconcile());
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let phones: Vec<rapport_core::Client> = ["u0@sp.test", "u1@sp.test"]
        .iter()
        .zip(&dirs)
        .map(|(email, dir)| {
            let c = rapport_core::Client::open(
                rapport_core::ClientConfig {
                    store_path: dir.path().join("rapport.db"),
                    server_url: gw.server.url(),
                },
                Arc::new(rapport_core::session::FileSecretStore::new(
                    dir.path().join("secrets.json"),
                )),
            )
            .unwrap();
            rt.block_on(c.login(email, PASSWORD)).unwrap();
            c.start_sync().unwrap();
            c
        })
        .collect();

    let post = |items: Vec<Value>| {
        let status = rt.block_on(gw.fake.emit_webhook(&gw.hook, &items));
        assert_eq!(status, 200);
    };
    let mut held = Vec::new();
    let mut replies = 0;
    for i in 0..36 {
        let c = &contacts[i % contacts.len()];
        let item = gw
            .fake
            .message_item(&gw.fake.add_incoming(c, &format!("q{i}")));
        match i % 5 {
            0 => {}                              // dropped
            1 => post(vec![item.clone(), item]), // duplicated
            2 => held.push(item),                // late
            _ => post(
                std::mem::take(&mut held)
                    .into_iter()
                    .rev()
                    .chain([item])
                    .collect(),
            ),
        }
        if i % 6 == 5 {
            // Agent u0 answers; every other answer's reply from SendPulse
            // is lost after it took the message.
            if i % 12 == 5 {
                gw.fake.fail_next("/contacts/send", Fault::DropAfterAccept);
            }
            let chat = ChatId::from(format!("sp-{c}").as_str());
            wait_until("the phone has the chat's message", 20, || {
                phones[0].chat(&chat).unwrap().is_some()
            });
            phones[0]
                .send(&chat, Draft::Text(&format!("answer {i}")), None)
                .unwrap();
            replies += 1;
        }
        if i == 18 {
            gw.fake.expire_tokens();
        }
    }
    post(held);
    wait_until("the phones' outboxes are empty", 60, || {
        phones.iter().all(|p| p.unsent_commands().unwrap() == 0)
    });
    let sent: usize = contacts
        .iter()
        .map(|c| gw.fake.outgoing_texts(c).len())
        .sum();
    assert_eq!(sent, replies, "each answer reached SendPulse once");

    gw.fake
        .fail_next("/chatbots/dialogs", Fault::Status(429, Some(0)));
    gw.fake.expire_tokens();
    rt.block_on(gw.reconcile());
    gw.converged().unwrap();
    let head = gw.head();
    for (phone, dir) in phones.iter().zip(&dirs) {
        wait_until("the phone reaches the head", 30, || {
            phone.last_seq().unwrap().0 == head
        });
        let store = rapport_core::Store::open(dir.path().join("rapport.db")).unwrap();
        converged_in(&gw.fake, &store, true).unwrap();
    }
}

// ---- commands out -----------------------------------------------------------------

/// A contact who wrote (so the support window is open), reconciled in.
async fn one_chat(gw: &Gw, app: SpApp) -> (String, ChatId) {
    let bot = gw.fake.add_bot(app, "Shop");
    let c = gw.fake.add_contact(&bot, "Ann");
    gw.fake.add_incoming(&c, "hello?");
    gw.reconcile().await;
    (c.clone(), ChatId::from(format!("sp-{c}").as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_a_send_whose_answer_is_lost_reaches_sendpulse_exactly_once() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Telegram).await;
    let agent = gw.agent().await;
    gw.fake
        .fail_next("/contacts/sendText", Fault::DropAfterAccept);
    let send = Action::SendText {
        chat_id: chat.clone(),
        text: "On it".into(),
        message_id: Some(MessageId::from("echo-1")),
    };
    agent.run(&send, "k-send-1").await.unwrap();
    assert_eq!(
        gw.fake.outgoing_texts(&c),
        ["On it"],
        "one message at SendPulse"
    );
    let ours = gw.messages(&c);
    assert_eq!(
        ours.iter().filter(|(_, inbound, _)| !inbound).count(),
        1,
        "{ours:?}"
    );
    assert!(ours.iter().any(|(id, _, t)| id == "echo-1" && t == "On it"));
    // The same key again: the first answer, nothing sent.
    agent.run(&send, "k-send-1").await.unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c).len(), 1);
    // Its outgoing_message webhook and a reconcile pass change nothing.
    let head = gw.head();
    let remote = gw.fake.last_message_id(&c).unwrap();
    gw.webhook(&[gw.fake.message_item(&remote)]).await;
    gw.reconcile().await;
    assert_eq!(gw.head(), head);
    gw.converged().unwrap();
    // E3: the reply paused the bot at SendPulse too.
    assert_eq!(gw.fake.contact(&c).paused_minutes, Some(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_a_bot_message_with_the_same_text_just_before_is_not_taken_for_the_agents() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Telegram).await;
    // The bot said "Thanks!" a moment ago, and the phone has it.
    gw.fake.add_outgoing(&c, "Thanks!");
    gw.reconcile().await;
    let agent = gw.agent().await;
    gw.fake
        .fail_next("/contacts/sendText", Fault::DropAfterAccept);
    let send = Action::SendText {
        chat_id: chat.clone(),
        text: "Thanks!".into(),
        message_id: Some(MessageId::from("echo-thanks")),
    };
    agent.run(&send, "k-thanks").await.unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c), ["Thanks!", "Thanks!"]);
    let ws = gw.ws();
    let (list, _) = ws.store.messages_before(&chat, None, 100).unwrap();
    let senders: Vec<(String, Sender)> = list
        .into_iter()
        .filter(|m| m.direction() == Direction::Outbound)
        .map(|m| (m.id.0, m.sender))
        .collect();
    assert_eq!(senders.len(), 2, "{senders:?}");
    assert_eq!(senders[0].1, Sender::Bot);
    assert_eq!(
        senders[1],
        (
            "echo-thanks".to_owned(),
            Sender::Member(MemberId::from("u0"))
        )
    );
    gw.reconcile().await;
    gw.converged().unwrap();
}

/// The answer lost, the history unreadable for the lookups and the second
/// send's answer a 500: the gateway cannot tell, so the command fails
/// retryably (503, nothing remembered for the key).
fn lose_the_answer_and_the_lookups(fake: &FakeSendPulse) {
    fake.fail_next("/contacts/send", Fault::DropAfterAccept);
    for _ in 0..(4 * 2 * 2) {
        fake.fail_next("/chats/messages", Fault::Status(400, None));
    }
    fake.fail_next("/contacts/send", Fault::Status(500, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_an_unconfirmed_send_is_found_by_its_outgoing_webhook_and_keeps_the_agents_id() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Whatsapp).await;
    let agent = gw.agent().await;
    lose_the_answer_and_the_lookups(&gw.fake);
    let send = Action::SendText {
        chat_id: chat.clone(),
        text: "Your order shipped".into(),
        message_id: Some(MessageId::from("echo-wa")),
    };
    let first = agent.run(&send, "k-wa").await;
    assert!(matches!(first, Err(SyncError::Server(_))), "{first:?}");
    gw.fake.with(|s| s.faults.clear());
    // SendPulse's outgoing_message webhook: the message is the agent's,
    // under the phone's id, not a bot message.
    let remote = gw.fake.last_message_id(&c).unwrap();
    gw.webhook(&[gw.fake.message_item(&remote)]).await;
    let ws = gw.ws();
    let item = ws
        .store
        .timeline_item(
            &chat,
            &rapport_core::store::TimelineItemId::Message(MessageId::from("echo-wa")),
        )
        .unwrap();
    let Some(rapport_core::store::TimelineItem::Message(m)) = item else {
        panic!("the agent's message under its id: {item:?}");
    };
    assert_eq!(m.sender, Sender::Member(MemberId::from("u0")));
    // The phone's retry with the same key: found, not sent again.
    agent.run(&send, "k-wa").await.unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c), ["Your order shipped"]);
    assert_eq!(gw.messages(&c).len(), 2);
    gw.converged_as(false).unwrap();
    gw.reconcile().await;
    gw.converged().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_an_unconfirmed_send_is_looked_for_on_the_retry_before_it_is_sent_again() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Whatsapp).await;
    let agent = gw.agent().await;
    // The history works again on the client's retry with the same key:
    // the message is found there, not sent again.
    lose_the_answer_and_the_lookups(&gw.fake);
    let send = Action::SendText {
        chat_id: chat.clone(),
        text: "Your order shipped".into(),
        message_id: Some(MessageId::from("echo-wa")),
    };
    let first = agent.run(&send, "k-wa").await;
    assert!(matches!(first, Err(SyncError::Server(_))), "{first:?}");
    gw.fake.with(|s| s.faults.clear());
    assert_eq!(gw.fake.outgoing_texts(&c).len(), 1);
    agent.run(&send, "k-wa").await.unwrap();
    assert_eq!(
        gw.fake.outgoing_texts(&c),
        ["Your order shipped"],
        "found in the history, not sent again"
    );
    assert!(
        gw.messages(&c)
            .iter()
            .any(|(id, _, t)| id == "echo-wa" && t == "Your order shipped")
    );
    gw.converged().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_a_phone_that_hangs_up_mid_send_retries_with_its_key_and_the_message_is_sent_once() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Telegram).await;
    let b = RapportBackend::new(&gw.server.url(), Arc::new(ServerClock::default())).unwrap();
    let token = b.login("u0@sp.test", PASSWORD).await.unwrap().token;
    // SendPulse is slow; the phone gives up after 100 ms (its request's
    // future is dropped on the server while SendPulse carries it out).
    gw.fake.fail_next("/contacts/sendText", Fault::Delay(400));
    let url = format!("{}/v1/chats/{}/messages", gw.server.url(), chat.as_str());
    let post = |timeout_ms: u64| {
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .header("Idempotency-Key", "k-slow")
            .timeout(Duration::from_millis(timeout_ms))
            .json(&serde_json::json!({"text": "Slow but sure", "message_id": "echo-slow"}))
            .send()
    };
    assert!(post(100).await.is_err(), "the phone hung up");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The retry with the same key is not stuck behind the dropped one: the
    // send went out, so it is found, not sent again.
    let r = post(10_000).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gw.fake.outgoing_texts(&c), ["Slow but sure"]);
    assert!(gw.messages(&c).iter().any(|(id, _, _)| id == "echo-slow"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_b10_d1_f7_commands_go_through_sendpulse_after_the_rules() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Telegram).await;
    let agent = gw.agent().await;
    let run = |a: Action, k: &'static str| {
        let agent = &agent;
        async move { agent.run(&a, k).await }
    };
    assert_eq!(gw.fake.contact(&c).unread, 1);
    run(
        Action::MarkRead {
            chat_id: chat.clone(),
        },
        "r",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).unread, 0);
    assert_eq!(gw.chat(&c).unwrap().unread_count, 0);

    run(
        Action::Open {
            chat_id: chat.clone(),
        },
        "o",
    )
    .await
    .unwrap();
    assert!(gw.fake.contact(&c).opened);
    assert_eq!(gw.chat(&c).unwrap().state, ChatState::Open);
    run(
        Action::Close {
            chat_id: chat.clone(),
        },
        "c",
    )
    .await
    .unwrap();
    assert!(!gw.fake.contact(&c).opened);

    run(
        Action::Assign {
            chat_id: chat.clone(),
            member_id: Some(MemberId::from("u0")),
        },
        "a0",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).operator, Some(7));
    assert_eq!(gw.chat(&c).unwrap().assignee, Some(MemberId::from("u0")));
    // A member with no operator id: refused before SendPulse is called.
    let before = gw.fake.requests().len();
    let r = run(
        Action::Assign {
            chat_id: chat.clone(),
            member_id: Some(MemberId::from("u1")),
        },
        "a1",
    )
    .await;
    assert!(
        matches!(&r, Err(SyncError::Refused { code, .. }) if code.as_str() == "not_assignable"),
        "{r:?}"
    );
    assert_eq!(gw.fake.requests().len(), before);
    run(
        Action::Assign {
            chat_id: chat.clone(),
            member_id: None,
        },
        "a2",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).operator, None);

    run(
        Action::Pause {
            chat_id: chat.clone(),
            action: PauseAction::Start,
        },
        "p1",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).paused_minutes, Some(60));
    run(
        Action::Pause {
            chat_id: chat.clone(),
            action: PauseAction::Extend,
        },
        "p2",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).paused_minutes, Some(120));
    run(
        Action::Pause {
            chat_id: chat.clone(),
            action: PauseAction::Continue,
        },
        "p3",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).paused_minutes, None);
    assert_eq!(gw.chat(&c).unwrap().paused_until, None);

    // The rules run first: an empty text never reaches SendPulse.
    let before = gw.fake.requests().len();
    let r = run(
        Action::SendText {
            chat_id: chat.clone(),
            text: "   ".into(),
            message_id: None,
        },
        "s0",
    )
    .await;
    assert!(matches!(&r, Err(SyncError::Refused { code, .. }) if code.as_str() == "text_empty"));
    // What SendPulse cannot do is refused, typed, and nothing is sent.
    let m = gw.messages(&c)[0].0.clone();
    let r = run(
        Action::EditMessage {
            chat_id: chat.clone(),
            message_id: MessageId::from(m.as_str()),
            text: "x".into(),
        },
        "e0",
    )
    .await;
    assert!(matches!(&r, Err(SyncError::Refused { code, .. }) if code.as_str() == "not_supported"));
    assert_eq!(gw.fake.requests().len(), before);

    // A 429 with Retry-After and an expired token on the way: carried out.
    gw.fake.expire_tokens();
    gw.fake
        .fail_next("/contacts/sendText", Fault::Status(429, Some(0)));
    run(
        Action::SendText {
            chat_id: chat.clone(),
            text: "Back to you".into(),
            message_id: None,
        },
        "s1",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c), ["Back to you"]);
    gw.converged().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_a_reaction_goes_to_sendpulse_on_telegram_and_taking_it_back_is_refused() {
    let gw = Gw::start().await;
    let (contact, chat) = one_chat(&gw, SpApp::Telegram).await;
    let remote = gw.fake.last_message_id(&contact).unwrap();
    let message = MessageId::from(format!("sp-{remote}").as_str());
    let agent = gw.agent().await;
    let react = |emoji: Option<&str>| Action::React {
        chat_id: chat.clone(),
        message_id: message.clone(),
        emoji: emoji.map(str::to_owned),
    };
    agent.run(&react(Some("👍")), "react-1").await.unwrap();
    assert_eq!(
        gw.fake.with(|s| s.reactions.get(&remote).cloned()),
        Some("👍".into())
    );
    let shown = |gw: &Gw| match gw
        .ws()
        .store
        .timeline_item(&chat, &TimelineItemId::Message(message.clone()))
        .unwrap()
    {
        Some(TimelineItem::Message(m)) => m.reactions,
        other => panic!("{other:?}"),
    };
    assert_eq!(shown(&gw).len(), 1);
    // Another emoji replaces the agent's own.
    agent.run(&react(Some("❤️")), "react-2").await.unwrap();
    assert_eq!(gw.fake.with(|s| s.reactions[&remote].clone()), "❤️");
    assert_eq!(shown(&gw)[0].emoji, "❤️");
    // SendPulse cannot take a reaction back.
    let e = agent.run(&react(None), "react-3").await.unwrap_err();
    assert_eq!(e.code(), "not_supported", "{e}");
    assert_eq!(shown(&gw).len(), 1);
    // The core's rule: reactions are Telegram's only.
    let (_, wa) = one_chat(&gw, SpApp::Whatsapp).await;
    let on_wa = Action::React {
        chat_id: wa,
        message_id: message.clone(),
        emoji: Some("👍".into()),
    };
    assert!(agent.run(&on_wa, "react-4").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_the_accounts_flows_are_listed_from_sendpulse_and_run_on_a_subscriber() {
    let gw = Gw::start().await;
    let (contact, chat) = one_chat(&gw, SpApp::Telegram).await;
    let bot = gw.fake.contact(&contact).bot_id;
    let welcome = gw.fake.add_flow(&bot, "Welcome offer", true);
    gw.fake.add_flow(&bot, "Old welcome", false);
    let other_bot = gw.fake.add_bot(SpApp::Telegram, "Other");
    let elsewhere = gw.fake.add_flow(&other_bot, "Welcome back", true);
    gw.reconcile().await;
    let agent = gw.agent().await;
    // Active flows only, searched by name, from every bot of the account.
    let mut found = agent.flows("WELCOME").await.unwrap();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["Welcome back", "Welcome offer"]);
    let id = found[1].id.clone();
    assert_eq!(id, format!("sp-{welcome}"));

    let subscriber = gw
        .ws()
        .store
        .chat(&chat)
        .unwrap()
        .unwrap()
        .chat
        .subscriber_id;
    let run = |flow: &str| Action::EditSubscriber {
        subscriber_id: subscriber.clone(),
        edit: SubscriberEdit {
            flow_id: Some(flow.to_owned()),
            ..Default::default()
        },
    };
    agent.run(&run(&id), "flow-1").await.unwrap();
    assert_eq!(
        gw.fake.with(|s| s.flows_run.clone()),
        [(contact.clone(), welcome.clone())]
    );
    // SendPulse cannot stop a flow; a flow of another bot is refused there.
    let stop = agent.run(&run(""), "flow-2").await.unwrap_err();
    assert_eq!(stop.code(), "not_supported", "{stop}");
    assert!(
        agent
            .run(&run(&format!("sp-{elsewhere}")), "flow-3")
            .await
            .is_err()
    );
    assert_eq!(gw.fake.with(|s| s.flows_run.len()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f5_f8_card_edits_go_through_sendpulse_and_reconcile_reads_the_card() {
    let gw = Gw::start().await;
    let (c, _chat) = one_chat(&gw, SpApp::Instagram).await;
    let agent = gw.agent().await;
    let sub = SubscriberId::from(format!("sp-{c}").as_str());
    let edit = |e: rapport_core::wire::SubscriberEdit, k: &'static str| {
        let agent = &agent;
        let sub = sub.clone();
        async move {
            agent
                .run(
                    &Action::EditSubscriber {
                        subscriber_id: sub,
                        edit: e,
                    },
                    k,
                )
                .await
        }
    };
    edit(
        rapport_core::wire::SubscriberEdit {
            variables: BTreeMap::from([("city".to_owned(), "Lyon".to_owned())]),
            add_tags: vec!["vip".into(), "new".into()],
            ..Default::default()
        },
        "f1",
    )
    .await
    .unwrap();
    let fc = gw.fake.contact(&c);
    assert_eq!(fc.tags, ["vip", "new"]);
    assert_eq!(fc.variables["city"], "Lyon");
    edit(
        rapport_core::wire::SubscriberEdit {
            remove_tags: vec!["new".into()],
            disable: true,
            ..Default::default()
        },
        "f2",
    )
    .await
    .unwrap();
    assert_eq!(gw.fake.contact(&c).tags, ["vip"]);
    assert_eq!(gw.fake.contact(&c).status, 3);
    let card = |gw: &Gw| gw.ws().store.subscriber(&sub).unwrap().unwrap();
    assert_eq!(card(&gw).tags, ["vip"]);
    assert_eq!(card(&gw).status, SubscriptionStatus::Disabled);
    // A flow (F6: SendPulse's ids are not the catalogue's) is refused.
    let r = edit(
        rapport_core::wire::SubscriberEdit {
            flow_id: Some("flow-1".into()),
            ..Default::default()
        },
        "f3",
    )
    .await;
    assert!(matches!(&r, Err(SyncError::Refused { code, .. }) if code.as_str() == "not_supported"));
    // Changed in SendPulse itself: the next pass brings the card along.
    gw.fake.with(|s| {
        let ct = s.contacts.get_mut(&c).unwrap();
        ct.tags.push("from-sendpulse".into());
        ct.variables.insert("plan".into(), serde_json::json!(3));
        ct.status = 1;
    });
    let head = gw.head();
    gw.reconcile().await;
    assert_eq!(gw.head(), head + 1, "one card event");
    let s = card(&gw);
    assert_eq!(s.tags, ["vip", "from-sendpulse"]);
    assert_eq!(s.variables.get("plan").map(String::as_str), Some("3"));
    assert_eq!(s.status, SubscriptionStatus::Active);
    let head = gw.head();
    gw.reconcile().await;
    assert_eq!(gw.head(), head);
}

// ---- E5 templates, E2 files ---------------------------------------------------------

/// A WhatsApp contact whose last message is two days old (the 24-hour
/// window closed), reconciled in: (bot, contact, chat).
async fn closed_whatsapp_chat(gw: &Gw) -> (String, String, ChatId) {
    let bot = gw.fake.add_bot(SpApp::Whatsapp, "Shop");
    let c = gw.fake.add_contact(&bot, "Ann");
    gw.fake.add_incoming_ago(&c, "hello?", 2 * 86_400_000);
    gw.reconcile().await;
    (bot, c.clone(), ChatId::from(format!("sp-{c}").as_str()))
}

fn template(chat: &ChatId, name: &str, id: &str) -> Action {
    Action::SendTemplate {
        chat_id: chat.clone(),
        name: name.into(),
        message_id: Some(MessageId::from(id)),
    }
}

fn content_of(gw: &Gw, chat: &ChatId, id: &str) -> Option<Content> {
    match gw
        .ws()
        .store
        .timeline_item(chat, &TimelineItemId::Message(MessageId::from(id)))
        .unwrap()
    {
        Some(TimelineItem::Message(m)) => Some(m.content),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_a_template_goes_out_on_a_closed_whatsapp_window_and_an_unknown_one_is_refused() {
    let gw = Gw::start().await;
    let (bot, c, chat) = closed_whatsapp_chat(&gw).await;
    gw.fake.add_template(
        &bot,
        "order_update",
        "en_US",
        "APPROVED",
        "Your order shipped",
    );
    gw.fake.add_template(&bot, "promo", "en", "PENDING", "Sale");
    let agent = gw.agent().await;
    let text = Action::SendText {
        chat_id: chat.clone(),
        text: "hi".into(),
        message_id: None,
    };
    let e = agent.run(&text, "t-0").await.unwrap_err();
    assert_eq!(e.code(), "window_closed", "{e}");
    agent
        .run(&template(&chat, "order_update", "echo-t1"), "t-1")
        .await
        .unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c), ["template:order_update"]);
    let sent = gw
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/contacts/sendTemplate"))
        .unwrap();
    let body = sent.body.unwrap();
    assert_eq!(body["template"]["language"]["code"], "en_US", "{body}");
    assert_eq!(
        content_of(&gw, &chat, "echo-t1"),
        Some(Content::Template {
            name: "order_update".into(),
            text: "Your order shipped".into()
        })
    );
    // No such template, and one not approved: refused, nothing sent,
    // no message.
    for (name, key) in [("no_such", "t-2"), ("promo", "t-3")] {
        let e = agent
            .run(&template(&chat, name, key), key)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "not_supported", "{name}: {e}");
        assert_eq!(content_of(&gw, &chat, key), None);
    }
    assert_eq!(gw.fake.outgoing_texts(&c).len(), 1);
    // The bot's list is kept, and read again on a miss only.
    let lists = gw.fake.count("/whatsapp/templates");
    agent
        .run(&template(&chat, "order_update", "echo-t4"), "t-4")
        .await
        .unwrap();
    assert_eq!(gw.fake.count("/whatsapp/templates"), lists, "kept");
    gw.fake
        .add_template(&bot, "new_one", "es", "APPROVED", "Hola");
    agent
        .run(&template(&chat, "new_one", "echo-t5"), "t-5")
        .await
        .unwrap();
    assert_eq!(gw.fake.count("/whatsapp/templates"), lists + 1);
    // A reconcile pass adds nothing: each template is the agent's message.
    gw.reconcile().await;
    let out: Vec<_> = gw
        .messages(&c)
        .into_iter()
        .filter(|(_, inbound, _)| !inbound)
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(out, ["echo-t1", "echo-t4", "echo-t5"]);
}

/// E5: a phone of a linked workspace, told templates are offered, is
/// offered one where a WhatsApp window has closed (`Client::decide`).
#[test]
fn e5_a_phone_of_a_linked_workspace_is_offered_a_template_when_the_window_closed() {
    use rapport_core::policy::{Decision, Outgoing, window::Alternative};
    let rt = rapport_tests::runtime();
    let gw = rt.block_on(Gw::start());
    let (_, _, chat) = rt.block_on(closed_whatsapp_chat(&gw));
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(rapport_core::session::FileSecretStore::new(
        dir.path().join("secrets.json"),
    ));
    let c = rapport_core::Client::open(
        rapport_core::ClientConfig {
            store_path: dir.path().join("rapport.db"),
            server_url: gw.server.url(),
        },
        secrets,
    )
    .unwrap();
    rt.block_on(c.login("u0@sp.test", PASSWORD)).unwrap();
    assert!(c.capabilities().templates);
    c.start_sync().unwrap();
    wait_until("the chat and its last message", 20, || {
        c.chat(&chat)
            .unwrap()
            .is_some_and(|s| s.chat.last_inbound_at.is_some())
    });
    match c.decide(&chat, &Outgoing::Text("hi")).unwrap() {
        Decision::Refused { instead, .. } => {
            assert_eq!(instead, [Alternative::WhatsappTemplate])
        }
        other => panic!("{other:?}"),
    }
    drop(c);
    drop(gw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_e7_a_template_whose_answer_is_lost_is_found_not_sent_twice() {
    let gw = Gw::start().await;
    let (bot, c, chat) = closed_whatsapp_chat(&gw).await;
    gw.fake
        .add_template(&bot, "order_update", "en_US", "APPROVED", "Shipped");
    let agent = gw.agent().await;
    gw.fake
        .fail_next("/contacts/sendTemplate", Fault::DropAfterAccept);
    let send = template(&chat, "order_update", "echo-lost");
    agent.run(&send, "k-lost").await.unwrap();
    agent.run(&send, "k-lost").await.unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c), ["template:order_update"]);
    let out: Vec<_> = gw
        .messages(&c)
        .into_iter()
        .filter(|(_, inbound, _)| !inbound)
        .collect();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        content_of(&gw, &chat, "echo-lost"),
        Some(Content::Template {
            name: "order_update".into(),
            text: "Shipped".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_a_messenger_tag_goes_out_as_human_agent_after_the_window() {
    let gw = Gw::start().await;
    let bot = gw.fake.add_bot(SpApp::Messenger, "Shop");
    let c = gw.fake.add_contact(&bot, "Ann");
    gw.fake.add_incoming_ago(&c, "hello?", 2 * 86_400_000);
    gw.reconcile().await;
    let chat = ChatId::from(format!("sp-{c}").as_str());
    let agent = gw.agent().await;
    let tagged = Action::SendTagged {
        chat_id: chat.clone(),
        tag: rapport_core::policy::window::MessageTag::HumanAgent,
        text: "Sorry for the wait".into(),
        message_id: Some(MessageId::from("echo-tag")),
    };
    agent.run(&tagged, "k-tag").await.unwrap();
    assert_eq!(gw.fake.outgoing_texts(&c), ["Sorry for the wait"]);
    let body = gw
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/contacts/send"));
    let body = body.unwrap().body.unwrap();
    assert_eq!(body["message"]["type"], "MESSAGE_TAG");
    assert_eq!(body["message"]["tag"], "HUMAN_AGENT");
}

fn png(len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let mut rng = fastrand::Rng::with_seed(len as u64);
    b.extend((b.len()..len).map(|_| rng.u8(..)));
    b
}

fn pdf(len: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.4\n".to_vec();
    let mut rng = fastrand::Rng::with_seed(len as u64);
    b.extend((b.len()..len).map(|_| rng.u8(..)));
    b
}

/// An upload of `bytes` as `name`, complete.
async fn upload(
    b: &RapportBackend,
    id: &str,
    name: &str,
    bytes: &[u8],
) -> rapport_core::wire::UploadRef {
    use sha2::Digest;
    let up = rapport_core::wire::UploadRef {
        id: id.into(),
        name: name.into(),
        size_bytes: bytes.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
    };
    let at = b.upload_open(&up).await.unwrap();
    b.upload_part(&up.id, at, bytes.to_vec()).await.unwrap();
    up
}

fn attach(
    chat: &ChatId,
    up: &rapport_core::wire::UploadRef,
    caption: Option<&str>,
    id: &str,
) -> Action {
    Action::SendAttachment {
        chat_id: chat.clone(),
        upload: up.clone(),
        caption: caption.map(str::to_owned),
        message_id: Some(MessageId::from(id)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2_files_go_to_sendpulse_by_a_url_it_downloads_byte_equal_in_each_apps_shape() {
    let gw = Gw::start().await;
    // Without the server's public URL, linked workspaces send no files.
    let agent = gw.agent().await;
    assert!(!agent.capabilities().files);
    gw.server
        .state
        .gateway
        .set_public_url(Some(&gw.server.url()))
        .unwrap();
    let agent = gw.agent().await;
    assert!(agent.capabilities().files);
    for (i, (app, name, bytes, caption, field)) in [
        (
            SpApp::Telegram,
            "photo.png",
            png(3000),
            Some("look"),
            "/message/photo",
        ),
        (
            SpApp::Telegram,
            "notes.pdf",
            pdf(3500),
            None,
            "/message/document",
        ),
        (
            SpApp::Whatsapp,
            "invoice.pdf",
            pdf(4000),
            Some("your invoice"),
            "/message/document/link",
        ),
        (
            SpApp::Messenger,
            "photo.png",
            png(2000),
            None,
            "/message/img",
        ),
        (
            SpApp::Instagram,
            "photo.png",
            png(2500),
            None,
            "/messages/0/message/attachment/payload/url",
        ),
        (
            SpApp::Viber,
            "photo.png",
            png(1500),
            None,
            "/messages/0/image/file/path",
        ),
        (
            SpApp::Livechat,
            "notes.pdf",
            pdf(1000),
            None,
            "/messages/0/document/file/path",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (c, chat) = one_chat(&gw, app).await;
        let up = upload(&agent, &format!("up-{i}"), name, &bytes).await;
        let id = format!("echo-f{i}");
        agent
            .run(&attach(&chat, &up, caption, &id), &format!("f-{i}"))
            .await
            .unwrap_or_else(|e| panic!("{app:?}: {e}"));
        let got = gw.fake.with(|s| s.fetched.last().cloned()).unwrap();
        assert_eq!(got.contact_id, c, "{app:?}");
        assert!(
            got.bytes == bytes,
            "{app:?}: SendPulse downloaded the file as uploaded"
        );
        let sent = gw
            .fake
            .requests()
            .into_iter()
            .rfind(|r| r.path.ends_with("/contacts/send"));
        let body = sent.unwrap().body.unwrap();
        assert_eq!(
            body.pointer(field).and_then(Value::as_str),
            Some(got.url.as_str()),
            "{app:?}: {body}"
        );
        match content_of(&gw, &chat, &id) {
            Some(Content::Attachment(a)) => {
                assert_eq!((a.name.as_str(), a.caption.as_deref()), (name, caption));
                assert_eq!(a.size_bytes, bytes.len() as u64);
            }
            other => panic!("{app:?}: {other:?}"),
        }
        assert_eq!(gw.fake.history(&c).iter().filter(|m| m.1 == 2).count(), 1);
    }
    // The URL serves that file to anyone holding it, and nothing else: a
    // wrong MAC, another upload, an expired URL are 404s.
    let url = gw.fake.with(|s| s.fetched[0].url.clone());
    let get = |u: String| async move {
        let r = reqwest::get(&u).await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    };
    assert_eq!(get(url.clone()).await, (200, png(3000)));
    let mut bad = url.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    assert_eq!(get(bad).await.0, 404);
    assert_eq!(get(url.replace("/up-0/", "/up-1/")).await.0, 404);
    let now = gw.server.state.hub.now().0;
    let gwy = &gw.server.state.gateway;
    let fresh = gateway::files::url(gwy, WS, "up-0", now).unwrap();
    assert_eq!(get(fresh).await.0, 200);
    let old = gateway::files::url(
        gwy,
        WS,
        "up-0",
        now - gateway::files::FILE_URL_TTL_MS - 1_000,
    )
    .unwrap();
    assert_eq!(get(old).await.0, 404);
    // What an app's send cannot take is refused before anything is
    // recorded or sent: a document on Viber, a caption on Instagram.
    let (vc, viber) = one_chat(&gw, SpApp::Viber).await;
    let up = upload(&agent, "up-doc", "notes.pdf", &pdf(900)).await;
    let e = agent
        .run(&attach(&viber, &up, None, "echo-v"), "f-v")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_supported", "{e}");
    let (_, insta) = one_chat(&gw, SpApp::Instagram).await;
    let up = upload(&agent, "up-cap", "photo.png", &png(900)).await;
    let e = agent
        .run(&attach(&insta, &up, Some("hi"), "echo-i"), "f-i")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_supported", "{e}");
    assert!(gw.fake.outgoing_texts(&vc).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2_e7_a_file_whose_answer_is_lost_is_found_by_its_url_not_sent_twice() {
    let gw = Gw::start().await;
    gw.server
        .state
        .gateway
        .set_public_url(Some(&gw.server.url()))
        .unwrap();
    let (c, chat) = one_chat(&gw, SpApp::Telegram).await;
    let agent = gw.agent().await;
    let up = upload(&agent, "up-lost", "photo.png", &png(2000)).await;
    gw.fake.fail_next("/contacts/send", Fault::DropAfterAccept);
    let send = attach(&chat, &up, Some("look"), "echo-lost-file");
    agent.run(&send, "k-file").await.unwrap();
    agent.run(&send, "k-file").await.unwrap();
    assert_eq!(gw.fake.with(|s| s.fetched.len()), 1, "downloaded once");
    // The answer lost and the lookups failing: the command fails
    // retryably, and its retry with the same key finds the file by the URL
    // it was recorded with, not sending it again.
    let up = upload(&agent, "up-lost-2", "photo.png", &png(2100)).await;
    lose_the_answer_and_the_lookups(&gw.fake);
    let send = attach(&chat, &up, None, "echo-lost-file-2");
    let first = agent.run(&send, "k-file-2").await;
    assert!(matches!(first, Err(SyncError::Server(_))), "{first:?}");
    gw.fake.with(|s| s.faults.clear());
    tokio::time::sleep(Duration::from_millis(5)).await;
    agent.run(&send, "k-file-2").await.unwrap();
    assert_eq!(
        gw.fake.with(|s| s.fetched.len()),
        2,
        "each file downloaded once"
    );
    let out: Vec<_> = gw
        .messages(&c)
        .into_iter()
        .filter(|(_, inbound, _)| !inbound)
        .collect();
    assert_eq!(out.len(), 2, "{out:?}");
    for id in ["echo-lost-file", "echo-lost-file-2"] {
        assert!(matches!(
            content_of(&gw, &chat, id),
            Some(Content::Attachment(_))
        ));
    }
}

// ---- C1 notes, I1 statistics ------------------------------------------------------

/// A chat's notes in the gateway's workspace: (id, author, text).
fn notes_of(gw: &Gw, chat: &ChatId) -> Vec<(String, String, String)> {
    gw.ws()
        .store
        .timeline_page(chat, None, u32::MAX)
        .unwrap()
        .items
        .into_iter()
        .filter_map(|i| match i {
            TimelineItem::Note(n) => Some((n.id.0, n.author.0, n.text)),
            _ => None,
        })
        .collect()
}

fn add_note(chat: &ChatId, text: &str) -> Action {
    Action::AddNote {
        chat_id: chat.clone(),
        text: text.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_an_agents_note_goes_to_sendpulse_and_only_its_author_edits_or_deletes_it() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Telegram).await;
    let agent = gw.agent().await;
    let saved = agent
        .run(&add_note(&chat, "VIP: call back"), "note-1")
        .await
        .unwrap();
    let id = NoteId::from(saved["note"]["id"].as_str().unwrap());
    let at_sendpulse = gw.fake.notes(&c);
    assert_eq!(at_sendpulse.len(), 1);
    assert_eq!(at_sendpulse[0].1, "VIP: call back");
    assert_eq!(
        notes_of(&gw, &chat),
        [(id.0.clone(), "u0".into(), "VIP: call back".into())]
    );
    // The same key: the first answer, nothing written again.
    agent
        .run(&add_note(&chat, "VIP: call back"), "note-1")
        .await
        .unwrap();
    assert_eq!(gw.fake.notes(&c).len(), 1);
    // C1's limit holds before SendPulse is asked.
    let long = agent
        .run(&add_note(&chat, &"x".repeat(2001)), "note-2")
        .await
        .unwrap_err();
    assert!(matches!(long, SyncError::Refused { .. }), "{long}");
    assert_eq!(gw.fake.notes(&c).len(), 1);

    // Another member cannot change it, here or there.
    let other = RapportBackend::new(&gw.server.url(), Arc::new(ServerClock::default())).unwrap();
    other.login("u1@sp.test", PASSWORD).await.unwrap();
    let edit = |text: &str| Action::EditNote {
        chat_id: chat.clone(),
        note_id: id.clone(),
        text: text.into(),
    };
    assert!(other.run(&edit("mine now"), "e-1").await.is_err());
    assert_eq!(gw.fake.notes(&c)[0].1, "VIP: call back");

    // The author's edit and delete go to the same SendPulse note.
    agent
        .run(&edit("VIP: called, all good"), "e-2")
        .await
        .unwrap();
    assert_eq!(gw.fake.notes(&c)[0].1, "VIP: called, all good");
    assert_eq!(notes_of(&gw, &chat)[0].2, "VIP: called, all good");
    // Reading the notes back changes nothing.
    gw.fake.add_incoming(&c, "thanks");
    gw.reconcile().await;
    assert_eq!(notes_of(&gw, &chat).len(), 1);
    assert_eq!(notes_of(&gw, &chat)[0].2, "VIP: called, all good");
    let delete = Action::DeleteNote {
        chat_id: chat.clone(),
        note_id: id.clone(),
    };
    assert!(other.run(&delete, "d-1").await.is_err());
    assert_eq!(gw.fake.notes(&c).len(), 1);
    agent.run(&delete, "d-2").await.unwrap();
    assert!(gw.fake.notes(&c).is_empty());
    assert!(notes_of(&gw, &chat).is_empty());
    let head = gw.head();
    gw.fake.add_incoming(&c, "bye");
    gw.reconcile().await;
    assert!(notes_of(&gw, &chat).is_empty());
    assert_eq!(gw.head(), head + 1, "only the new message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_e7_a_note_whose_answer_is_lost_is_written_once() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Whatsapp).await;
    let agent = gw.agent().await;
    // Written, the answer lost: the contact's notes are read and it is
    // found there, under the agent's note id.
    gw.fake
        .fail_next("/contacts/createNote", Fault::DropAfterAccept);
    let saved = agent
        .run(&add_note(&chat, "asked for a refund"), "lost-1")
        .await
        .unwrap();
    let id = saved["note"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("n-"), "{id}");
    assert_eq!(gw.fake.notes(&c).len(), 1);
    assert_eq!(notes_of(&gw, &chat).len(), 1);

    // Written, the answer lost and the notes unreadable meanwhile: no
    // second write; the phone's retry with the same key looks first.
    gw.fake
        .fail_next("/contacts/createNote", Fault::DropAfterAccept);
    for _ in 0..8 {
        gw.fake
            .fail_next("/contacts/notes", Fault::Status(500, None));
    }
    let e = agent
        .run(&add_note(&chat, "second thought"), "lost-2")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "server_error", "a 503: {e}");
    assert_eq!(gw.fake.notes(&c).len(), 2);
    let saved = agent
        .run(&add_note(&chat, "second thought"), "lost-2")
        .await
        .unwrap();
    assert_eq!(gw.fake.notes(&c).len(), 2, "written once");
    let second = saved["note"]["id"].as_str().unwrap().to_owned();
    let ours = notes_of(&gw, &chat);
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(
        ours.iter()
            .any(|(i, a, t)| i == &second && a == "u0" && t == "second thought")
    );
    // The mapping holds: an edit reaches the note written after the loss.
    agent
        .run(
            &Action::EditNote {
                chat_id: chat.clone(),
                note_id: NoteId::from(second.as_str()),
                text: "second thought, edited".into(),
            },
            "lost-3",
        )
        .await
        .unwrap();
    assert_eq!(gw.fake.notes(&c)[1].1, "second thought, edited");
    assert_eq!(gw.fake.notes(&c)[0].1, "asked for a refund");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_notes_written_in_sendpulse_reach_the_workspace_with_the_chats_history() {
    let gw = Gw::start().await;
    let (c, chat) = one_chat(&gw, SpApp::Instagram).await;
    let note = gw.fake.add_note(&c, "written in SendPulse");
    gw.fake.add_incoming(&c, "still there?");
    let before = gw.fake.count("/contacts/notes");
    let pass = gw.reconcile().await;
    assert_eq!(pass.histories, 1);
    assert_eq!(
        gw.fake.count("/contacts/notes") - before,
        1,
        "one read per history"
    );
    assert_eq!(
        notes_of(&gw, &chat),
        [(
            format!("sp-{note}"),
            "sendpulse".into(),
            "written in SendPulse".into()
        )]
    );
    // A pass with nothing new reads no notes.
    let before = gw.fake.count("/contacts/notes");
    let pass = gw.reconcile().await;
    assert_eq!((pass.histories, pass.events), (0, 0));
    assert_eq!(gw.fake.count("/contacts/notes"), before);
    // Edited, then deleted in SendPulse: the chat's next history read
    // brings each along.
    gw.fake
        .with(|s| s.notes[0].text = "edited in SendPulse".into());
    gw.fake.add_incoming(&c, "hello again");
    gw.reconcile().await;
    assert_eq!(notes_of(&gw, &chat)[0].2, "edited in SendPulse");
    gw.fake.with(|s| s.notes.clear());
    gw.fake.add_incoming(&c, "anyone?");
    gw.reconcile().await;
    assert!(notes_of(&gw, &chat).is_empty());
    // An agent cannot edit a note SendPulse's team wrote (C1: the author's).
    let n2 = gw.fake.add_note(&c, "team note");
    gw.fake.add_incoming(&c, "and now?");
    gw.reconcile().await;
    let agent = gw.agent().await;
    let edit = Action::EditNote {
        chat_id: chat.clone(),
        note_id: NoteId::from(format!("sp-{n2}").as_str()),
        text: "mine".into(),
    };
    assert!(agent.run(&edit, "e-1").await.is_err());
    assert_eq!(gw.fake.notes(&c)[0].1, "team note");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i1_stats_of_a_linked_workspace_are_sendpulses_sent_and_subscribers() {
    let gw = Gw::start().await;
    let (c, _) = one_chat(&gw, SpApp::Telegram).await;
    let bot = gw.fake.contact(&c).bot_id;
    let c2 = gw.fake.add_contact(&bot, "Bob");
    gw.fake.add_incoming(&c2, "hi");
    gw.fake.add_incoming(&c2, "anyone?");
    gw.fake.add_outgoing(&c2, "Welcome!");
    let (w, _) = one_chat(&gw, SpApp::Whatsapp).await;
    let wbot = gw.fake.contact(&w).bot_id;
    gw.fake
        .with(|s| s.contacts.get_mut(&c2).unwrap().status = 2);
    gw.reconcile().await;
    // Sent by a flow and never mirrored (no webhook, no pass since).
    gw.fake.add_outgoing(&c, "Flow says hi");
    let agent = gw.agent().await;
    agent
        .run(
            &Action::SendText {
                chat_id: ChatId::from(format!("sp-{w}").as_str()),
                text: "On it".into(),
                message_id: None,
            },
            "s-1",
        )
        .await
        .unwrap();
    let stats = agent.stats().await.unwrap();
    let of = |id: &str| {
        stats
            .bots
            .iter()
            .find(|b| b.bot_id.as_ref().map(|b| b.as_str()) == Some(id))
            .cloned()
            .unwrap()
    };
    for (b, received) in [(&bot, 3), (&wbot, 1)] {
        let (subscribers, _, sent) = gw.fake.bot_statistics(b);
        let got = of(&format!("sp-{b}"));
        assert_eq!(
            (got.sent, got.received, got.subscribers),
            (sent, received, subscribers),
            "{b}"
        );
    }
    // SendPulse's figures, not the mirror's: the flow's message counts.
    assert_eq!(of(&format!("sp-{bot}")).sent, 2);
    assert_eq!(
        of(&format!("sp-{bot}")).subscribers,
        2,
        "unsubscribed ones too"
    );
    let total = &stats.bots[0];
    assert_eq!(total.bot_id, None);
    assert_eq!((total.sent, total.received, total.subscribers), (3, 4, 3));
    assert_eq!(stats.seq.0, gw.head());
    // Phones refreshing within the minute reuse SendPulse's answer.
    let asked = gw.fake.count("/bots/statistics");
    assert_eq!(asked, 2, "one per bot");
    gw.fake.add_outgoing(&c, "Another flow message");
    assert_eq!(agent.stats().await.unwrap().bots, stats.bots);
    assert_eq!(gw.fake.count("/bots/statistics"), asked);
    // Once the figures are old, SendPulse is asked again.
    gw.server.state.gateway.set_stats_ttl(Duration::ZERO);
    let again = agent.stats().await.unwrap();
    assert_eq!(gw.fake.count("/bots/statistics"), asked + 2);
    assert_eq!(again.bots[0].sent, 4);
}

// ---- contract ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_every_request_of_the_gateway_validates_against_the_subset() {
    let contract = contract::Contract::load();
    let gw = Gw::start().await;
    let mut chats = Vec::new();
    for app in [
        SpApp::Telegram,
        SpApp::Whatsapp,
        SpApp::Messenger,
        SpApp::Viber,
    ] {
        chats.push(one_chat(&gw, app).await);
    }
    let agent = gw.agent().await;
    for (i, (_, chat)) in chats.iter().enumerate() {
        let k = |s: &str| format!("{s}-{i}");
        for (a, key) in [
            (
                Action::SendText {
                    chat_id: chat.clone(),
                    text: "hi".into(),
                    message_id: None,
                },
                k("s"),
            ),
            (
                Action::MarkRead {
                    chat_id: chat.clone(),
                },
                k("r"),
            ),
            (
                Action::Open {
                    chat_id: chat.clone(),
                },
                k("o"),
            ),
            (
                Action::Close {
                    chat_id: chat.clone(),
                },
                k("c"),
            ),
            (
                Action::Assign {
                    chat_id: chat.clone(),
                    member_id: Some(MemberId::from("u0")),
                },
                k("a"),
            ),
            (
                Action::Assign {
                    chat_id: chat.clone(),
                    member_id: None,
                },
                k("u"),
            ),
            (
                Action::Pause {
                    chat_id: chat.clone(),
                    action: PauseAction::Extend,
                },
                k("p"),
            ),
            (
                Action::Pause {
                    chat_id: chat.clone(),
                    action: PauseAction::Continue,
                },
                k("d"),
            ),
            (
                Action::EditSubscriber {
                    subscriber_id: SubscriberId::from(chat.as_str()),
                    edit: rapport_core::wire::SubscriberEdit {
                        variables: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
                        add_tags: vec!["t".into()],
                        remove_tags: vec!["t".into()],
                        disable: true,
                        ..Default::default()
                    },
                },
                k("f"),
            ),
            (add_note(chat, "note"), k("n")),
        ] {
            agent.run(&a, &key).await.unwrap();
        }
    }
    agent.stats().await.unwrap();
    gw.fake
        .fail_next("/contacts/sendText", Fault::DropAfterAccept);
    agent
        .run(
            &Action::SendText {
                chat_id: chats[0].1.clone(),
                text: "lost".into(),
                message_id: None,
            },
            "lost",
        )
        .await
        .unwrap();
    // E5 and E2.
    let (bot, _, wa) = closed_whatsapp_chat(&gw).await;
    gw.fake.add_template(&bot, "t", "en", "APPROVED", "x");
    agent
        .run(&template(&wa, "t", "tpl-1"), "tpl")
        .await
        .unwrap();
    gw.server
        .state
        .gateway
        .set_public_url(Some(&gw.server.url()))
        .unwrap();
    let agent = gw.agent().await;
    for (i, (_, chat)) in chats.iter().enumerate() {
        let up = upload(&agent, &format!("c-{i}"), "photo.png", &png(700)).await;
        agent
            .run(
                &attach(chat, &up, None, &format!("cf-{i}")),
                &format!("cf-{i}"),
            )
            .await
            .unwrap();
    }
    let requests = gw.fake.requests();
    assert!(requests.len() > 50);
    for r in &requests {
        if let Err(e) = contract.validate(r) {
            panic!("a request of the gateway outside the contract: {e}\n{r:?}");
        }
    }
}

// ---- capabilities -----------------------------------------------------------------

/// Issue 17: a phone logged in to a linked workspace is told what SendPulse
/// cannot do (the login's `unsupported`), keeps it with its saved session,
/// and hides it; a phone of a plain workspace on the same server sees
/// everything.
#[test]
fn b6_b8_capabilities_a_linked_workspace_tells_its_phones_what_sendpulse_cannot_do() {
    use rapport_core::sync::Capabilities;
    let rt = rapport_tests::runtime();
    let gw = rt.block_on(Gw::start());
    let state = gw.server.state.clone();
    let hub = &state.hub;
    let plain = hub.create_workspace("plain", "Plain").unwrap();
    let m = Member {
        id: MemberId::from("p0"),
        name: "Agent p0".into(),
        avatar_url: None,
        role: "Agent".into(),
        conversations_access: true,
    };
    hub.add_account(&plain, "p0@plain.test", PASSWORD, m)
        .unwrap();
    let everything = Capabilities {
        live_stream: true,
        edit_delete: true,
        quotes: true,
        idempotency: true,
        files: true,
        reactions: true,
        templates: true,
        flows: true,
        deals: true,
        notes: true,
    };
    // E5 templates are offered; E2 files only with the server's public
    // URL (none here).
    let sendpulse = Capabilities {
        edit_delete: false,
        quotes: false,
        files: false,
        deals: false,
        ..everything
    };

    // Through the app's client: after the login, and reopened on the
    // session it saved (no login).
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let secrets = Arc::new(rapport_core::session::FileSecretStore::new(
            dir.path().join("secrets.json"),
        ));
        rapport_core::Client::open(
            rapport_core::ClientConfig {
                store_path: dir.path().join("rapport.db"),
                server_url: gw.server.url(),
            },
            secrets,
        )
        .unwrap()
    };
    let c = open();
    rt.block_on(c.login("u0@sp.test", PASSWORD)).unwrap();
    assert_eq!(c.capabilities(), sendpulse);
    // What it lacks is refused on the phone, with the feature named, and
    // nothing is queued for SendPulse to refuse.
    let not_offered = |feature: &str| {
        rapport_core::ClientError::Refused(rapport_core::policy::Refusal::NotOffered {
            feature: feature.into(),
        })
        .to_string()
    };
    let delete = Action::DeleteMessage {
        chat_id: ChatId::from("sp-any"),
        message_id: MessageId::from("m1"),
    };
    let refused = c.check_action(&delete).unwrap_err().to_string();
    assert_eq!(refused, not_offered("edit_delete"));
    let deal = Action::EditDeal {
        deal_id: DealId::from("d1"),
        stage: None,
        name: Some("Renewal".into()),
        amount_minor: None,
    };
    let refused = c.run_action(deal).unwrap_err().to_string();
    assert_eq!(refused, not_offered("deals"));
    assert!(c.outbox().unwrap().is_empty(), "nothing queued");
    drop(c);
    let c = open();
    assert!(c.login_info().is_some(), "the saved session");
    assert_eq!(c.capabilities(), sendpulse);
    drop(c);

    // A plain workspace's phone, and its refresh keeps it so.
    let b = RapportBackend::new(&gw.server.url(), Arc::new(ServerClock::default())).unwrap();
    let s = rt.block_on(b.login("p0@plain.test", PASSWORD)).unwrap();
    assert!(s.unsupported.is_empty());
    assert_eq!(b.capabilities(), everything);
    rt.block_on(b.refresh(&s.refresh_token)).unwrap();
    assert_eq!(b.capabilities(), everything);
    assert!(!rt.block_on(b.flows("")).unwrap().is_empty(), "F6 flows");
    // The linked workspace's refresh tells it again.
    let b = rt.block_on(gw.agent());
    assert_eq!(b.capabilities(), sendpulse);
    // Its flows are SendPulse's (none here), not the server's own catalogue.
    assert_eq!(rt.block_on(b.flows("")).unwrap(), Vec::new());
    let rt_token = {
        let s = rt.block_on(b.login("u0@sp.test", PASSWORD)).unwrap();
        assert_eq!(s.unsupported, state.gateway.unsupported());
        assert!(s.unsupported.iter().any(|n| n == "files"));
        s.refresh_token
    };
    let again = rt.block_on(b.refresh(&rt_token)).unwrap();
    assert_eq!(again.unsupported, state.gateway.unsupported());
    assert_eq!(b.capabilities(), sendpulse);
    drop(gw);
}

// ---- figures ------------------------------------------------------------------------

/// `cargo test -p rapport-tests --release --test gateway -- --ignored --nocapture
/// reconcile_figure`: an account of 1,000 chats (3 messages each) reconciled
/// from empty, its time and requests per chat; then a pass with nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, not a check"]
async fn reconcile_figure_1000_chats_from_empty() {
    let gw = Gw::start().await;
    let mut t = gw.server.state.gateway.tuning();
    t.page_size = 100;
    gw.server.state.gateway.set_tuning(t);
    let bots: Vec<String> = [SpApp::Telegram, SpApp::Whatsapp, SpApp::Instagram]
        .into_iter()
        .map(|a| gw.fake.add_bot(a, "B"))
        .collect();
    for i in 0..1000 {
        let c = gw.fake.add_contact(&bots[i % 3], &format!("C{i}"));
        gw.fake.add_incoming(&c, "hi");
        gw.fake.add_outgoing(&c, "hello");
        gw.fake.add_incoming(&c, "thanks");
    }
    let t = Instant::now();
    let r = gw.reconcile().await;
    let took = t.elapsed();
    gw.converged().unwrap();
    let t = Instant::now();
    let again = gw.reconcile().await;
    eprintln!(
        "reconcile 1000 chats from empty: {took:?}, {} requests ({:.2} per chat), {} events; \
         steady pass: {:?}, {} requests",
        r.requests,
        r.requests as f64 / 1000.0,
        r.events,
        t.elapsed(),
        again.requests
    );
}
