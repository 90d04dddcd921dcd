//! Internal notes (C1): timeline items next to the messages.

use super::Batch;
use crate::model::{ChatId, Note, NoteId};
use crate::store::{Changes, Result, TimelineItemId};
use rusqlite::params;

impl Batch<'_> {
    pub(super) fn upsert_note(&mut self, n: &Note, changes: &mut Changes) -> Result<()> {
        let rid = self.rid(&n.chat_id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO notes (id, chat_rid, author, text, created_at, edited_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET author = excluded.author,
                     text = excluded.text, edited_at = excluded.edited_at",
            )?
            .execute(params![
                n.id.as_str(),
                rid,
                n.author.as_str(),
                n.text,
                n.created_at.0,
                n.edited_at.map(|t| t.0)
            ])?;
        changes.timeline(&n.chat_id, TimelineItemId::Note(n.id.clone()));
        Ok(())
    }

    pub(super) fn delete_note(
        &mut self,
        chat_id: &ChatId,
        note_id: &NoteId,
        changes: &mut Changes,
    ) -> Result<()> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM notes WHERE id = ?1")?
            .execute([note_id.as_str()])?;
        if n > 0 {
            changes.timeline(chat_id, TimelineItemId::Note(note_id.clone()));
        }
        Ok(())
    }
}
