//! `ws_clients_held` and `ws_delivery_p99_ms` (issue 16, the campaign's
//! load bullet): the reference server holds `clients` live streams
//! (`GET /v1/stream`, real WebSockets on loopback) while the simulator's
//! generator emits `rate` events a second for `seconds`. Each delivery's
//! latency runs from just before the emit (the log's commit included) to
//! the frame's arrival at the client; median and p99 over every event
//! delivered to every client. The baseline is the same run with one
//! client, measured just before in the same process.
//!
//! The server has its own 2-worker runtime (as on a 2-core machine); the
//! clients another; the emitter is a plain thread, as the simulator's
//! `spawn_blocking` emit is.

use crate::{Res, emit, local_server};
use futures_util::StreamExt;
use rapport_core::generate::{GenConfig, Generator};
use rapport_core::model::MemberId;
use rapport_server::RunningServer;
use rapport_server::hub::Workspace;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Load {
    pub clients: usize,
    pub rate: usize,
    pub seconds: u64,
    /// Events are emitted in batches this many ms apart (the simulator
    /// emits what a tick produced in one call).
    pub batch_ms: u64,
}

/// Latencies in 0.1 ms buckets up to 60 s: every delivery counts without
/// keeping millions of samples.
struct Histogram(Vec<u64>);

impl Histogram {
    const STEP_MS: f64 = 0.1;
    fn new() -> Self {
        Histogram(vec![0; 600_000])
    }
    fn add(&mut self, ms: f64, n: u64) {
        let i = ((ms / Self::STEP_MS) as usize).min(self.0.len() - 1);
        self.0[i] += n;
    }
    fn count(&self) -> u64 {
        self.0.iter().sum()
    }
    fn percentile(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let want = ((total - 1) as f64 * p).round() as u64;
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen > want {
                return (i as f64 + 0.5) * Self::STEP_MS;
            }
        }
        f64::NAN
    }
}

/// Raises the soft open-files limit to the hard one: each stream is two
/// descriptors in this process (the client's and the server's end).
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

pub fn run(dir: &Path, load: Load) -> Res<()> {
    raise_nofile();
    let server_rt = crate::runtime(2)?;
    let client_rt = crate::runtime(2)?;
    let server = server_rt.block_on(local_server(dir.join("load-server.db")))?;
    let state = server.state.clone();
    let ws = crate::agent_workspace(&state.hub, "load", MemberId::from("agent"))?;
    let mut generator = rapport_server::sim::seed(&state.hub, &ws, GenConfig::new(200, 2_000))
        .map_err(|e| e.to_string())?;
    // Tokens issued directly: the login limits (every loopback login comes
    // from 127.0.0.1) are not what this measures.
    let tokens = (0..load.clients)
        .map(|_| state.hub.issue("load", "agent").map(|i| i.session.token))
        .collect::<Result<Vec<_>, _>>()?;

    let one = phase(
        &client_rt,
        &server,
        &ws,
        &mut generator,
        &tokens[..1],
        &load,
    )?;
    let all = phase(&client_rt, &server, &ws, &mut generator, &tokens, &load)?;
    drop(server);
    emit("ws_clients_held", all.held as f64, None);
    emit(
        "ws_delivery_p99_ms",
        all.hist.percentile(0.99),
        Some(one.hist.percentile(0.99)),
    );
    emit(
        "ws_delivery_median_ms",
        all.hist.percentile(0.5),
        Some(one.hist.percentile(0.5)),
    );
    eprintln!(
        "rapport-bench load: {} of {} streams held every event; {} events at {}/s in {} ms batches; {} deliveries (1 client: {})",
        all.held,
        load.clients,
        all.events,
        load.rate,
        load.batch_ms,
        all.hist.count(),
        one.hist.count()
    );
    Ok(())
}

struct Outcome {
    held: usize,
    events: u64,
    hist: Histogram,
}

/// What one client saw: per frame its first and last seq and when it came.
struct Seen {
    frames: Vec<(u64, u64, Instant)>,
    /// Ended before the last event (closed, an error).
    cut: bool,
}

