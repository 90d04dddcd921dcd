//! Sync figures (issue: reference server and sync): an in-process server on
//! loopback, real HTTP and WebSocket.

use crate::{PASSWORD, Res, clean, emit, local_server, median, ms, percentile};
use rapport_core::generate::{GenConfig, Generator, me};
use rapport_core::model::EventPayload;
use rapport_core::observe::{ListDiff, Observer};
use rapport_core::outbox::Draft;
use rapport_core::store::{ChatFilter, Store};
use rapport_core::sync::{RapportBackend, SyncEngine};
use rapport_core::timers::ServerClock;
use rapport_server::sim;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn run(dir: &Path, chats: usize, messages: usize, behind: usize, live_s: u64) -> Res<()> {
    let rt = crate::runtime(2)?;
    rt.block_on(run_async(dir, chats, messages, behind, live_s))
}

async fn client(url: &str, path: &Path) -> Res<Arc<SyncEngine<RapportBackend>>> {
    clean(path);
    let store = Arc::new(Store::open(path)?);
    store.set_me(me())?;
    let backend = RapportBackend::new(url, Arc::new(ServerClock::default()))?;
    backend.login("agent@bench.test", PASSWORD).await?;
    Ok(Arc::new(SyncEngine::new(store, Arc::new(backend))))
}

