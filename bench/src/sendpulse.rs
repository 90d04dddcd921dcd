//! Gateway figures (issue 17): rapport-server linked to the fake SendPulse
//! (`rapport_tests::fake_sendpulse`, loopback), the server on its own
//! 2-worker runtime, the fake and the phone on another.
//!
//! - `sendpulse_webhook_to_phone_p99_ms`: a webhook POSTed to the server
//!   until the phone's chat list (a live client, `subscribe_chat_list`)
//!   shows the message in a diff. Baseline: the same path for a
//!   Rapport-native message emitted into the hub (live stream, apply, list
//!   diff), interleaved with the webhooks in the same run, so the ratio is
//!   what the gateway adds (the HTTP hop in, the inbox, the worker, the
//!   mapping to events).
//! - `sendpulse_reconcile_s`: an account of `chats` chats (3 messages each,
//!   over 3 bots) reconciled into an empty workspace. Baseline: the same
//!   reads (dialogs, bots, chats per bot, every history) through a bare
//!   SendPulse client with nothing applied: the fake's own answer time.
//! - `sendpulse_reconcile_requests_per_chat`: that pass's requests to
//!   SendPulse per chat, against the bare reads' count.

use crate::{PASSWORD, Res, emit, local_server, ms, percentile};
use rapport_core::generate::{me, text_message};
use rapport_core::model::{
    App, BotId, Chat, ChatId, ChatKind, ChatState, EventPayload, MessageId, Sender, SubscriberId,
};
use rapport_core::observe::{ListDiff, Observer};
use rapport_core::store::{ChatFilter, Store};
use rapport_core::sync::{RapportBackend, SyncEngine};
use rapport_core::timers::ServerClock;
use rapport_sendpulse::App as SpApp;
use rapport_server::gateway::{self, NewLink, seal::ServerKey};
use rapport_tests::fake_sendpulse::FakeSendPulse;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ID: &str = "bench-client-id";
const SECRET: &str = "bench-client-secret";
/// Chats of each kind on the phone's list (both kinds fit its window of 50).
const CHATS: usize = 20;

pub fn run(dir: &Path, runs: usize, chats: usize) -> Res<()> {
    let server_rt = crate::runtime(2)?;
    let client_rt = crate::runtime(2)?;
    rapport_core::sync::install_crypto();
    let server = server_rt.block_on(local_server(dir.join("sendpulse-server.db")))?;
    server.state.gateway.set_key(ServerKey::from_bytes([7; 32]));
    let state = server.state.clone();

    // A workspace linked to a fake account; the hook's URL.
    let link = |fake: &FakeSendPulse, ws: &str| -> Res<String> {
        crate::agent_workspace(&state.hub, ws, me())?;
        let secret = state.gateway.link(
            &state.hub,
            &NewLink {
                workspace: ws.into(),
                base_url: fake.url.clone(),
                client_id: ID.into(),
                client_secret: SECRET.into(),
                operators: BTreeMap::new(),
            },
        )?;
        Ok(format!("{}{}", server.url(), gateway::hook_path(&secret)))
    };

    // --- webhook to the phone's list ---
    let fake = client_rt.block_on(FakeSendPulse::start(ID, SECRET));
    let hook = link(&fake, "live")?;
    let (webhook, native) = client_rt.block_on(latency(
        &server,
        &fake,
        &hook,
        &dir.join("sendpulse-phone.db"),
        runs,
    ))?;
    emit(
        "sendpulse_webhook_to_phone_p99_ms",
        percentile(webhook.clone(), 0.99),
        Some(percentile(native.clone(), 0.99)),
    );
    eprintln!(
        "rapport-bench sendpulse: {runs} webhooks to the phone's list, median {:.1} ms \
         (native events {:.1} ms)",
        crate::median(webhook),
        crate::median(native)
    );
    drop(fake);

    // --- an account of `chats` chats reconciled from empty ---
    let big = client_rt.block_on(FakeSendPulse::start(ID, SECRET));
    let bots: Vec<String> = [SpApp::Telegram, SpApp::Whatsapp, SpApp::Instagram]
        .into_iter()
        .map(|a| big.add_bot(a, "Bot"))
        .collect();
    for i in 0..chats {
        let c = big.add_contact(&bots[i % bots.len()], &format!("Contact {i}"));
        big.add_incoming(&c, "hi");
        big.add_outgoing(&c, "hello, how can we help?");
        big.add_incoming(&c, "thanks");
    }
    link(&big, "big")?;
    let (reads_s, reads) = client_rt.block_on(bare_reads(&big.url))?;
    let t = Instant::now();
    let pass = server_rt.block_on(gateway::reconcile::pass(&server.state, "big"))?;
    let took = t.elapsed().as_secs_f64();
    if pass.chats != chats || pass.histories != chats {
        return Err(format!(
            "reconciled {} chats and {} histories of {chats}",
            pass.chats, pass.histories
        )
        .into());
    }
    let t = Instant::now();
    let steady = server_rt.block_on(gateway::reconcile::pass(&server.state, "big"))?;
    let steady_ms = ms(t.elapsed());
    emit("sendpulse_reconcile_s", took, Some(reads_s));
    emit(
        "sendpulse_reconcile_requests_per_chat",
        pass.requests as f64 / chats as f64,
        Some(reads as f64 / chats as f64),
    );
    eprintln!(
        "rapport-bench sendpulse: {chats} chats reconciled from empty in {took:.2} s, {} requests, \
         {} events; a pass with nothing new: {steady_ms:.0} ms, {} requests, {} events",
        pass.requests, pass.events, steady.requests, steady.events
    );
    drop(big);
    drop(server);
    Ok(())
}

