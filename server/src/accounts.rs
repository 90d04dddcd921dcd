//! Accounts and sessions: login credentials (salted password hashes) and
//! the token pairs they are issued. Owns the `accounts`, `sessions` and
//! `replaced_refresh` tables. Times come from the caller (the hub's
//! clock), so this module holds no clock of its own.

use crate::db::{Db, HubResult};
use rapport_core::model::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A logged-in member.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub workspace: String,
    pub member_id: String,
    pub expires_at: Timestamp,
}

/// How long a replaced refresh token still answers with its replacement
/// (two processes of one app refreshing together); after that it is dead.
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

fn hash(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
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
        let salt = random_hex(16);
        self.db.conn().execute(
            "INSERT INTO accounts (email, salt, hash, workspace, member_id) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (email) DO UPDATE SET salt = excluded.salt, hash = excluded.hash,
                 workspace = excluded.workspace, member_id = excluded.member_id",
            params![email, salt, hash(&salt, password), workspace, member_id],
        )?;
        Ok(())
    }

    /// The (workspace, member) of valid credentials.
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
        Ok(match row {
            Some((salt, h, ws, member)) if hash(&salt, password) == h => Some((ws, member)),
            _ => None,
        })
    }

    /// A new token pair for the member.
    pub(crate) fn issue(
        &self,
        workspace: &str,
        member_id: &str,
        now: Timestamp,
        life: Lifetimes,
    ) -> HubResult<Session> {
        issue_on(&self.db.conn(), workspace, member_id, now, life)
    }

    /// The session of a valid, unexpired access token.
    pub(crate) fn session(&self, token: &str, now: Timestamp) -> HubResult<Option<Session>> {
        let row: Option<(String, String, String, i64)> = self
            .db
            .conn()
            .query_row(
                "SELECT refresh_token, workspace, member_id, expires_at FROM sessions
                 WHERE token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.filter(|(_, _, _, exp)| now.0 < *exp).map(
            |(refresh_token, workspace, member_id, exp)| Session {
                token: token.to_owned(),
                refresh_token,
                workspace,
                member_id,
                expires_at: Timestamp(exp),
            },
        ))
    }

    /// A new session for a valid refresh token; the old pair is revoked.
    /// Taking the old pair is one statement: of two refreshes racing with
    /// one token, only one gets a session.
    pub(crate) fn refresh(
        &self,
        refresh_token: &str,
        now: Timestamp,
        life: Lifetimes,
    ) -> HubResult<Option<Session>> {
        let mut db = self.db.conn();
        let tx = db.transaction()?;
        tx.execute(
            "DELETE FROM replaced_refresh WHERE replaced_at <= ?1",
            [now.0 - REFRESH_GRACE_MS],
        )?;
        let taken: Option<(String, String)> = tx
            .query_row(
                "DELETE FROM sessions WHERE refresh_token = ?1 AND refresh_expires_at > ?2
                 RETURNING workspace, member_id",
                params![refresh_token, now.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let session = match taken {
            Some((ws, member)) => {
                let s = issue_on(&tx, &ws, &member, now, life)?;
                tx.execute(
                    "INSERT OR REPLACE INTO replaced_refresh (refresh_token, token, replaced_at)
                     VALUES (?1, ?2, ?3)",
                    params![refresh_token, s.token, now.0],
                )?;
                Some(s)
            }
            // Replaced a moment ago (by another process of the same app):
            // the same new pair, while it lives.
            None => tx
                .query_row(
                    "SELECT s.token, s.refresh_token, s.workspace, s.member_id, s.expires_at
                     FROM replaced_refresh r JOIN sessions s ON s.token = r.token
                     WHERE r.refresh_token = ?1 AND s.refresh_expires_at > ?2",
                    params![refresh_token, now.0],
                    |r| {
                        Ok(Session {
                            token: r.get(0)?,
                            refresh_token: r.get(1)?,
                            workspace: r.get(2)?,
                            member_id: r.get(3)?,
                            expires_at: Timestamp(r.get(4)?),
                        })
                    },
                )
                .optional()?,
        };
        tx.commit()?;
        Ok(session)
    }

    /// Ends the session of an access token.
    pub(crate) fn revoke(&self, token: &str) -> HubResult<()> {
        self.db
            .conn()
            .execute("DELETE FROM sessions WHERE token = ?1", [token])?;
        Ok(())
    }
}

fn issue_on(
    db: &Connection,
    workspace: &str,
    member_id: &str,
    now: Timestamp,
    life: Lifetimes,
) -> HubResult<Session> {
    let (token, refresh_token) = (random_hex(32), random_hex(32));
    let expires_at = now.plus_millis(life.access_ms);
    db.execute(
        "INSERT INTO sessions (token, refresh_token, workspace, member_id, expires_at,
             refresh_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            token,
            refresh_token,
            workspace,
            member_id,
            expires_at.0,
            now.plus_millis(life.refresh_ms).0
        ],
    )?;
    Ok(Session {
        token,
        refresh_token,
        workspace: workspace.to_owned(),
        member_id: member_id.to_owned(),
        expires_at,
    })
}
