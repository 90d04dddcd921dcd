//! Accounts and sessions: login credentials (argon2id password hashes) and
//! the token pairs they are issued. Owns the `accounts`, `sessions` and
//! `used_refresh` tables. Times come from the caller (the hub's clock), so
//! this module holds no clock of its own.
//!
//! Only a SHA-256 of each token is stored (tokens are 256 random bits, so a
//! fast hash suffices): a copy of server.db lets nobody act as a member. A
//! session belongs to a family: one login and every refresh after it. A
//! refresh token exchanged again within [`REFRESH_GRACE_MS`] (the app and
//! its notification process refreshing together) gets another pair of the
//! family; exchanged again later, it was stolen, and the whole family is
//! revoked.

use crate::db::{Db, HubError, HubResult, token_hash};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rapport_core::model::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

/// A logged-in member (as its access token showed).
#[derive(Clone, Debug)]
pub struct Session {
    /// The access token the caller presented (kept in memory only).
    pub token: String,
    pub workspace: String,
    pub member_id: String,
    pub expires_at: Timestamp,
    /// The login this session descends from (every refresh keeps it).
    pub family: String,
}

/// A pair just issued: the session and its refresh token, which exists in
/// clear only in this answer.
#[derive(Clone, Debug)]
pub struct Issued {
    pub session: Session,
    pub refresh_token: String,
}

/// How long an exchanged refresh token still gets a pair of its family
/// (two processes of one app refreshing together); after that, presenting
/// it revokes the family.
pub const REFRESH_GRACE_MS: i64 = 60_000;

/// Lifetimes of a new pair (ms).
#[derive(Clone, Copy)]
pub(crate) struct Lifetimes {
    pub access_ms: i64,
    pub refresh_ms: i64,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS RNG failing is unrecoverable for a server issuing tokens.
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    hex::encode(buf)
}

/// The salted SHA-256 of the first schema: still checked, and replaced by
/// argon2id at the account's next login.
fn legacy_hash(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

/// Compares without an early exit (the legacy hashes are compared as text).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// argon2id with the crate's defaults (the OWASP minimum: 19 MiB, two
/// passes, one lane), as a PHC string that carries its salt and parameters.
fn hash_password(password: &str) -> HubResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random number generator failed");
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HubError::Invalid(format!("argon2: {e}")))
}

/// Whether `password` matches a stored hash, and whether that hash should
/// be replaced by a current one (legacy SHA-256, or older parameters).
fn verify(salt: &str, stored: &str, password: &str) -> Option<bool> {
    if !stored.starts_with("$argon2") {
        return same(&legacy_hash(salt, password), stored).then_some(true);
    }
    let parsed = PasswordHash::new(stored).ok()?;
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .ok()?;
    let now = argon2::Params::default();
    let old = argon2::Params::try_from(&parsed).ok()?;
    Some(
        parsed.algorithm.as_str() != "argon2id"
            || (old.m_cost(), old.t_cost(), old.p_cost())
                != (now.m_cost(), now.t_cost(), now.p_cost()),
    )
}

/// A hash to verify unknown emails against, so that an unknown email costs
/// what a wrong password costs (no timing tells which emails exist).
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy").unwrap_or_default())
}

pub(crate) struct Accounts {
    db: Arc<Db>,
}

impl Accounts {
    pub(crate) fn new(db: Arc<Db>) -> Accounts {
        Accounts { db }
    }

    /// Sets (or replaces) the credentials of `email`.
    pub(crate) fn set_password(
        &self,
        email: &str,
        password: &str,
        workspace: &str,
        member_id: &str,
    ) -> HubResult<()> {
        let hash = hash_password(password)?;
        self.db.conn().execute(
            "INSERT INTO accounts (email, salt, hash, workspace, member_id) VALUES (?1, '', ?2, ?3, ?4)
             ON CONFLICT (email) DO UPDATE SET salt = excluded.salt, hash = excluded.hash,
                 workspace = excluded.workspace, member_id = excluded.member_id",
            params![email, hash, workspace, member_id],
        )?;
        Ok(())
    }