async fn run_async(
    dir: &Path,
    chats: usize,
    messages: usize,
    behind: usize,
    live_s: u64,
) -> Res<()> {
    clean(&dir.join("sync-server.db.ws-bench.sqlite"));
    let server = local_server(dir.join("sync-server.db")).await?;
    let state = server.state.clone();
    let url = server.url();
    let mut generator = tokio::task::spawn_blocking(move || -> Res<Generator> {
        let ws = crate::agent_workspace(&state.hub, "bench", me())?;
        Ok(sim::seed(&state.hub, &ws, GenConfig::new(chats, messages))?)
    })
    .await
    .map_err(|e| e.to_string())??;
    let ws = server.state.hub.workspace("bench").ok_or("no workspace")?;

    // initial_sync_s: empty store to a usable inbox, several runs.
    let mut times = Vec::new();
    let mut engine = None;
    for i in 0..3 {
        let e = client(&url, &dir.join(format!("sync-client-{i}.db"))).await?;
        let t = Instant::now();
        e.catch_up().await?;
        times.push(t.elapsed().as_secs_f64());
        engine = Some(e);
    }
    let engine = engine.ok_or("no client")?;
    emit("initial_sync_s", median(times), None);

    // initial_sync_mb: the same requests as the bytes travel (gzip), with
    // the uncompressed size as the baseline.
    rapport_core::sync::install_crypto();
    let token = {
        let b = RapportBackend::new(&url, Arc::new(ServerClock::default()))?;
        b.login("agent@bench.test", PASSWORD).await?.token
    };
    let raw = reqwest::Client::builder().no_gzip().build()?;
    let wire = |enc: &'static str| {
        let (raw, url, token) = (raw.clone(), url.clone(), token.clone());
        async move {
            let bytes = raw
                .get(format!("{url}/v1/sync?since=0"))
                .bearer_auth(&token)
                .header("accept-encoding", enc)
                .send()
                .await?
                .bytes()
                .await?;
            Ok::<f64, reqwest::Error>(bytes.len() as f64 / 1_048_576.0)
        }
    };
    let gz = wire("gzip").await?;
    let plain = wire("identity").await?;
    emit("initial_sync_mb", gz, Some(plain));

    // catch_up_events_per_s: the client falls behind by `behind` events.
    let store = engine.store().clone();
    store.checkpoint()?;
    let base_path = dir.join("sync-baseline.db");
    clean(&base_path);
    std::fs::copy(store.path(), &base_path)?;
    let from = store.last_seq()?;
    generator.continue_for(behind);
    {
        let (state, ws) = (server.state.clone(), ws.clone());
        tokio::task::spawn_blocking(move || -> Res<()> {
            loop {
                let t = rapport_server::hub::now();
                let batch: Vec<EventPayload> = generator
                    .batch(5_000)
                    .into_iter()
                    .map(|e| sim::at_now(e.payload, t))
                    .collect();
                if batch.is_empty() {
                    return Ok(());
                }
                state.hub.emit(&ws, batch)?;
            }
        })
        .await
        .map_err(|e| e.to_string())??;
    }
    let head = server.state.hub.head(&ws)?;
    // Issue 18: this figure is the replay of the feed; past the server's
    // far-behind threshold the client would take a fresh snapshot instead.
    server
        .state
        .far_behind_events
        .store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
    let t = Instant::now();
    engine.catch_up().await?;
    let caught = t.elapsed();
    let events = (head.0 - from.0) as f64;
    // Baseline: the same events applied from memory to the same store.
    let baseline = {
        let st = server.state.clone();
        let ws2 = ws.clone();
        tokio::task::spawn_blocking(move || -> Res<Duration> {
            let base = Store::open(&base_path)?;
            let mut at = from;
            let mut total = Duration::ZERO;
            loop {
                let page = st.hub.events_after(&ws2, at, 5_000)?;
                let Some(last) = page.last().map(|e| e.seq) else {
                    return Ok(total);
                };
                at = last;
                let t = Instant::now();
                base.apply(&page)?;
                total += t.elapsed();
            }
        })
        .await
        .map_err(|e| e.to_string())??
    };
    emit(
        "catch_up_events_per_s",
        events / caught.as_secs_f64(),
        Some(events / baseline.as_secs_f64()),
    );

    // live_latency_p99_ms: the simulator writes at 500 events/s; each new
    // message's time on the server to the client's list diff.
    let observer = Observer::new(store.clone());
    let lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let l2 = lat.clone();
    let _sub = observer.subscribe_chat_list(ChatFilter::default(), 50, move |diffs| {
        let now = rapport_server::hub::now().0;
        for d in diffs {
            if let ListDiff::Insert { index: 0, value } | ListDiff::Set { index: 0, value } = d
                && let Some(p) = &value.preview
            {
                l2.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((now - p.at.0) as f64);
            }
        }
    })?;
    let run = tokio::spawn({
        let e = engine.clone();
        async move { e.run().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let generator = Generator::after(GenConfig::new(chats, messages + behind));
    let simulation = sim::start(server.state.clone(), ws.clone(), generator, 500.0);
    tokio::time::sleep(Duration::from_secs(live_s)).await;
    drop(simulation);
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.abort();
    let samples = std::mem::take(&mut *lat.lock().unwrap_or_else(|e| e.into_inner()));
    let n = samples.len();
    emit(
        "live_latency_p99_ms",
        percentile(samples.clone(), 0.99),
        None,
    );
    emit("live_latency_median_ms", median(samples), None);
    eprintln!(
        "rapport-bench sync: {chats} chats, {messages} messages seeded, {behind} behind, {n} live samples over {live_s} s, caught up in {:.0} ms",
        ms(caught)
    );
    outbox_drain(&server, dir, (behind / 100).clamp(100, 2_000)).await
}

/// E7, a day offline: `n` replies queued in 20 chats go out, in order per
/// chat, once the network is back (timed from `start_sync` to an empty
/// outbox, the catch-up of the feed included). Baseline: the same number of
/// sends as plain sequential requests, with no outbox.
async fn outbox_drain(server: &rapport_server::RunningServer, dir: &Path, n: usize) -> Res<()> {
    use rapport_core::generate::text_message;
    use rapport_core::model::{ChatId, Sender};
    use rapport_core::sync::{Action, Backend};
    let ws = server.state.hub.workspace("bench").ok_or("no workspace")?;
    let chats: Vec<ChatId> = (0..20).map(|i| ChatId(format!("c{i}"))).collect();
    // Their subscribers write now: the windows are open.
    let now = server.state.hub.now();
    let inbound = chats.iter().map(|c| {
        let id = format!("drain-in-{c}");
        EventPayload::MessageUpserted(text_message(c.as_str(), &id, Sender::Subscriber, "hi", now))
    });
    server.state.hub.emit(&ws, inbound.collect())?;

    let path = dir.join("outbox-client.db");
    clean(&path);
    let secrets = Arc::new(rapport_core::session::FileSecretStore::new(
        dir.join("outbox-secrets.json"),
    ));
    let url = server.url();
    let client = rapport_core::Client::open(
        rapport_core::ClientConfig {
            store_path: path,
            server_url: url.clone(),
        },
        secrets,
    )?;
    client.login("agent@bench.test", PASSWORD).await?;
    let head = server.state.hub.head(&ws)?;
    client.start_sync()?;
    while client.last_seq()? < head {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Offline: the replies pile up.
    client.stop_sync();
    let t = Instant::now();
    for i in 0..n {
        client.send(
            &chats[i % chats.len()],
            Draft::Text(&format!("queued reply {i}")),
            None,
        )?;
    }
    let enqueue_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    client.start_sync()?;
    while client.unsent_commands()? > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = t.elapsed();

    let backend = RapportBackend::new(&url, Arc::new(ServerClock::default()))?;
    backend.login("agent@bench.test", PASSWORD).await?;
    let t = Instant::now();
    for i in 0..n {
        let action = Action::SendText {
            chat_id: chats[i % chats.len()].clone(),
            text: format!("direct reply {i}"),
            message_id: None,
        };
        backend.run(&action, &format!("bench-direct-{i}")).await?;
    }
    let direct = t.elapsed();
    emit(
        "outbox_drain_per_s",
        n as f64 / drain.as_secs_f64(),
        Some(n as f64 / direct.as_secs_f64()),
    );
    emit("outbox_enqueue_us", enqueue_us, None);
    eprintln!(
        "rapport-bench outbox: {n} replies queued offline drained in {:.0} ms (direct sends: {:.0} ms)",
        ms(drain),
        ms(direct)
    );
    Ok(())
}
