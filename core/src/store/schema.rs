//! The store's schema, its migrations and the connection settings, kept
//! together (as application-services does): the current shape of the
//! database is the sum of the numbered steps below, and a test proves that
//! every step applies cleanly and that the result validates.
//!
//! Rules for changing it:
//! - Never edit a released step; add a new one at the end.
//! - Codes stored as integers (`app`, `kind`, `state`, `delivery`, ...) are
//!   the `code()` of the model's enums: stable forever.
//! - Keep the `bucket` expression in step with `filter::bucket`: the live
//!   counts (A5) are read from `chat_counts`, which `apply` keeps (one
//!   upsert per bucket per batch, cheaper than a trigger per chat update).

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// Step 1: the first schema.
const V1: &str = r#"
-- Small key/value facts about this store: last applied seq, who "me" is.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE bots (
    id         TEXT PRIMARY KEY,
    app        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE members (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    avatar_url           TEXT,
    role                 TEXT NOT NULL,
    conversations_access INTEGER NOT NULL
);

-- The subscriber card (F1-F8) is read whole by one screen: kept as JSON.
CREATE TABLE subscribers (
    id     TEXT PRIMARY KEY,
    bot_id TEXT NOT NULL,
    card   TEXT NOT NULL
);

-- One row per chat. `rid` is a local key: messages and the word index point
-- at it, so the server's string ids are stored once.
CREATE TABLE chats (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    bot_id          TEXT NOT NULL,
    subscriber_id   TEXT NOT NULL,
    app             INTEGER NOT NULL,
    kind            INTEGER NOT NULL,
    state           INTEGER NOT NULL,             -- 0 open, 1 closed
    assignee        TEXT,
    aclass          INTEGER NOT NULL,             -- 0 unassigned, 1 me, 2 someone else
    title           TEXT NOT NULL,
    avatar_url      TEXT,
    last_activity   INTEGER NOT NULL,
    unread          INTEGER NOT NULL,
    last_inbound_at INTEGER,
    paused_until    INTEGER,
    preview         TEXT,                          -- JSON of model::Preview
    name_folded     TEXT NOT NULL,                 -- ' word word ' after folding (A6)
    -- Every filter of A2-A5 is a set of buckets; see store::filter.
    bucket INTEGER GENERATED ALWAYS AS (
        app * 18 + kind * 9 + aclass * 3
        + CASE WHEN state = 1 THEN 2 WHEN unread > 0 THEN 1 ELSE 0 END
    ) VIRTUAL
);
-- A1 newest first; covers the filter (bucket) and the dense name search
-- (name_folded), so scanning it never touches the table.
CREATE INDEX chats_by_activity ON chats (last_activity, rid, bucket, name_folded);
-- Selective filters: the few rows of a bucket set, then sorted.
CREATE INDEX chats_by_bucket ON chats (bucket, last_activity);
CREATE INDEX chats_by_subscriber ON chats (subscriber_id);
-- S4: the few chats with a bot pause, for restoring their timers.
CREATE INDEX chats_paused ON chats (paused_until) WHERE paused_until IS NOT NULL;

-- Live counts per bucket (A5), kept by store::apply.
CREATE TABLE chat_counts (
    bucket INTEGER PRIMARY KEY,
    n      INTEGER NOT NULL
);

-- I1: messages sent and received per bot: the server's figures at a seq
-- (snapshot, refresh), advanced by every new message applied after it.
CREATE TABLE bot_stats (
    bot_id   TEXT PRIMARY KEY,
    sent     INTEGER NOT NULL,
    received INTEGER NOT NULL
) WITHOUT ROWID;

-- E6: Viber bot-initiated messages per bot per UTC calendar month
-- (month = year * 100 + month), derived by apply from the messages sent
-- outside the 24-hour window.
CREATE TABLE viber_usage (
    bot_id TEXT NOT NULL,
    month  INTEGER NOT NULL,
    used   INTEGER NOT NULL,
    PRIMARY KEY (bot_id, month)
) WITHOUT ROWID;

-- H2: what each chat's notification last showed, and the agent's mutes.
-- A notification process touches one chat's rows only.
CREATE TABLE chat_push (
    chat_id       TEXT PRIMARY KEY,
    last_alert_at INTEGER,
    last_seq      INTEGER NOT NULL,
    count         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE chat_muted (
    chat_id TEXT PRIMARY KEY
) WITHOUT ROWID;

-- E7: the outbox. A command is stored here (with its local echo in
-- messages, delivery 4 = pending) before any network call, and leaves
-- when the server confirmed it; a refusal stays, failed, until the agent
-- retries or discards it.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,              -- queue order
    key           TEXT NOT NULL UNIQUE,             -- idempotency key
    chat_id       TEXT,
    action        TEXT NOT NULL,                    -- JSON of sync::Action
    echo_id       TEXT,                             -- the echo message's id
    state         TEXT NOT NULL,                    -- 'queued' | 'failed'
    attempts      INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_message TEXT,
    created_at    INTEGER NOT NULL
);

-- Folded words of chat titles, for word-prefix search (A6).
CREATE TABLE chat_words (
    word TEXT NOT NULL,
    rid  INTEGER NOT NULL,
    PRIMARY KEY (word, rid)
) WITHOUT ROWID;

CREATE TABLE messages (
    rid        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    chat_rid   INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    sender     INTEGER NOT NULL,                   -- 0 subscriber, 1 bot, 2 third-party app, 3 member
    sender_member TEXT,                            -- the member, when sender = 3
    content    TEXT NOT NULL,                      -- JSON of model::Content
    delivery   INTEGER,
    quote      TEXT,
    reactions  TEXT,
    edited_at  INTEGER,
    deleted_at INTEGER,
    ad         TEXT
);
-- B1: a chat's history backwards by pages.
CREATE INDEX messages_timeline ON messages (chat_rid, at, rid);

CREATE TABLE notes (
    rid        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    chat_rid   INTEGER NOT NULL,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    edited_at  INTEGER
);
CREATE INDEX notes_timeline ON notes (chat_rid, created_at, rid);

CREATE TABLE deals (
    id            TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    deal          TEXT NOT NULL
);
CREATE INDEX deals_by_subscriber ON deals (subscriber_id);

-- Events kept rather than dropped: types this version does not know, and
-- events about a chat the store has not seen yet (replayed when it comes).
CREATE TABLE kept_events (
    id      INTEGER PRIMARY KEY,
    seq     INTEGER,                               -- NULL: the event had none
    type    TEXT NOT NULL,
    chat_id TEXT,
    reason  TEXT NOT NULL,                         -- 'unknown' | 'orphan' | 'malformed'
    detail  TEXT,                                  -- why it did not decode
    event   TEXT NOT NULL
);
CREATE INDEX kept_events_by_seq ON kept_events (seq);
CREATE INDEX kept_events_by_chat ON kept_events (chat_id) WHERE chat_id IS NOT NULL;
"#;

/// Step 2: E2, the bytes of an attachment waiting in the outbox. Stored
/// with its command in one transaction (a killed app resumes the upload);
/// deleted with it when the server took it or the agent discarded it. Kept
/// apart from `outbox` so a scan of the queue never reads megabytes, and
/// read in chunks through SQLite's incremental blob I/O.
const V2: &str = r#"
CREATE TABLE outbox_files (
    key   TEXT PRIMARY KEY,                        -- the command's key
    bytes BLOB NOT NULL
);
"#;

/// Step 3: the outbox sends several chats at once, the oldest command of
/// each (`Store::outbox_ready`): found by chat, not by scanning the queue
/// for each row (a day offline queues thousands).
const V3: &str = r#"
CREATE INDEX outbox_by_chat ON outbox (chat_id, id);
"#;

/// Step 4 (issue 18): the chats a later page of a paged snapshot brought,
/// at that page's seq. Catch-up goes on from the first page's seq and skips
/// a held chat's events up to its seq (the page already reflects them);
/// emptied once catch-up passes every held seq. Its own small table, so
/// the hot `chats` rows and their indexes stay as they were.
const V4: &str = r#"
CREATE TABLE snapshot_held (
    chat_id TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Step 5 (issue 18): a chat's list preview is a reference to the message
/// it shows (`preview_rid`, with that message's time `preview_at`, which
/// `apply` compares new messages with), not a JSON copy of it. The copy made
/// a chat row some 220 bytes, rewritten for every batch that brought the
/// chat a message: at 100k chats a catch-up page dirtied nearly every page
/// of the table. Readers take the preview from the message row (its rid is
/// its key), which also keeps it right when the message changes.
/// A stored preview naming a message the chat does not have (or not JSON)
/// falls back to the chat's latest message not deleted, as `apply` would
/// choose it.
const V5: &str = r#"
ALTER TABLE chats ADD COLUMN preview_rid INTEGER;
ALTER TABLE chats ADD COLUMN preview_at INTEGER;
UPDATE chats SET preview_rid = coalesce(
    (SELECT m.rid FROM messages m
     WHERE m.id = CASE WHEN json_valid(chats.preview)
                       THEN json_extract(chats.preview, '$.message_id') END
       AND m.chat_rid = chats.rid),
    (SELECT m.rid FROM messages m WHERE m.chat_rid = chats.rid AND m.deleted_at IS NULL
     ORDER BY m.at DESC, m.rid DESC LIMIT 1)
) WHERE preview IS NOT NULL;
UPDATE chats SET preview_at = (SELECT m.at FROM messages m WHERE m.rid = chats.preview_rid)
WHERE preview_rid IS NOT NULL;
ALTER TABLE chats DROP COLUMN preview;
"#;

/// Step 6 (issue 17, E7): the direct SendPulse connector's record of a send
/// whose answer was lost (the message may have gone out). SendPulse has no
/// idempotency keys, so the outbox's retry must look in the contact's
/// history before sending again; in memory only, a restart in between
/// forgot that and could send twice. One row per outbox command (its key),
/// deleted when the send is settled or the command leaves the outbox.
const V6: &str = r#"
CREATE TABLE sendpulse_sends (
    key        TEXT PRIMARY KEY,                   -- the outbox command's key
    message_id TEXT NOT NULL,                      -- its echo's id
    contact    TEXT NOT NULL,                      -- the SendPulse contact id
    text       TEXT NOT NULL,                      -- what was sent (found by it)
    started    INTEGER NOT NULL                    -- ms, when the send began
) WITHOUT ROWID;
"#;

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
    ])
}

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = 6;

