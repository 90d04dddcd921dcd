//! `rapport demo`: the whole product in one command. An embedded reference
//! server with the demo workspace and the simulator on a loopback port, a
//! fresh store in a temporary directory, the demo agent logged in, and the
//! console on it (its top bar shows the first sync's progress).
//!
//! `rapport demo --sendpulse` (issue 17): the same console on a workspace
//! linked to a fake SendPulse account on loopback. The embedded server runs
//! in gateway mode: it reconciles the account through SendPulse's API,
//! takes the fake's webhooks (a subscriber writing every so often) and
//! sends the agent's replies back through the API.

use crate::console::{self, App};
use crate::error::CliError;
use rapport_core::generate::{GenConfig, Generator};
use rapport_core::model::Member;
use rapport_core::session::FileSecretStore;
use rapport_core::{Client, ClientConfig};
use rapport_sendpulse::App as SpApp;
use rapport_sendpulse::fake::FakeSendPulse;
use rapport_server::gateway::{self, NewLink, seal::ServerKey};
use rapport_server::{RunningServer, ServerConfig, demo, sim};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The fake account's API credentials.
const SP_CLIENT_ID: &str = "demo-client-id";
const SP_CLIENT_SECRET: &str = "demo-client-secret";
/// The demo agent's SendPulse operator id (D1: assigning maps to it).
const SP_OPERATOR: i64 = 1;

/// The demo's parts; dropping it stops the server and deletes its files.
// Fields drop in order: the client, the simulators, the server, then its
// runtime and the files.
pub struct Demo {
    pub client: Arc<Client>,
    _simulation: Option<sim::Simulation>,
    /// `--sendpulse`: the fake account and its subscriber simulator.
    pub sendpulse: Option<SendPulseDemo>,
    pub server: RunningServer,
    pub runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// The fake SendPulse account behind a `--sendpulse` demo.
pub struct SendPulseDemo {
    pub fake: Arc<FakeSendPulse>,
    /// Where the fake posts its webhooks (the gateway's URL for the link).
    pub hook: String,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SendPulseDemo {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            w.abort();
        }
    }
}

fn failed(what: &str, e: &dyn std::fmt::Display) -> CliError {
    CliError::Failed(format!("{what}: {e}"))
}

