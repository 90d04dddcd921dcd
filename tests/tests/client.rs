//! The `Client` facade the apps will hold: open offline, log in, sync into
//! live windows, decide on server time, restore the session, log out.

use rapport_core::model::*;
use rapport_core::policy::Outgoing;
use rapport_core::session::{FileSecretStore, SecretStore};
use rapport_core::store::ChatFilter;
use rapport_core::sync::SyncState;
use rapport_core::{Client, ClientConfig};
use rapport_tests::{PASSWORD, TestServer, wait_until};
use std::sync::{Arc, Mutex};

#[test]
fn s1_s2_s5_a_client_logs_in_syncs_restores_offline_and_logs_out() {
    // The server runs on its own runtime; the client owns another.
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(40, 400));
    let dir = tempfile::tempdir().unwrap();
    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json")));
    let config = || ClientConfig {
        store_path: dir.path().join("rapport.db"),
        server_url: srv.url(),
    };

    let client = Client::open(config(), secrets.clone()).unwrap();
    assert!(client.login_info().is_none());
    assert!(client.start_sync().is_err(), "not logged in yet");
    let info = rt.block_on(client.login("u0@w1.test", PASSWORD)).unwrap();
    assert_eq!(info.member_id, MemberId::from("u0"));

    // A live window fills as the first sync lands.
    let rows: Arc<Mutex<Vec<ChatSummary>>> = Arc::default();
    let r = rows.clone();
    let _sub = client
        .subscribe_chat_list(ChatFilter::default(), 20, move |diffs| {
            let mut v = r.lock().unwrap();
            for d in diffs {
                assert!(d.apply(&mut v));
            }
        })
        .unwrap();
    client.start_sync().unwrap();
    let state = client.sync_state();
    wait_until("live", 20, || {
        matches!(*state.borrow(), SyncState::Live { .. })
    });
    wait_until("the first page", 20, || rows.lock().unwrap().len() == 20);

    // E4 on server time: a chat whose subscriber wrote just now.
    let chat = rows.lock().unwrap()[0].chat.id.clone();
    srv.subscriber_writes(chat.as_str(), "fresh");
    wait_until("the new message", 20, || {
        client
            .chat(&chat)
            .unwrap()
            .unwrap()
            .chat
            .last_inbound_at
            .is_some_and(|t| t.0 > rapport_server::hub::now().0 - 60_000)
    });
    assert!(
        client
            .decide(&chat, &Outgoing::Text("On it"))
            .unwrap()
            .is_allowed()
    );
    let long = "a".repeat(513);
    assert_eq!(
        client
            .decide(&chat, &Outgoing::Text(&long))
            .unwrap()
            .refusal()
            .map(|r| r.code()),
        Some("text_too_long")
    );
    drop(_sub);
    drop(client);

    // A new process, offline: the session and the inbox are there at once.
    let offline = Client::open(
        ClientConfig {
            store_path: dir.path().join("rapport.db"),
            server_url: srv.url(),
        },
        secrets.clone(),
    )
    .unwrap();
    assert_eq!(
        offline.login_info().map(|i| i.member_id),
        Some(MemberId::from("u0"))
    );
    let page = offline.chat_page(&ChatFilter::default(), None, 20).unwrap();
    assert_eq!(page.rows.len(), 20);

    // Logout: the session is forgotten and the data deleted.
    rt.block_on(offline.logout()).unwrap();
    assert!(!dir.path().join("rapport.db").exists());
    assert_eq!(secrets.load("rapport.session").unwrap(), None);
}

/// A platform secret store (Keychain, Keystore) that fails: reading, or
/// deleting at logout.
struct BrokenSecrets {
    inner: FileSecretStore,
    fail_load: bool,
}

impl SecretStore for BrokenSecrets {
    fn load(&self, key: &str) -> Result<Option<String>, rapport_core::session::SecretError> {
        if self.fail_load {
            return Err(rapport_core::session::SecretError("keychain locked".into()));
        }
        self.inner.load(key)
    }
    fn save(&self, key: &str, value: &str) -> Result<(), rapport_core::session::SecretError> {
        self.inner.save(key, value)
    }
    fn delete(&self, _key: &str) -> Result<(), rapport_core::session::SecretError> {
        Err(rapport_core::session::SecretError("keychain locked".into()))
    }
}

#[test]
fn s5_a_failing_secret_store_is_its_own_error_not_the_network() {
    use rapport_core::ClientError;
    use rapport_core::push::{NotificationClient, NotificationError};
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(5, 20));
    let dir = tempfile::tempdir().unwrap();
    let secrets = |fail_load| -> Arc<dyn SecretStore> {
        Arc::new(BrokenSecrets {
            inner: FileSecretStore::new(dir.path().join("secrets.json")),
            fail_load,
        })
    };
    let config = || ClientConfig {
        store_path: dir.path().join("rapport.db"),
        server_url: srv.url(),
    };
    // Logging out forgets the store; a secret that cannot be deleted is
    // reported as the secret store's failure.
    let client = Client::open(config(), secrets(false)).unwrap();
    rt.block_on(client.login("u0@w1.test", PASSWORD)).unwrap();
    match rt.block_on(client.logout()) {
        Err(ClientError::SecretStore(_)) => {}
        other => panic!("{other:?}"),
    }
    // Reading the session fails: both processes say so, typed.
    match Client::open(config(), secrets(true)) {
        Err(ClientError::SecretStore(_)) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened without its session"),
    }
    match NotificationClient::open(&dir.path().join("rapport.db"), &srv.url(), secrets(true)) {
        Err(NotificationError::SecretStore(_)) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened without its session"),
    }
}

#[test]
fn s5_a_wrong_password_is_refused_as_bad_credentials_not_as_a_lost_session() {
    use rapport_core::ClientError;
    use rapport_core::sync::SyncError;
    use rapport_core::wire::ErrorCode;
    let rt = rapport_tests::runtime();
    let srv = rt.block_on(TestServer::start(5, 20));
    let dir = tempfile::tempdir().unwrap();
    let client = Client::open(
        ClientConfig {
            store_path: dir.path().join("rapport.db"),
            server_url: srv.url(),
        },
        Arc::new(FileSecretStore::new(dir.path().join("secrets.json"))),
    )
    .unwrap();
    // The app tells the agent the password is wrong, not that a session
    // ended (which is what an expired token's 401 means).
    match rt.block_on(client.login("u0@w1.test", "not the password")) {
        Err(ClientError::Sync(SyncError::Refused { status, code, .. })) => {
            assert_eq!((status, code), (401, ErrorCode::BadCredentials))
        }
        other => panic!("{other:?}"),
    }
    assert!(client.login_info().is_none());
    rt.block_on(client.login("u0@w1.test", PASSWORD)).unwrap();
}