fn phase(
    rt: &tokio::runtime::Runtime,
    server: &RunningServer,
    ws: &Arc<Workspace>,
    generator: &mut Generator,
    tokens: &[String],
    load: &Load,
) -> Res<Outcome> {
    let head = server.state.hub.head(ws)?.0;
    let ws_url = format!("ws://{}/v1/stream?since={head}", server.addr);
    // The last seq of the run, once the emitter knows it.
    let end = Arc::new(AtomicU64::new(u64::MAX));
    let clients = rt.block_on(async {
        let mut conns = Vec::with_capacity(tokens.len());
        for token in tokens {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut req = ws_url.as_str().into_client_request()?;
            req.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            // A frame is a few KiB: each read zeroes the free buffer first.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(16 * 1024);
            let (socket, _) =
                tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
            conns.push(socket);
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(conns)
    })?;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut socket| {
            let end = end.clone();
            rt.spawn(async move {
                let finder = memchr::memmem::Finder::new(b"\"seq\":");
                let rfinder = memchr::memmem::FinderRev::new(b"\"seq\":");
                let mut seen = Seen {
                    frames: Vec::new(),
                    cut: true,
                };
                let mut last = head;
                loop {
                    let msg =
                        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
                            Ok(Some(Ok(m))) => m,
                            _ => break,
                        };
                    let at = Instant::now();
                    let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                        continue;
                    };
                    let bytes = text.as_bytes();
                    // No payload has a `seq` key and a string's quotes are
                    // escaped: every `"seq":` is an event's, in order.
                    let (Some(a), Some(b)) = (finder.find(bytes), rfinder.rfind(bytes)) else {
                        continue;
                    };
                    let (first, to) = (seq_at(&bytes[a + 6..]), seq_at(&bytes[b + 6..]));
                    seen.frames.push((first, to, at));
                    last = last.max(to);
                    if last >= end.load(Ordering::Acquire) {
                        seen.cut = false;
                        break;
                    }
                }
                let _ = socket.close(None).await;
                seen
            })
        })
        .collect();
    // Let every stream finish its catch-up and subscribe.
    std::thread::sleep(Duration::from_millis(500));

    let per_batch = (load.rate as u64 * load.batch_ms / 1000).max(1) as usize;
    let batches = load.seconds * 1000 / load.batch_ms;
    let period = Duration::from_millis(load.batch_ms);
    // emitted[i]: when the batch holding seq head+1+i was emitted.
    let mut emitted: Vec<Instant> = Vec::with_capacity(batches as usize * per_batch);
    let start = Instant::now();
    for i in 0..batches {
        if let Some(wait) = (start + period * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        generator.continue_for(per_batch);
        let t = rapport_server::hub::now();
        let payloads = generator
            .batch(per_batch)
            .into_iter()
            .map(|e| rapport_server::sim::at_now(e.payload, t))
            .collect();
        let at = Instant::now();
        let events = server.state.hub.emit(ws, payloads)?;
        emitted.extend(std::iter::repeat_n(at, events.len()));
    }
    let last_seq = head + emitted.len() as u64;
    end.store(last_seq, Ordering::Release);
    // A stream that got everything before `end` was set hears one more
    // event (a heartbeat carries no `seq`).
    let at = Instant::now();
    let tail = server.state.hub.emit(ws, {
        generator.continue_for(1);
        generator.batch(1).into_iter().map(|e| e.payload).collect()
    })?;
    emitted.extend(std::iter::repeat_n(at, tail.len()));

    let mut out = Outcome {
        held: 0,
        events: emitted.len() as u64,
        hist: Histogram::new(),
    };
    for task in tasks {
        let seen = rt.block_on(task)?;
        let mut next = head + 1;
        let mut gap = false;
        for (first, to, at) in seen.frames {
            if first > next {
                gap = true;
            }
            // Count each event once (a frame may repeat some).
            for seq in first.max(next)..=to {
                if let Some(e) = emitted.get((seq - head - 1) as usize) {
                    out.hist
                        .add(at.saturating_duration_since(*e).as_secs_f64() * 1000.0, 1);
                }
            }
            next = next.max(to + 1);
        }
        if !seen.cut && !gap && next > last_seq {
            out.held += 1;
        }
    }
    Ok(out)
}

/// The unsigned integer at the start of `b` (after `"seq":`).
fn seq_at(b: &[u8]) -> u64 {
    b.iter()
        .skip_while(|c| **c == b' ')
        .take_while(|c| c.is_ascii_digit())
        .fold(0, |n, c| n * 10 + u64::from(c - b'0'))
}
