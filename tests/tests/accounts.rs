//! S5, issue 16 hole 3: accounts and tokens. Passwords are argon2id (an
//! old salted SHA-256 is replaced at the next login), only hashes of the
//! tokens are stored, login attempts are limited per account and per
//! address (429 with Retry-After), and a refresh token presented again
//! after its grace period revokes its whole session family.

use rapport_core::sync::{Backend, SyncError};
use rapport_tests::{PASSWORD, TestServer};
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

fn db(srv: &TestServer) -> rusqlite::Connection {
    rusqlite::Connection::open(srv.dir.path().join("server.db")).unwrap()
}

async fn login_status(srv: &TestServer, email: &str, password: &str) -> (u16, Option<String>) {
    rapport_core::sync::install_crypto();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/login", srv.url()))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (resp.status().as_u16(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_passwords_are_argon2id_and_tokens_are_stored_as_hashes_only() {
    let srv = TestServer::start(3, 10).await;
    let login = srv.backend().login("u0@w1.test", PASSWORD).await.unwrap();
    let c = db(&srv);
    let hash: String = c
        .query_row(
            "SELECT hash FROM accounts WHERE email = 'u0@w1.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let rows: Vec<String> = c
        .prepare("SELECT token || ' ' || refresh_token FROM sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(
            !row.contains(&login.token) && !row.contains(&login.refresh_token),
            "a token in clear"
        );
    }
    let stored = hex::encode(sha2::Sha256::digest(login.token.as_bytes()));
    assert!(rows.iter().any(|r| r.starts_with(&stored)), "its hash is");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_an_old_sha256_password_still_logs_in_and_is_rehashed_with_argon2id() {
    let srv = TestServer::start(3, 10).await;
    let mut h = sha2::Sha256::new();
    h.update(b"pepper");
    h.update([0]);
    h.update(b"old secret");
    let legacy = hex::encode(h.finalize());
    db(&srv)
        .execute(
            "UPDATE accounts SET salt = 'pepper', hash = ?1 WHERE email = 'u1@w1.test'",
            [&legacy],
        )
        .unwrap();
    assert_eq!(login_status(&srv, "u1@w1.test", "wrong").await.0, 401);
    assert!(
        srv.backend()
            .login("u1@w1.test", "old secret")
            .await
            .is_ok()
    );
    let hash: String = db(&srv)
        .query_row(
            "SELECT hash FROM accounts WHERE email = 'u1@w1.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "rehashed: {hash}");
    assert!(
        srv.backend()
            .login("u1@w1.test", "old secret")
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_login_attempts_are_limited_per_account_and_per_address() {
    let srv = TestServer::start(3, 10).await;
    for _ in 0..10 {
        assert_eq!(login_status(&srv, "u0@w1.test", "guess").await.0, 401);
    }
    // The account's budget is spent: even the right password waits.
    let (status, retry) = login_status(&srv, "U0@w1.test", PASSWORD).await;
    assert_eq!(status, 429);
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=6).contains(&secs), "{secs}");
    // Another account is not held up by it.
    assert!(srv.backend().login("u1@w1.test", PASSWORD).await.is_ok());
    // Spraying many accounts from one address ends too. The address's
    // budget is set small here (the standard one refills two a second, which
    // a loaded machine's sequential attempts could not outrun).
    srv.server
        .state
        .login_limits
        .reconfigure(rapport_server::limits::LoginLimits::new(
            10,
            Duration::from_secs(6),
            20,
            Duration::from_secs(600),
        ));
    let mut limited = false;
    for i in 0..25 {
        if login_status(&srv, &format!("nobody{i}@w1.test"), "guess")
            .await
            .0
            == 429
        {
            limited = true;
            break;
        }
    }
    assert!(limited, "the address has a budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_a_refresh_token_used_again_after_its_grace_revokes_the_family() {
    let clock = Arc::new(rapport_core::timers::ManualClock::new(
        rapport_server::hub::now(),
    ));
    let srv = TestServer::start_with_clock(3, 10, Some(clock.clone())).await;
    let app = srv.backend();
    let first = app.login("u0@w1.test", PASSWORD).await.unwrap();
    let second = app.refresh(&first.refresh_token).await.unwrap();
    assert!(app.stats().await.is_ok(), "the new pair works");
    // Another login of the same member is another family.
    let other = srv.backend();
    let other_login = other.login("u0@w1.test", PASSWORD).await.unwrap();
    // A thief replays the first refresh token later.
    clock.advance_ms(rapport_server::hub::REFRESH_GRACE_MS + 1_000);
    let thief = srv.backend();
    assert!(matches!(
        thief.refresh(&first.refresh_token).await,
        Err(SyncError::Unauthorized)
    ));
    let hub = &srv.server.state.hub;
    assert!(
        hub.session(&second.token).unwrap().is_none(),
        "the family ends"
    );
    assert!(matches!(
        app.refresh(&second.refresh_token).await,
        Err(SyncError::Unauthorized)
    ));
    assert!(
        hub.session(&other_login.token).unwrap().is_some(),
        "other logins stay"
    );
}