    /// The (workspace, member) of valid credentials. A hash of an older
    /// kind is replaced by argon2id now that the password is known.
    pub(crate) fn check_password(
        &self,
        email: &str,
        password: &str,
    ) -> HubResult<Option<(String, String)>> {
        let row: Option<(String, String, String, String)> = self
            .db
            .conn()
            .query_row(
                "SELECT salt, hash, workspace, member_id FROM accounts WHERE email = ?1",
                [email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        // The hashing runs without the connection held.
        let Some((salt, stored, ws, member)) = row else {
            let _ = verify("", decoy(), password);
            return Ok(None);
        };
        match verify(&salt, &stored, password) {
            None => Ok(None),
            Some(rehash) => {
                if rehash {
                    let fresh = hash_password(password)?;
                    self.db.conn().execute(
                        "UPDATE accounts SET salt = '', hash = ?2 WHERE email = ?1 AND hash = ?3",
                        params![email, fresh, stored],
                    )?;
                }
                Ok(Some((ws, member)))
            }
        }
    }

    /// A new token pair for the member: a new family.
    pub(crate) fn issue(
        &self,
        workspace: &str,
        member_id: &str,
        now: Timestamp,
        life: Lifetimes,
    ) -> HubResult<Issued> {
        let family = random_hex(16);
        issue_on(&self.db.conn(), workspace, member_id, &family, now, life)
    }

    /// The session of a valid, unexpired access token.
    pub(crate) fn session(&self, token: &str, now: Timestamp) -> HubResult<Option<Session>> {
        // A token check reads a reader: it never waits for a write.
        let row: Option<(String, String, String, i64)> = self
            .db
            .read()?
            .query_row(
                "SELECT family, workspace, member_id, expires_at FROM sessions
                 WHERE token = ?1",
                [token_hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row
            .filter(|(_, _, _, exp)| now.0 < *exp)
            .map(|(family, workspace, member_id, exp)| Session {
                token: token.to_owned(),
                workspace,
                member_id,
                expires_at: Timestamp(exp),
                family,
            }))
    }

    /// A new pair for a valid refresh token; the old pair is revoked.
    /// Taking the old pair is one statement: of two refreshes racing with
    /// one token, one takes it and the other, within the grace period, gets
    /// another pair of the same family. Presented after the grace period,
    /// an exchanged token revokes its family.
    pub(crate) fn refresh(
        &self,
        refresh_token: &str,
        now: Timestamp,
        life: Lifetimes,
    ) -> HubResult<Option<Issued>> {
        let presented = token_hash(refresh_token);
        let mut db = self.db.conn();
        let tx = db.transaction()?;
        tx.execute("DELETE FROM used_refresh WHERE forget_at <= ?1", [now.0])?;
        let taken: Option<(String, String, String)> = tx
            .query_row(
                "DELETE FROM sessions WHERE refresh_token = ?1 AND refresh_expires_at > ?2
                 RETURNING workspace, member_id, family",
                params![presented, now.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let issued = match taken {
            Some((ws, member, family)) => {
                tx.execute(
                    "INSERT OR REPLACE INTO used_refresh (refresh_token, family, used_at, forget_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![presented, family, now.0, now.plus_millis(life.refresh_ms).0],
                )?;
                Some(issue_on(&tx, &ws, &member, &family, now, life)?)
            }
            None => reuse(&tx, &presented, now, life)?,
        };
        tx.commit()?;
        Ok(issued)
    }

    /// Forgets sessions whose refresh token has expired (nothing can use
    /// them any more) and exchanged refresh tokens past their `forget_at`
    /// (issue 16 hole 4). Returns how many rows went.
    pub(crate) fn prune(&self, now: Timestamp) -> HubResult<usize> {
        let mut db = self.db.conn();
        let tx = db.transaction()?;
        let mut n = tx.execute(
            "DELETE FROM sessions WHERE refresh_expires_at <= ?1",
            [now.0],
        )?;
        n += tx.execute("DELETE FROM used_refresh WHERE forget_at <= ?1", [now.0])?;
        tx.commit()?;
        Ok(n)
    }

    /// Ends the session of an access token, and every pair of its family
    /// (a pair the notification process got in the grace period included).
    pub(crate) fn revoke(&self, token: &str) -> HubResult<()> {
        let conn = self.db.conn();
        conn.execute(
            "DELETE FROM sessions WHERE family IN
                 (SELECT family FROM sessions WHERE token = ?1)",
            [token_hash(token)],
        )?;
        Ok(())
    }
}

/// Whether the session family still has a session that can be used or
/// refreshed at `now` (H2: its devices get pushes only while it does). On
/// the caller's connection: the notifier asks while it holds it.
pub(crate) fn family_alive(conn: &Connection, family: &str, now: Timestamp) -> HubResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE family = ?1 AND refresh_expires_at > ?2)",
        )?
        .query_row(params![family, now.0], |r| r.get(0))?)
}

/// A refresh token exchanged before: within the grace period another pair
/// of its family, after it the family's end.
fn reuse(
    tx: &Transaction<'_>,
    presented: &str,
    now: Timestamp,
    life: Lifetimes,
) -> HubResult<Option<Issued>> {
    let used: Option<(String, i64)> = tx
        .query_row(
            "SELECT family, used_at FROM used_refresh WHERE refresh_token = ?1",
            [presented],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((family, used_at)) = used else {
        return Ok(None);
    };
    let member: Option<(String, String)> = tx
        .query_row(
            "SELECT workspace, member_id FROM sessions WHERE family = ?1 LIMIT 1",
            [&family],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match member {
        Some((ws, member)) if now.0 - used_at < REFRESH_GRACE_MS => {
            Ok(Some(issue_on(tx, &ws, &member, &family, now, life)?))
        }
        Some(_) => {
            tracing::warn!(
                "a refresh token was presented again after its grace period: its session family is revoked"
            );
            tx.execute("DELETE FROM sessions WHERE family = ?1", [&family])?;
            Ok(None)
        }
        // The family is gone already (logged out, revoked).
        None => Ok(None),
    }
}

fn issue_on(
    db: &Connection,
    workspace: &str,
    member_id: &str,
    family: &str,
    now: Timestamp,
    life: Lifetimes,
) -> HubResult<Issued> {
    let (token, refresh_token) = (random_hex(32), random_hex(32));
    let expires_at = now.plus_millis(life.access_ms);
    db.execute(
        "INSERT INTO sessions (token, refresh_token, workspace, member_id, expires_at,
             refresh_expires_at, family) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            token_hash(&token),
            token_hash(&refresh_token),
            workspace,
            member_id,
            expires_at.0,
            now.plus_millis(life.refresh_ms).0,
            family
        ],
    )?;
    Ok(Issued {
        session: Session {
            token,
            workspace: workspace.to_owned(),
            member_id: member_id.to_owned(),
            expires_at,
            family: family.to_owned(),
        },
        refresh_token,
    })
}

#[cfg(test)]
mod prune_tests {
    use crate::hub::Hub;
    use rapport_core::model::Timestamp;
    use rapport_core::timers::ManualClock;
    use std::sync::Arc;

    /// S5 / issue 16 hole 4: a session whose refresh token expired, and a
    /// refresh token exchanged and past its `forget_at`, are pruned; a live
    /// session is not.
    #[test]
    fn s5_dead_sessions_and_exchanged_refresh_tokens_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(1_000_000)));
        let hub = Hub::open_with_clock(dir.path().join("server.db"), clock.clone()).unwrap();
        let first = hub.issue("w1", "u1").unwrap();
        // Exchanged: its old pair goes, the token is remembered as used.
        let second = hub.refresh(&first.refresh_token).unwrap().unwrap();
        assert_eq!(crate::prune::prune(&hub).unwrap().sessions, 0);
        clock.advance_ms(hub.refresh_ttl_ms - 1);
        let live = hub.issue("w1", "u2").unwrap();
        assert_eq!(crate::prune::prune(&hub).unwrap().sessions, 0);
        clock.advance_ms(1);
        // The exchanged token and the second pair (both from the start).
        assert_eq!(crate::prune::prune(&hub).unwrap().sessions, 2);
        assert!(hub.refresh(&second.refresh_token).unwrap().is_none());
        assert!(hub.refresh(&live.refresh_token).unwrap().is_some());
    }
}
