//! S5 sessions and I1 statistics against the reference server.

use rapport_core::model::*;
use rapport_core::session::{FileSecretStore, SecretStore, Session};
use rapport_core::store::Store;
use rapport_core::sync::{Backend, RapportBackend, SyncEngine, SyncError};
use rapport_tests::{PASSWORD, TempStore, TestServer};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn backend(srv: &TestServer) -> Arc<RapportBackend> {
    Arc::new(srv.backend())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_session_is_kept_in_the_secret_store_refreshed_and_wiped_on_logout() {
    let srv = TestServer::start(10, 50).await;
    let dir = tempfile::tempdir().unwrap();
    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    // Tokens that live 400 ms.
    srv.server
        .state
        .hub
        .token_ttl_ms
        .store(400, Ordering::Relaxed);
    let b = backend(&srv);
    let session = Session::login(
        b.clone(),
        secrets.clone(),
        &srv.url(),
        "u0@w1.test",
        PASSWORD,
    )
    .await
    .unwrap();
    let first = session.info();
    assert!(
        secrets
            .load("rapport.session")
            .unwrap()
            .unwrap()
            .contains(&first.refresh_token)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secrets.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secrets readable by their owner only");
    }
    // Before expiry: refreshed ahead of time (the margin is 5 minutes).
    assert!(
        session
            .ensure_fresh(rapport_server::hub::now())
            .await
            .unwrap()
    );
    let second = session.info();
    assert_ne!(second.token, first.token);
    // After expiry: the server answers 401 and the backend refreshes by itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.pull(Seq(1).into(), 5).await.unwrap();
    let third = session.info();
    assert_ne!(third.token, second.token);
    assert!(
        secrets
            .load("rapport.session")
            .unwrap()
            .unwrap()
            .contains(&third.token)
    );
    // Two requests failing together refresh once and both succeed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (x, y) = tokio::join!(b.pull(Seq(1).into(), 5), b.pull(Seq(2).into(), 5));
    x.unwrap();
    y.unwrap();
    let third = session.info();
    // A new process restores the saved session, offline.
    let restored = Session::restore(backend(&srv), secrets.clone(), &srv.url())
        .unwrap()
        .unwrap();
    assert_eq!(restored.info(), third);
    // Logout: revoked on the server, forgotten here, local store deleted.
    let t = TempStore::new();
    let path = t.path();
    drop(t.store);
    assert!(path.exists());
    session.logout(&path).await.unwrap();
    assert!(!path.exists());
    assert_eq!(secrets.load("rapport.session").unwrap(), None);
    assert!(
        srv.server
            .state
            .hub
            .session(&third.token)
            .unwrap()
            .is_none()
    );
    let log = std::fs::read_to_string(dir.path().join("secrets.json")).unwrap();
    assert!(!log.contains(&third.token));
}

async fn converge(store: &Store, head: Seq) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.last_seq().unwrap() < head {
        assert!(Instant::now() < deadline, "no convergence");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i1_statistics_match_a_server_recount_after_a_simulated_hour() {
    let mut srv = TestServer::start(60, 600).await;
    let t = TempStore::new();
    let b = backend(&srv);
    b.login("u0@w1.test", PASSWORD).await.unwrap();
    let engine = Arc::new(SyncEngine::new(t.store.clone(), b));
    let run = tokio::spawn({
        let e = engine.clone();
        async move { e.run().await }
    });
    converge(&t.store, srv.head("w1")).await;
    let w1 = srv.workspace("w1");
    // Issue 18: snapshot pages carry the figures the server's store kept
    // event by event; they must equal a recount of every message.
    assert_eq!(
        w1.store.stats().unwrap(),
        w1.store.recount_stats().unwrap().bots,
        "the server's kept figures"
    );
    assert_eq!(
        t.store.stats().unwrap(),
        w1.store.recount_stats().unwrap().bots,
        "from the snapshot"
    );
    // An hour of activity at one event a second, fast-forwarded.
    let mut generator = srv.generator.take().unwrap();
    generator.continue_for(3_000);
    let hub = &srv.server.state.hub;
    loop {
        let batch: Vec<EventPayload> = generator
            .batch(300)
            .into_iter()
            .map(|e| e.payload)
            .collect();
        if batch.is_empty() {
            break;
        }
        hub.emit(&w1, batch).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    converge(&t.store, srv.head("w1")).await;
    let recount = w1.store.recount_stats().unwrap();
    assert_eq!(
        w1.store.stats().unwrap(),
        recount.bots,
        "kept after an hour"
    );
    let mine = t.store.stats().unwrap();
    assert_eq!(mine, recount.bots, "advanced by live events");
    assert!(
        mine[0].received > 1_000 && mine[0].sent > 500,
        "{:?}",
        mine[0]
    );
    assert_eq!(mine.len(), 1 + 12, "the total and 12 bots");
    // Refreshing from the server agrees too.
    assert!(engine.refresh_stats().await.unwrap());
    assert_eq!(t.store.stats().unwrap(), recount.bots);
    run.abort();
}

/// S5/H3: the app and its notification process hold the same session; both
/// refreshing it at once must not log either out. The refresh token one of
/// them exchanged gets the other another pair of the same session family
/// for a minute (only token hashes are stored, so not the same pair); after
/// that, presenting it again is theft, and the whole family is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_h3_two_processes_refreshing_one_session_both_stay_logged_in() {
    let clock = Arc::new(rapport_core::timers::ManualClock::new(
        rapport_server::hub::now(),
    ));
    let srv = TestServer::start_with_clock(5, 20, Some(clock.clone())).await;
    let app = backend(&srv);
    let first = app.login("u0@w1.test", PASSWORD).await.unwrap();
    // The extension read the same session from the secret store.
    let extension = backend(&srv);
    extension.set_session(&first);
    let (a, b) = tokio::join!(
        app.refresh(&first.refresh_token),
        extension.refresh(&first.refresh_token)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.token, b.token, "two pairs of one family");
    // Both work with their new pair.
    for be in [&app, &extension] {
        assert!(be.stats().await.is_ok());
    }
    // After the grace minute the old refresh token is theft: refused, and
    // every pair of its family ends with it.
    clock.advance_ms(rapport_server::hub::REFRESH_GRACE_MS);
    assert!(matches!(
        extension.refresh(&first.refresh_token).await,
        Err(SyncError::Unauthorized)
    ));
    assert!(matches!(
        app.refresh(&a.refresh_token).await,
        Err(SyncError::Unauthorized)
    ));
    assert!(srv.server.state.hub.session(&b.token).unwrap().is_none());
    // A new login is a new family.
    assert!(app.login("u0@w1.test", PASSWORD).await.is_ok());
}
