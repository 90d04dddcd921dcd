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
//! (uploads and downloads, [`rapport_server::bulk`]; 0: unlimited; default 32).
//!
//! `--faults SPEC` draws faults at random per request (chaos rounds,
//! scripts/chaos.sh; the spec's syntax: [`rapport_server::faults::FaultSpec`]).
//!
//! Gateway mode (issue 17): `--server-key-file FILE` (or `RAPPORT_SERVER_KEY`,
//! 64 hex digits; `--new-server-key` prints a fresh one) is the key that seals
//! SendPulse credentials at rest; with it, linked workspaces are reconciled
//! at start and every `--sendpulse-reconcile-s` seconds (300).
//! `rapport-server --db FILE --link-sendpulse WORKSPACE --sendpulse-url URL
//! --sendpulse-client-id ID [--sendpulse-operator MEMBER=OPERATOR_ID ...]`,
//! with the client secret in `RAPPORT_SENDPULSE_CLIENT_SECRET` (never on the
//! command line, where `ps` shows it), links a workspace and prints its
//! webhook path once, then exits. `--public-url URL` (or `RAPPORT_PUBLIC_URL`)
//! is the base URL at which SendPulse reaches this server: agents' files on
//! linked workspaces are handed to SendPulse as unguessable, expiring URLs
//! under it (E2, `gateway::files`); without it linked workspaces send no
//! files (their phones are told `files` is not offered). A command line rather than a route: the
//! API has no administrator (members' roles are the platform's agents), and
//! whoever links holds the server key and the database anyway.
//!
//! On an empty database it creates the demo workspace ([`demo`]) with a
//! generated history and one agent, and prints how to log in.

use rapport_core::generate::GenConfig;
use rapport_core::model::Timestamp;
use rapport_core::timers::Clock;
use rapport_server::gateway::seal::ServerKey;
use rapport_server::gateway::{Gateway, NewLink};
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
    if args.iter().any(|a| a == "--new-server-key") {
        match rapport_server::gateway::seal::ServerKey::generate_hex() {
            Ok(k) => println!("{k}"),
            Err(e) => {
                eprintln!("rapport-server: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let server_key = match server_key(&args) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("rapport-server: {e}");
            std::process::exit(2);
        }
    };
    let db = arg(&args, "--db").unwrap_or_else(|| "rapport-server.db".into());
    if let Some(ws) = arg(&args, "--link-sendpulse") {
        match link(&args, &db, &ws, server_key) {
            Ok(path) => {
                println!("linked {ws}; SendPulse's webhook URL: https://<this server>{path}")
            }
            Err(e) => {
                eprintln!("rapport-server: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
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
    if server_key.is_none() {
        let linked = state
            .hub
            .workspace_ids()
            .into_iter()
            .any(|w| state.gateway.linked(&w));
        if linked {
            tracing::warn!(
                "workspaces are linked to SendPulse but the server has no key \
                 (--server-key-file or RAPPORT_SERVER_KEY): their commands and reconcile fail"
            );
        }
    }
    if let Some(k) = server_key {
        state.gateway.set_key(k);
        // Issue 17: linked workspaces are reconciled at start, then every
        // --sendpulse-reconcile-s seconds (5 minutes).
        let every = num("--sendpulse-reconcile-s", 300).max(10);
        state
            .gateway
            .schedule_reconcile(std::time::Duration::from_secs(every as u64));
    }
    let public_url =
        arg(&args, "--public-url").or_else(|| std::env::var("RAPPORT_PUBLIC_URL").ok());
    if let Err(e) = state.gateway.set_public_url(public_url.as_deref()) {
        eprintln!("rapport-server: --public-url: {e}");
        std::process::exit(2);
    }
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

/// The server key from `--server-key-file` or `RAPPORT_SERVER_KEY`.
fn server_key(args: &[String]) -> Result<Option<ServerKey>, String> {
    let hex = match arg(args, "--server-key-file") {
        Some(f) => Some(std::fs::read_to_string(&f).map_err(|e| format!("{f}: {e}"))?),
        None => std::env::var("RAPPORT_SERVER_KEY").ok(),
    };
    hex.map(|h| ServerKey::from_hex(&h).map_err(|e| e.to_string()))
        .transpose()
}

/// `--link-sendpulse`: the webhook path of the new link.
fn link(args: &[String], db: &str, ws: &str, key: Option<ServerKey>) -> Result<String, String> {
    let key =
        key.ok_or("linking needs the server key (--server-key-file or RAPPORT_SERVER_KEY)")?;
    let base_url =
        arg(args, "--sendpulse-url").unwrap_or_else(|| "https://api.sendpulse.com".into());
    let client_id =
        arg(args, "--sendpulse-client-id").ok_or("--sendpulse-client-id is required")?;
    let client_secret = std::env::var("RAPPORT_SENDPULSE_CLIENT_SECRET")
        .map_err(|_| "the client secret goes in RAPPORT_SENDPULSE_CLIENT_SECRET")?;
    let mut operators = std::collections::BTreeMap::new();
    for (i, a) in args.iter().enumerate() {
        if a == "--sendpulse-operator" {
            let v = args
                .get(i + 1)
                .ok_or("--sendpulse-operator needs MEMBER=OPERATOR_ID")?;
            let (m, o) = v
                .split_once('=')
                .and_then(|(m, o)| Some((m.to_owned(), o.parse::<i64>().ok()?)))
                .ok_or("--sendpulse-operator needs MEMBER=OPERATOR_ID")?;
            operators.insert(m, o);
        }
    }
    let hub = rapport_server::hub::Hub::open(db).map_err(|e| e.to_string())?;
    let gw = Gateway::default();
    gw.set_key(key);
    let secret = gw
        .link(
            &hub,
            &NewLink {
                workspace: ws.to_owned(),
                base_url,
                client_id,
                client_secret,
                operators,
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(rapport_server::gateway::hook_path(&secret))
}
