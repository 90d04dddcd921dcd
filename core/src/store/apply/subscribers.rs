//! Subscribers (F1-F8): the card, whole; their chats show its name and
//! avatar.

use super::Batch;
use crate::model::{ChatId, Subscriber};
use crate::store::codec::to_json;
use crate::store::{Changes, Result};
use rusqlite::params;

impl Batch<'_> {
    pub(super) fn upsert_subscriber(
        &mut self,
        s: &Subscriber,
        changes: &mut Changes,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO subscribers (id, bot_id, card) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET bot_id = excluded.bot_id,
                     card = excluded.card",
            )?
            .execute(params![s.id.as_str(), s.bot_id.as_str(), to_json(s)])?;
        changes.subscribers.insert(s.id.clone());
        // The chat rows show the subscriber's name and avatar.
        let ids: Vec<String> = self
            .conn
            .prepare_cached("SELECT id FROM chats WHERE subscriber_id = ?1")?
            .query_map([s.id.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            if let Some(l) = self.chat(&ChatId(id))?
                && (l.chat.title != s.name || l.chat.avatar_url != s.avatar_url)
            {
                l.chat.title = s.name.clone();
                l.chat.avatar_url = s.avatar_url.clone();
            }
        }
        Ok(())
    }
}