/// Interleaved samples (ms): a webhook's message to the list diff that
/// shows it, and a native message's emit to its diff.
async fn latency(
    server: &rapport_server::RunningServer,
    fake: &FakeSendPulse,
    hook: &str,
    phone_db: &Path,
    runs: usize,
) -> Res<(Vec<f64>, Vec<f64>)> {
    let hub = &server.state.hub;
    let ws = hub.workspace("live").ok_or("no workspace")?;
    let http = reqwest::Client::new();
    let bot = fake.add_bot(SpApp::Telegram, "Live");
    let contacts: Vec<String> = (0..CHATS)
        .map(|i| fake.add_contact(&bot, &format!("Contact {i}")))
        .collect();
    // The chats exist before the phone syncs: one webhook each, and native
    // chats of the same workspace.
    let before = server.state.gateway.stats().bodies;
    for c in &contacts {
        let m = fake.add_incoming(c, "hello");
        post(&http, hook, fake.message_item(&m)).await?;
    }
    let now = hub.now();
    let natives: Vec<ChatId> = (0..CHATS).map(|i| ChatId(format!("native-{i}"))).collect();
    {
        let (st, ws, natives) = (server.state.clone(), ws.clone(), natives.clone());
        tokio::task::spawn_blocking(move || {
            let chats = natives.iter().map(|id| {
                EventPayload::ChatUpserted(Chat {
                    id: id.clone(),
                    bot_id: BotId::from("native-bot"),
                    app: App::Telegram,
                    kind: ChatKind::Personal,
                    subscriber_id: SubscriberId(format!("s-{}", id.0)),
                    title: format!("Native {}", id.0),
                    avatar_url: None,
                    state: ChatState::Open,
                    assignee: None,
                    last_activity: now,
                    unread_count: 0,
                    last_inbound_at: None,
                    paused_until: None,
                })
            });
            st.hub.emit(&ws, chats.collect())
        })
        .await??;
    }
    let t = Instant::now();
    while server.state.gateway.stats().bodies < before + CHATS as u64 {
        if t.elapsed() > Duration::from_secs(30) {
            return Err("the warm-up webhooks were not applied".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The phone: a store, a live client, the inbox list's diffs.
    crate::clean(phone_db);
    let store = Arc::new(Store::open(phone_db)?);
    store.set_me(me())?;
    let backend = RapportBackend::new(&server.url(), Arc::new(ServerClock::default()))?;
    backend.login("agent@live.test", PASSWORD).await?;
    let engine = Arc::new(SyncEngine::new(store.clone(), Arc::new(backend)));
    engine.catch_up().await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, MessageId)>();
    let observer = Observer::new(store.clone());
    let _sub = observer.subscribe_chat_list(ChatFilter::default(), 50, move |diffs| {
        let at = Instant::now();
        for d in diffs {
            if let ListDiff::Insert { value, .. } | ListDiff::Set { value, .. } = d
                && let Some(p) = value.preview
            {
                let _ = tx.send((at, p.message_id));
            }
        }
    })?;
    let live = tokio::spawn({
        let e = engine.clone();
        async move { e.run().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (mut webhook, mut native) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let c = &contacts[i % CHATS];
        let m = fake.add_incoming(c, &format!("webhook {i}"));
        let item = fake.message_item(&m);
        let id = MessageId(format!("sp-{m}"));
        let t = Instant::now();
        post(&http, hook, item).await?;
        webhook.push(shown(&mut rx, &id, t).await?);

        let chat = &natives[i % CHATS];
        let id = format!("native-msg-{i}");
        let payload = EventPayload::MessageUpserted(text_message(
            chat.as_str(),
            &id,
            Sender::Subscriber,
            &format!("native {i}"),
            hub.now(),
        ));
        let (st, w) = (server.state.clone(), ws.clone());
        let t = Instant::now();
        tokio::task::spawn_blocking(move || st.hub.emit(&w, vec![payload])).await??;
        native.push(shown(&mut rx, &MessageId(id), t).await?);
    }
    live.abort();
    Ok((webhook, native))
}

/// Waits for the diff that shows message `id`: its time since `from` in ms.
async fn shown(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(Instant, MessageId)>,
    id: &MessageId,
    from: Instant,
) -> Res<f64> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some((at, m))) if &m == id => return Ok(ms(at.duration_since(from))),
            Ok(Some(_)) => {}
            _ => return Err("a message never reached the phone's list".into()),
        }
    }
}

async fn post(http: &reqwest::Client, hook: &str, item: Value) -> Res<()> {
    let r = http
        .post(hook)
        .json(&Value::Array(vec![item]))
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("the hook answered {}", r.status()).into());
    }
    Ok(())
}

/// The reconcile pass's reads (C1: each history's notes too) through a
/// bare client, nothing applied:
/// (seconds, requests).
async fn bare_reads(url: &str) -> Res<(f64, u64)> {
    let client = rapport_sendpulse::Client::new(
        rapport_sendpulse::Config::new(url),
        rapport_sendpulse::Credentials::new(ID, SECRET),
    )?;
    let t = Instant::now();
    client.dialogs_all().await?;
    for app in SpApp::ALL {
        for bot in client.bots(app).await? {
            for chat in client.chats_all(app, &bot.id).await? {
                client.messages_all(app, &chat.contact.id).await?;
                client.notes(app, &bot.id, &chat.contact.id).await?;
            }
        }
    }
    Ok((t.elapsed().as_secs_f64(), client.stats().requests))
}