/// Settings for every connection, writer and readers alike.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // Another process (the notification extension, H3) may hold the write
    // lock for a moment: wait for it rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "
        -- Readers never block the writer and see a consistent snapshot.
        PRAGMA journal_mode = WAL;
        -- With WAL, NORMAL syncs at checkpoints only: a killed app loses
        -- nothing committed; a power cut may lose the last transactions,
        -- which sync fetches again from the server.
        PRAGMA synchronous = NORMAL;
        -- After a checkpoint, cut the WAL file back to this size (4 MiB)
        -- instead of leaving it at its largest: the WAL must not only grow.
        PRAGMA journal_size_limit = 4194304;
        -- Sorts and temporary indexes in memory: small, and never on a
        -- phone's flash.
        PRAGMA temp_store = MEMORY;
        -- 4 MiB page cache (negative = KiB) for every connection: enough
        -- for the hot index pages of a read, small enough for a 24 MB
        -- notification extension. The writer raises its own (Store::open).
        PRAGMA cache_size = -4096;
        -- Referential integrity is kept by the code that writes (apply);
        -- FOREIGN KEY checks would cost on every message insert.
        PRAGMA foreign_keys = OFF;
        ",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(conn: &Connection) -> Vec<String> {
        super::super::inspect::shape(conn).unwrap()
    }

    fn data(conn: &Connection) -> Vec<String> {
        super::super::inspect::rows(conn).unwrap()
    }

    /// Rows written right after step N (index N - 1), in the columns that
    /// step knows: what a store at that version could hold, which every
    /// later step must carry. A new step adds its entry (empty if it only
    /// adds an index).
    const WRITES_AFTER_STEP: &[&[&str]] = &[
        &[
            "INSERT INTO meta VALUES ('last_seq', '42'), ('me', 'u1')",
            "INSERT INTO bots VALUES ('b1', 0, 'Bot', 1000)",
            "INSERT INTO members VALUES ('u1', 'Ann', NULL, 'Admin', 1)",
            "INSERT INTO subscribers VALUES ('s1', 'b1', '{}')",
            // Without `preview`, which step 5 replaced (its conversion:
            // s1_step_5_turns_json_previews_into_references).
            "INSERT INTO chats (rid, id, bot_id, subscriber_id, app, kind, state, assignee,
                 aclass, title, avatar_url, last_activity, unread, last_inbound_at,
                 paused_until, name_folded)
             VALUES (1, 'c1', 'b1', 's1', 1, 0, 0, 'u1', 1, 'Zoë', NULL, 2000, 3, 1900,
                 5000, ' zoe '),
                    (2, 'c2', 'b1', 's1', 0, 1, 1, NULL, 0, 'Bob', NULL, 1500, 0, NULL,
                 NULL, ' bob ')",
            "INSERT INTO chat_counts VALUES (28, 1), (11, 1)",
            "INSERT INTO bot_stats VALUES ('b1', 5, 7)",
            "INSERT INTO viber_usage VALUES ('b1', 202601, 2)",
            "INSERT INTO chat_push VALUES ('c1', 1900, 40, 2)",
            "INSERT INTO chat_muted VALUES ('c2')",
            "INSERT INTO outbox (id, key, chat_id, action, echo_id, state, created_at)
             VALUES (1, 'k1', 'c1', '{}', 'm9', 'queued', 2100),
                    (2, 'k2', 'c2', '{}', NULL, 'failed', 2200)",
            "INSERT INTO chat_words VALUES ('zoe', 1), ('bob', 2)",
            "INSERT INTO messages (rid, id, chat_rid, at, sender, sender_member, content,
                 delivery, quote, reactions, edited_at, deleted_at, ad)
             VALUES (1, 'm1', 1, 1900, 0, NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL),
                    (2, 'm9', 1, 2100, 3, 'u1', '{}', 4, 'm1', '[]', 2150, NULL, NULL)",
            "INSERT INTO notes VALUES (1, 'n1', 1, 'u1', 'a note', 2050, NULL)",
            "INSERT INTO deals VALUES ('d1', 's1', '{}')",
            "INSERT INTO kept_events (seq, type, chat_id, reason, detail, event)
             VALUES (41, 'later_type', 'c9', 'unknown', NULL, '{}'),
                    (NULL, '', NULL, 'malformed', 'bad json', 'x')",
        ],
        &["INSERT INTO outbox_files VALUES ('k1', x'00ff10')"],
        &[],
        &["INSERT INTO snapshot_held VALUES ('c2', 50)"],
        &["UPDATE chats SET preview_rid = 2, preview_at = 2100 WHERE rid = 1"],
        &["INSERT INTO sendpulse_sends VALUES ('k1', 'm9', 'ct1', 'hello', 2100)"],
    ];

    fn at(version: usize) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, version).unwrap();
        conn
    }

    /// A store taken to each version in turn, with what that version could
    /// hold written in between, ends as a store created at the latest
    /// version with the same rows: the same schema, the same data, indexes
    /// consistent.
    #[test]
    fn s1_upgraded_step_by_step_equals_created_fresh() {
        assert_eq!(
            WRITES_AFTER_STEP.len() as i64,
            LATEST,
            "every step is listed"
        );
        migrations().validate().unwrap();
        let mut stepped = at(0);
        for (i, writes) in WRITES_AFTER_STEP.iter().enumerate() {
            migrations().to_version(&mut stepped, i + 1).unwrap();
            let v: i64 = stepped
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(v, i as i64 + 1);
            for w in *writes {
                stepped.execute(w, []).unwrap();
            }
        }
        let fresh = at(LATEST as usize);
        for w in WRITES_AFTER_STEP.iter().flat_map(|w| w.iter()) {
            fresh.execute(w, []).unwrap();
        }
        assert_eq!(shape(&stepped), shape(&fresh));
        assert_eq!(data(&stepped), data(&fresh));
        assert!(data(&fresh).len() > 20);
        for conn in [&stepped, &fresh] {
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
        }
    }

    /// Step 5 keeps each chat's preview as a reference to the message its
    /// JSON named (in that chat); a preview that names no message of the
    /// chat, or is not JSON, falls back to the chat's latest message, or
    /// none, rather than stopping the upgrade.
    #[test]
    fn s1_step_5_turns_json_previews_into_references() {
        let mut conn = at(4);
        for w in WRITES_AFTER_STEP[..4].iter().flat_map(|w| w.iter()) {
            conn.execute(w, []).unwrap();
        }
        conn.execute_batch(
            r#"UPDATE chats SET preview = '{"message_id":"m9","direction":"outbound",
                   "kind":"text","text":"hi","at":2100}' WHERE rid = 1;
               INSERT INTO chats (rid, id, bot_id, subscriber_id, app, kind, state, aclass,
                   title, last_activity, unread, preview, name_folded)
               VALUES (3, 'c3', 'b1', 's1', 0, 0, 0, 0, 'Al', 1, 0,
                   '{"message_id":"m1","at":1900}', ' al '),
                      (4, 'c4', 'b1', 's1', 0, 0, 0, 0, 'Di', 1, 0, 'not json', ' di '),
                      (5, 'c5', 'b1', 's1', 0, 0, 0, 0, 'Ed', 1, 0,
                   '{"message_id":"gone","at":1}', ' ed ');
               INSERT INTO messages (rid, id, chat_rid, at, sender, content)
               VALUES (3, 'm3', 5, 3000, 0, '{}'), (4, 'm4', 5, 3000, 0, '{}'),
                      (5, 'm5', 5, 3500, 0, '{}');
               UPDATE messages SET deleted_at = 3600 WHERE rid = 5;"#,
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let refs: Vec<(i64, Option<i64>, Option<i64>)> = conn
            .prepare("SELECT rid, preview_rid, preview_at FROM chats ORDER BY rid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            refs,
            [
                (1, Some(2), Some(2100)),
                (2, None, None),
                // m1 is c1's message, not c3's.
                (3, None, None),
                (4, None, None),
                // The latest message not deleted, the later row of a tie.
                (5, Some(4), Some(3000)),
            ]
        );
    }

    /// Each intermediate version, upgraded in one go to the latest, also
    /// ends where a fresh store does.
    #[test]
    fn s1_every_version_upgrades_to_the_latest_shape() {
        let fresh = shape(&at(LATEST as usize));
        for v in 0..LATEST as usize {
            let mut conn = at(v);
            migrations().to_latest(&mut conn).unwrap();
            assert_eq!(shape(&conn), fresh, "from version {v}");
        }
    }
}
