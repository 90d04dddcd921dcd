#!/usr/bin/env python3
"""Writes the server.db fixture of one released schema version.

usage: scripts/server-db-fixture.py SERVER_BINARY VERSION COMMIT NEXT [PORT]

SERVER_BINARY is rapport-server built at COMMIT, the last commit whose
server/src/db.rs ends at step VERSION (NEXT: the commit that adds the step
after it). Build it from a worktree of COMMIT with its own target dir:

    git worktree add --detach /tmp/old-vN COMMIT
    (cd /tmp/old-vN && CARGO_TARGET_DIR=/tmp/old-target cargo build -p rapport-server)

(touch the old worktree's sources if that target dir built another old
commit just before: cargo may take the same-named binary as fresh.)

The script runs the binary on an empty file in a temporary directory with
the demo workspace (--chats 3 --messages 12), drives it over HTTP as
tests/tests/server_migrations.rs expects (login, one refresh, a reply with
Idempotency-Key fixture-key-1, an upload left at 12 of 32 bytes, a device,
settings), stops it with SIGINT, and writes
server/tests/fixtures/server-db-vVERSION.sql and .ws-demo.sql (the
workspace store kept beside it), each with its header, checked by loading
it back. It prints the tokens the test's Fixture needs. Needs the sqlite3
command-line shell (its .dump is the fixtures' format).
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import sqlite3

if len(sys.argv) not in (5, 6):
    sys.exit(__doc__)
binary, version, commit, nxt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
port = int(sys.argv[5]) if len(sys.argv) == 6 else 18730 + version
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out_dir = os.path.join(root, "server", "tests", "fixtures")
work = tempfile.mkdtemp(prefix="server-db-fixture-")
db = os.path.join(work, "server.db")
store = db + ".ws-demo.sqlite"
base = f"http://127.0.0.1:{port}"
FILE = b"fixture file: 32 bytes of text\n!"


def call(method, path, body=None, token=None, key=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/octet-stream" if raw else "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req) as resp:
            status, answer = resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        status, answer = e.code, json.loads(e.read() or b"null")
    if status != 200:
        sys.exit(f"{method} {path}: {status} {answer}")
    return answer


server = subprocess.Popen(
    [binary, "--db", db, "--listen", f"127.0.0.1:{port}", "--chats", "3", "--messages", "12"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
try:
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/v1/sync?since=0")
        except urllib.error.HTTPError:
            break  # up (401: no token)
        except OSError:
            time.sleep(0.2)
    time.sleep(0.5)  # the demo's seeding runs after the listener is up
    login = call("POST", "/v1/login", {"email": "agent@example.com", "password": "rapport"})
    pair = call("POST", "/v1/refresh", {"refresh_token": login["refresh_token"]})
    token = pair["token"]
    snap = call("GET", "/v1/sync?since=0", token=token)
    chat = next(c["id"] for c in snap["chats"] if c["app"] in ("telegram", "livechat"))
    call("POST", f"/v1/chats/{chat}/messages",
         {"text": "fixture reply", "message_id": "fixture-m1"}, token=token, key="fixture-key-1")
    call("POST", "/v1/uploads", {"id": "fixture-up", "name": "fixture.txt", "size_bytes": 32,
                                 "sha256": hashlib.sha256(FILE).hexdigest()}, token=token)
    call("PUT", "/v1/uploads/fixture-up/content?offset=0", raw=FILE[:12], token=token)
    call("PUT", "/v1/devices", {"device_id": "fixture-device", "platform": "fcm",
                                "token": "fixture-push-token"}, token=token)
    call("PUT", "/v1/settings", {"email": False, "notifications_bot": True, "push": True,
                                 "push_preview": False}, token=token)
finally:
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)
wal_left = os.path.exists(db + "-wal")

c = sqlite3.connect(db)
q = lambda sql: c.execute(sql).fetchall()
uv = q("PRAGMA user_version")[0][0]
if uv != version:
    sys.exit(f"the binary wrote user_version {uv}, not {version}: a stale build?")
tables = [r[0] for r in q("SELECT name FROM sqlite_master WHERE type='table' ORDER BY rowid")]
rows = ", ".join(f"{t} {n}" for t in tables if (n := q(f"SELECT count(*) FROM {t}")[0][0]))
head = q("SELECT max(seq) FROM events")[0][0]
legacy = not q("SELECT hash FROM accounts")[0][0].startswith("$argon2")
clear = c.execute("SELECT count(*) FROM sessions WHERE token = ?", (token,)).fetchone()[0]
used = "replaced_refresh" if "replaced_refresh" in tables else "used_refresh"
c.close()
store_uv = sqlite3.connect(store).execute("PRAGMA user_version").fetchone()[0]
what = (
    "schema version 0 (user_version 0:\n-- before server.db had versions; server/src/hub.rs created the tables)"
    if version == 0
    else f"schema\n-- version {version} (server/src/db.rs, steps 1-{version})"
)
stop = (
    "-- SIGINT. This build exits without checkpointing: its rows were all in\n"
    "-- server.db-wal beside the file, which an operator has on disk with it;\n"
    "-- dumped with sqlite3's .dump, which reads the two as one (the pragmas\n"
    "-- added above it)."
    if wal_left
    else "-- SIGINT (a clean stop: the WAL checkpointed into the file) and dumped with\n"
    "-- sqlite3's .dump (the pragmas added above it)."
)
rows_line = textwrap.fill(f"Rows: {rows}.", 76, initial_indent="-- ", subsequent_indent="-- ")
server_header = f"""-- A server.db written by the reference server at {what}:
-- the build of commit {commit} (the parent of {nxt}, which added the next
-- step), run on an empty file as
--   rapport-server --db server.db --listen 127.0.0.1:PORT --chats 3 --messages 12
-- (it created the demo workspace and printed "log in as agent@example.com /
-- rapport"), then driven over HTTP: POST /v1/login; POST /v1/refresh with the
-- login's refresh token; POST /v1/chats/{chat}/messages {{"text": "fixture reply",
-- "message_id": "fixture-m1"}} with Idempotency-Key fixture-key-1; POST
-- /v1/uploads (id fixture-up, fixture.txt, 32 bytes) and its first 12 bytes
-- (PUT /v1/uploads/fixture-up/content?offset=0), never finished; PUT
-- /v1/devices (fixture-device, fcm, fixture-push-token); PUT /v1/settings
-- (email off, notifications bot on, push on, preview off). Then stopped with
{stop}
{rows_line}
--   events: the demo seed, the reply (seq {head - 1}) and the bot's pause (seq {head});
--   accounts: the demo agent, password hash {"the first schema's salted SHA-256" if legacy else "argon2id"};
--   sessions: the refreshed pair, tokens {"in clear" if clear else "hashed (SHA-256)"}, and
--     its {used} row (the login's refresh token, exchanged);
--   idempotency: the reply's answer; uploads/upload_parts: 12 of 32 bytes;
--   member_settings, sent_notifications: the demo's members (emails of the seed).
-- Beside it the old server kept the workspace store server.db.ws-demo.sqlite
-- (server-db-v{version}.ws-demo.sql, client store schema {store_uv}), derived from the log;
-- an operator's disk holds both, and today's server rebuilds the store from
-- the log when it is missing.
-- The password, hashes and tokens are the throwaway demo account's, not
-- secrets (tests/tests/server_migrations.rs names the tokens in clear).
-- Loaded by tests/tests/server_migrations.rs; never edit: add a file for a new version.
"""
store_header = f"""-- The workspace store (a Rapport core store, client schema {store_uv}) that the
-- reference server of commit {commit} kept beside server-db-v{version}.sql
-- (as server.db.ws-demo.sqlite), derived from that file's event log up to
-- seq {head}: written by the same run (stopped with SIGINT), dumped with sqlite3's
-- .dump (the pragmas added above it). Demo data only.
-- Loaded by tests/tests/server_migrations.rs; never edit: add a file for a new version.
"""


def sh(path, command):
    return subprocess.run(["sqlite3", path, command], check=True, capture_output=True,
                          text=True).stdout


def dump(path, out, header):
    pragmas = ""
    aid = int(sh(path, "PRAGMA application_id"))
    if aid:
        pragmas += f"PRAGMA application_id = {aid};\n"
    pragmas += f"PRAGMA user_version = {int(sh(path, 'PRAGMA user_version'))};\n"
    body = "".join(l for l in sh(path, ".dump").splitlines(True) if l != "PRAGMA foreign_keys=OFF;\n")
    with open(out, "w") as f:
        f.write(header + pragmas + body)
    back = os.path.join(work, "back.db")
    if os.path.exists(back):
        os.remove(back)
    with open(out) as f:
        subprocess.run(["sqlite3", back], stdin=f, check=True)
    for probe in (".dump", "PRAGMA user_version", "PRAGMA application_id"):
        if sh(path, probe) != sh(back, probe):
            sys.exit(f"{out} does not load back as {path}: {probe}")
    print(f"wrote {os.path.relpath(out, root)}")


dump(db, os.path.join(out_dir, f"server-db-v{version}.sql"), server_header)
dump(store, os.path.join(out_dir, f"server-db-v{version}.ws-demo.sql"), store_header)
print(f"""for tests/tests/server_migrations.rs:
    token: "{token}",
    refresh_token: "{pair['refresh_token']}",
    exchanged: "{login['refresh_token']}",
    legacy_password: {str(legacy).lower()},""")
