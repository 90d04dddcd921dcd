//! `rapport-server --db FILE --listen 127.0.0.1:PORT [--simulate [EVENTS_PER_S]]
//!  [--chats N --messages M] [--clock-offset-ms MS] [--faults SPEC]
//!  [--bulk-mib-per-s N]`, or
//! `rapport-server --openapi`: print the API's OpenAPI document (what
//! docs/openapi.json holds) and exit.
//!
//! `--clock-offset-ms` runs the server's clock ahead (or behind) the
//! system's: restarted on an existing database, it moves the workspace
//! towards its deadlines, so a test or a demo sees support windows close (S4)
//! without waiting a day.
//!
//! `--bulk-mib-per-s N` sets each workspace's share of file bytes
//! (uploads and downloads, [`rapport_server::bulk`]; 0: unlimited; default 64).
//!
//! `--faults SPEC` draws faults at random per request (chaos rounds,
//! scripts/chaos.sh; the spec's syntax: [`rapport_server::faults::FaultSpec`]).
//!
//! On an empty database it creates the demo workspace ([`demo`]) with a
//! generated history and one agent, and prints how to log in.

use rapport_core::generate::GenConfig;
use rapport_core::model::Timestamp;
use rapport_core::timers::Clock;
use rapport_server::{ServerConfig, demo, sim, start};
use std::sync::Arc;

/// The system clock shifted by a fixed offset.
struct OffsetClock(i64);

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        rapport_server::hub::SystemClock.now().plus_millis(self.0)
    }
    fn sleep_until(&self, t: Timestamp) -> rapport_core::timers::clock::BoxFuture {
        rapport_server::hub::SystemClock.sleep_until(t.plus_millis(-self.0))
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--openapi") {
        print!("{}", rapport_server::api::openapi_json());
        return;
    }
    let db = arg(&args, "--db").unwrap_or_else(|| "rapport-server.db".into());
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(listen) = listen.parse() else {
        eprintln!("--listen needs an address such as 127.0.0.1:8080");
        std::process::exit(2);
    };
    let faults =
        match arg(&args, "--faults").map(|s| s.parse::<rapport_server::faults::FaultSpec>()) {
            None => None,
            Some(Ok(spec)) => Some(spec),
            Some(Err(e)) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
    let num = |n: &str, d: usize| arg(&args, n).and_then(|v| v.parse().ok()).unwrap_or(d);
    let server = match start(ServerConfig {
        db: db.into(),
        listen,
        heartbeat_ms: 15_000,
        clock: arg(&args, "--clock-offset-ms")
            .and_then(|v| v.parse().ok())
            .map(|ms| Arc::new(OffsetClock(ms)) as Arc<dyn Clock>),
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rapport-server: {e}");
            std::process::exit(1);
        }
    };
    let state = server.state.clone();
    state.faults.set_random(faults);
    if let Some(mib) = arg(&args, "--bulk-mib-per-s").and_then(|v| v.parse::<u64>().ok()) {
        state.bulk.reconfigure(mib * 1024 * 1024);
    }
    let cfg = GenConfig::new(num("--chats", 2_000), num("--messages", 40_000));
    let (ws, generator) = match demo::workspace(state.clone(), cfg).await {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("rapport-server: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "rapport-server listening on {} (log in as {} / {})",
        server.url(),
        demo::EMAIL,
        demo::PASSWORD
    );
    let _sim = args.iter().any(|a| a == "--simulate").then(|| {
        let rate = arg(&args, "--simulate")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2.0);
        sim::start(state.clone(), ws.clone(), generator, rate)
    });
    let _ = tokio::signal::ctrl_c().await;
}