/// A runtime, a temporary directory and the server on a loopback port.
fn server() -> Result<(tempfile::TempDir, tokio::runtime::Runtime, RunningServer), CliError> {
    let dir = tempfile::tempdir().map_err(|e| failed("temp dir", &e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rapport-demo")
        .enable_all()
        .build()
        .map_err(|e| failed("runtime", &e))?;
    let server = runtime
        .block_on(rapport_server::start(ServerConfig {
            db: dir.path().join("server.db"),
            listen: "127.0.0.1:0".parse().expect("a loopback address"),
            heartbeat_ms: 15_000,
            clock: None,
        }))
        .map_err(|e| failed("the demo server", &e))?;
    Ok((dir, runtime, server))
}

/// A fresh store in `dir`, the demo agent logged in, syncing.
fn client(
    dir: &tempfile::TempDir,
    runtime: &tokio::runtime::Runtime,
    server: &RunningServer,
) -> Result<Arc<Client>, CliError> {
    let client = Client::open(
        ClientConfig {
            store_path: dir.path().join("rapport.db"),
            server_url: server.url(),
        },
        Arc::new(FileSecretStore::new(dir.path().join("session.json"))),
    )?;
    runtime.block_on(client.login(demo::EMAIL, demo::PASSWORD))?;
    client.start_sync()?;
    Ok(Arc::new(client))
}

/// Starts the server (seeded with `chats` and `messages`), the simulator at
/// `rate` events a second (0: none), and a logged-in, syncing client.
pub fn start(chats: usize, messages: usize, rate: f64) -> Result<Demo, CliError> {
    let (dir, runtime, server) = server()?;
    let (ws, generator) = runtime
        .block_on(demo::workspace(
            server.state.clone(),
            GenConfig::new(chats, messages),
        ))
        .map_err(|e| failed("the demo workspace", &e))?;
    let simulation = (rate > 0.0).then(|| {
        let _in = runtime.enter();
        sim::start(server.state.clone(), ws, generator, rate)
    });
    let client = client(&dir, &runtime, &server)?;
    Ok(Demo {
        client,
        _simulation: simulation,
        sendpulse: None,
        server,
        runtime,
        _dir: dir,
    })
}

/// `--sendpulse`: a fake SendPulse account with a bot on each messaging
/// app, `chats` subscribers and `messages` messages; the server linked to
/// it in gateway mode and reconciled; a subscriber writing `rate` times a
/// second through a webhook (0: never); the demo agent logged in.
pub fn start_sendpulse(chats: usize, messages: usize, rate: f64) -> Result<Demo, CliError> {
    let (dir, runtime, server) = server()?;
    let state = server.state.clone();
    let key = ServerKey::generate_hex()
        .and_then(|k| ServerKey::from_hex(&k))
        .map_err(|e| failed("the gateway's key", &e))?;
    state.gateway.set_key(key);
    let fake = Arc::new(runtime.block_on(FakeSendPulse::start(SP_CLIENT_ID, SP_CLIENT_SECRET)));
    let contacts = seed(&fake, chats, messages);

    let ws = state
        .hub
        .create_workspace(demo::WORKSPACE, "Demo workspace on SendPulse")
        .map_err(|e| failed("the demo workspace", &e))?;
    let agent = Member {
        id: rapport_core::generate::me(),
        name: "Agent 0".into(),
        avatar_url: None,
        role: "Agent".into(),
        conversations_access: true,
    };
    state
        .hub
        .add_account(&ws, demo::EMAIL, demo::PASSWORD, agent.clone())
        .map_err(|e| failed("the demo agent", &e))?;
    let secret = state
        .gateway
        .link(
            &state.hub,
            &NewLink {
                workspace: demo::WORKSPACE.into(),
                base_url: fake.url.clone(),
                client_id: SP_CLIENT_ID.into(),
                client_secret: SP_CLIENT_SECRET.into(),
                operators: BTreeMap::from([(agent.id.0.clone(), SP_OPERATOR)]),
            },
        )
        .map_err(|e| failed("linking the fake account", &e))?;
    let hook = format!("{}{}", server.url(), gateway::hook_path(&secret));
    runtime
        .block_on(gateway::reconcile::pass(&state, demo::WORKSPACE))
        .map_err(|e| failed("reconciling the fake account", &e))?;

    let writer = (rate > 0.0 && !contacts.is_empty()).then(|| {
        runtime.spawn(subscribers_write(
            fake.clone(),
            hook.clone(),
            contacts,
            Duration::from_secs_f64(1.0 / rate),
        ))
    });
    let client = client(&dir, &runtime, &server)?;
    Ok(Demo {
        client,
        _simulation: None,
        sendpulse: Some(SendPulseDemo { fake, hook, writer }),
        server,
        runtime,
        _dir: dir,
    })
}

/// Bots on every app, `chats` contacts over them and `messages` messages,
/// alternating subscriber and bot, most of them from the subscriber.
fn seed(fake: &FakeSendPulse, chats: usize, messages: usize) -> Vec<String> {
    let mut words = Generator::new(GenConfig::new(0, 0));
    let mut rng = fastrand::Rng::with_seed(17);
    let bots: Vec<String> = SpApp::ALL
        .iter()
        .map(|&app| fake.add_bot(app, &format!("{} bot", app.rapport_name())))
        .collect();
    let contacts: Vec<String> = (0..chats)
        .map(|i| fake.add_contact(&bots[i % bots.len()], &words.name()))
        .collect();
    if contacts.is_empty() {
        return contacts;
    }
    // A seeded history longer than this only slows the reconcile down.
    const MAX_PER_CHAT: usize = 1_000;
    for i in 0..messages.min(contacts.len().saturating_mul(MAX_PER_CHAT)) {
        let c = &contacts[i % contacts.len()];
        if rng.u8(..3) == 0 {
            fake.add_outgoing(c, &words.text());
        } else {
            fake.add_incoming(c, &words.text());
        }
    }
    contacts
}

/// A subscriber writes every `every`: the message lands in the fake's
/// history and SendPulse's `incoming_message` webhook goes to the gateway,
/// as on the real platform.
async fn subscribers_write(
    fake: Arc<FakeSendPulse>,
    hook: String,
    contacts: Vec<String>,
    every: Duration,
) {
    let mut words = Generator::new(GenConfig::new(0, 0));
    let mut rng = fastrand::Rng::with_seed(71);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let c = &contacts[rng.usize(..contacts.len())];
        let m = fake.add_incoming(c, &words.text());
        // A lost webhook is what the gateway's reconcile pass is for.
        let _ = fake.emit_webhook(&hook, &[fake.message_item(&m)]).await;
    }
}

pub fn run(chats: usize, messages: usize, rate: f64, sendpulse: bool) -> Result<(), CliError> {
    let demo = if sendpulse {
        eprintln!(
            "rapport demo: a fake SendPulse account with {chats} chats and {messages} messages, \
             the server linked to it…"
        );
        start_sendpulse(chats, messages, rate)?
    } else {
        eprintln!("rapport demo: seeding {chats} chats and {messages} messages…");
        start(chats, messages, rate)?
    };
    let label = match &demo.sendpulse {
        Some(sp) => format!(
            "{} on {} (demo, SendPulse at {})",
            demo::EMAIL,
            demo.server.url(),
            sp.fake.url
        ),
        None => format!("{} on {} (demo)", demo::EMAIL, demo.server.url()),
    };
    let app = App::new(demo.client.clone(), demo.runtime.handle().clone(), label);
    demo.client.start_timers(app.timer_sink())?;
    console::run(app)
}

/// `rapport fake-sendpulse`: the fake account alone (a bot per messaging
/// app, `chats` subscribers, `messages` messages), serving SendPulse's API
/// on a loopback port until the process is killed. The first line on
/// stdout says where and with which credentials (the fake's own, not a
/// secret), so a test in another language can start it and log in:
/// `fake-sendpulse listening on URL client_id ID client_secret SECRET`.
pub fn serve_fake_sendpulse(chats: usize, messages: usize) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fake-sendpulse")
        .enable_all()
        .build()
        .map_err(|e| failed("runtime", &e))?;
    let fake = runtime.block_on(FakeSendPulse::start(SP_CLIENT_ID, SP_CLIENT_SECRET));
    seed(&fake, chats, messages);
    println!(
        "fake-sendpulse listening on {} client_id {SP_CLIENT_ID} client_secret {SP_CLIENT_SECRET}",
        fake.url
    );
    use std::io::Write as _;
    std::io::stdout()
        .flush()
        .map_err(|e| failed("stdout", &e))?;
    runtime.block_on(std::future::pending::<()>());
    Ok(())
}
