//! Issue 17, E7: the direct SendPulse connector's record of each send whose
//! answer was lost (schema step 6). SendPulse takes no idempotency key, so
//! the retry of such a send reads the contact's history first and sends
//! again only if the message is not there; the record survives a restart of
//! the app, so the retry after it looks too. A row lives while its outbox
//! command does: the connector deletes it when the send is settled, and
//! the outbox when the command leaves (confirmed or discarded).

use super::{Result, Store};
use crate::model::{MessageId, Timestamp};

/// A send that may have reached SendPulse though its answer never came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostSend {
    /// The outbox command's idempotency key.
    pub key: String,
    /// Its echo's id (the message keeps it once SendPulse's copy is found).
    pub message_id: MessageId,
    /// The SendPulse contact it went to.
    pub contact: String,
    /// What was sent: its copy in the history is found by it.
    pub text: String,
    /// When the send began.
    pub started: Timestamp,
}

impl Store {
    /// Keeps (or replaces) the record of the send `key`.
    pub fn put_lost_send(&self, send: &LostSend) -> Result<()> {
        self.write(|tx, _, _| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO sendpulse_sends (key, message_id, contact, text, started)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![
                send.key,
                send.message_id.as_str(),
                send.contact,
                send.text,
                send.started.0
            ])?;
            Ok(())
        })
        .map(|_| ())
    }

    /// The records kept, oldest send first.
    pub fn lost_sends(&self) -> Result<Vec<LostSend>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, message_id, contact, text, started FROM sendpulse_sends
                 ORDER BY started, key",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(LostSend {
                    key: r.get(0)?,
                    message_id: MessageId(r.get(1)?),
                    contact: r.get(2)?,
                    text: r.get(3)?,
                    started: Timestamp(r.get(4)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The send `key` is settled (found, sent, or refused for good).
    pub fn forget_lost_send(&self, key: &str) -> Result<()> {
        self.write(|tx, _, _| {
            tx.prepare_cached("DELETE FROM sendpulse_sends WHERE key = ?1")?
                .execute([key])?;
            Ok(())
        })
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e7_a_lost_send_is_kept_across_a_reopen_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let send = LostSend {
            key: "k1".into(),
            message_id: MessageId::from("m-1"),
            contact: "ct1".into(),
            text: "hello".into(),
            started: Timestamp(1_000),
        };
        Store::open(&path).unwrap().put_lost_send(&send).unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.lost_sends().unwrap(), vec![send]);
        store.forget_lost_send("k1").unwrap();
        assert!(store.lost_sends().unwrap().is_empty());
    }
}
