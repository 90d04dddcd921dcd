//! `rapport demo`: the whole product in one command. An embedded reference
//! server with the demo workspace and the simulator on a loopback port, a
//! fresh store in a temporary directory, the demo agent logged in, and the
//! console on it (its top bar shows the first sync's progress).

use crate::console::{self, App};
use crate::error::CliError;
use rapport_core::generate::GenConfig;
use rapport_core::session::FileSecretStore;
use rapport_core::{Client, ClientConfig};
use rapport_server::{ServerConfig, demo, sim};
use std::sync::Arc;

/// The demo's parts; dropping it stops the server and deletes its files.
// Fields drop in order: the client, the simulator, the server, then its
// runtime and the files.
pub struct Demo {
    pub client: Arc<Client>,
    _simulation: Option<sim::Simulation>,
    pub server: rapport_server::RunningServer,
    pub runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// Starts the server (seeded with `chats` and `messages`), the simulator at
/// `rate` events a second (0: none), and a logged-in, syncing client.
pub fn start(chats: usize, messages: usize, rate: f64) -> Result<Demo, CliError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| CliError::Failed(format!("{what}: {e}"));
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
    let client = Client::open(
        ClientConfig {
            store_path: dir.path().join("rapport.db"),
            server_url: server.url(),
        },
        Arc::new(FileSecretStore::new(dir.path().join("session.json"))),
    )?;
    runtime.block_on(client.login(demo::EMAIL, demo::PASSWORD))?;
    client.start_sync()?;
    Ok(Demo {
        client: Arc::new(client),
        _simulation: simulation,
        server,
        runtime,
        _dir: dir,
    })
}

pub fn run(chats: usize, messages: usize, rate: f64) -> Result<(), CliError> {
    eprintln!("rapport demo: seeding {chats} chats and {messages} messages…");
    let demo = start(chats, messages, rate)?;
    let label = format!("{} on {} (demo)", demo::EMAIL, demo.server.url());
    let app = App::new(demo.client.clone(), demo.runtime.handle().clone(), label);
    demo.client.start_timers(app.timer_sink())?;
    console::run(app)
}
