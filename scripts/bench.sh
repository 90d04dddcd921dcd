#!/usr/bin/env bash
# Rapport's benchmarks: one JSON line per figure,
#   {"metric": NAME, "value": X, "baseline": B, "ratio": X/B}
# with the baseline measured in the same run where one applies.
#
#   scripts/bench.sh            store: 100k chats, 2M messages (CHATS, MESSAGES, RUNS override);
#                               sync: 10k chats, 300k messages, 200k behind (SYNC_* override)
#   scripts/bench.sh --smoke    1k chats on the debug build: checks every figure is printed
# Only the write path (apply_events_per_s and the sizes), e.g. while tuning apply:
#   target/release/rapport-bench apply --chats 100000 --messages 2000000 --dir /tmp/b
# ffi_page_us runs Kotlin on the JVM (bindings/kotlin, through Maven) on the store `all` builds;
# inbox_first_frame_ms the Android screens' desktop build (android/desktop-test) on the same store.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if [ "${1:-}" = "--smoke" ]; then
  cargo build -q --locked -p rapport-bench
  profile=debug
  args=(--chats 1000 --messages 20000 --runs 3)
  ffi_args=(--warmup 20 --runs 50)
  sync_args=(--chats 300 --messages 3000 --behind 3000 --live-seconds 1)
  noisy_args=(--rounds 1 --file-mb 4 --light 30)
else
  cargo build -q --locked --release -p rapport-bench
  cargo build -q --locked --release -p rapport-ffi
  profile=release
  args=(--chats "${CHATS:-100000}" --messages "${MESSAGES:-2000000}" --runs "${RUNS:-15}")
  ffi_args=(--warmup 300 --runs "${FFI_RUNS:-1000}")
  sync_args=(--chats "${SYNC_CHATS:-10000}" --messages "${SYNC_MESSAGES:-300000}" \
             --behind "${SYNC_BEHIND:-200000}" --live-seconds "${LIVE_SECONDS:-10}")
  noisy_args=(--rounds "${NOISY_ROUNDS:-5}" --file-mb 20 --light 200)
fi
exe="$target/$profile/rapport-bench"

# The store: 100k chats, 2M messages.
"$exe" all "${args[@]}" --dir "$dir" | tee "$dir/out.jsonl"
# H3: a new process answers a push on that store; then the app's live client answers one
# (push_reply_warm_ms) and picks up one a second process queued (cross_process_pickup_ms).
"$exe" push --db "$(ls "$dir"/bench-*.db | grep -v -- '-plain\.db$')" --runs "${args[5]}" | tee -a "$dir/out.jsonl"

# ffi_page_us: the first page of 50 rows through the Kotlin bindings on the
# JVM, on that store; the same call from Rust is the baseline.
source scripts/need-jvm.sh
bash scripts/gen-bindings.sh >/dev/null
db=$(ls "$dir"/bench-*.db | grep -v -- '-plain\.db$')
base=$("$exe" ffi-page-baseline --db "$db" "${ffi_args[@]}" | sed 's/.*"us":\([0-9.e+-]*\).*/\1/')
mvn -B -q -Dstyle.color=never -f bindings/kotlin/pom.xml test -Dtest=FfiPageBench \
  -Drapport.target.dir="$target" -Drapport.profile="$profile" -Drapport.bench.db="$db" \
  -Drapport.bench.out="$dir/ffi.txt" -Drapport.bench.warmup="${ffi_args[1]}" \
  -Drapport.bench.runs="${ffi_args[3]}" >"$dir/mvn.log" 2>&1 || { cat "$dir/mvn.log" >&2; exit 1; }
awk -v v="$(cat "$dir/ffi.txt")" -v b="$base" 'BEGIN {
  printf "{\"metric\":\"ffi_page_us\",\"value\":%.3f,\"baseline\":%.3f,\"ratio\":%.3f}\n", v, b, v / b }' \
  | tee -a "$dir/out.jsonl"
# inbox_first_frame_ms (issue 14): the Android inbox screen opened on that store (desktop JVM,
# headless, Compose Multiplatform) until its first frame with rows, against the same screen
# drawn from the same 50 rows held in a plain list.
if [ "${1:-}" = "--smoke" ]; then frame_args=(3 5); else frame_args=("${FRAME_WARMUP:-20}" "${FRAME_RUNS:-30}"); fi
mvn -B -q -ntp -Dstyle.color=never -f android/desktop-test/pom.xml test -Dtest=InboxFrameBench \
  -Drapport.target.dir="$target" -Drapport.profile="$profile" -Drapport.bench.db="$db" \
  -Drapport.bench.out="$dir/frame.txt" -Drapport.bench.warmup="${frame_args[0]}" \
  -Drapport.bench.runs="${frame_args[1]}" >"$dir/mvn-frame.log" 2>&1 || { cat "$dir/mvn-frame.log" >&2; exit 1; }
read -r frame frame_base <"$dir/frame.txt"
awk -v v="$frame" -v b="$frame_base" 'BEGIN {
  printf "{\"metric\":\"inbox_first_frame_ms\",\"value\":%.3f,\"baseline\":%.3f,\"ratio\":%.3f}\n", v, b, v / b }' \
  | tee -a "$dir/out.jsonl"
# Sync against an in-process reference server on loopback.
"$exe" sync "${sync_args[@]}" --dir "$dir" | tee -a "$dir/out.jsonl"
# Issue 18: the paged first sync of a 100k-chat workspace (a client in a child process):
# first inbox page, all pages and catch-up, the client's peak RSS.
if [ "${1:-}" = "--smoke" ]; then scale_args=(--chats 1000 --messages 10000 --runs 1)
else scale_args=(--chats "${SCALE_CHATS:-100000}" --messages "${SCALE_MESSAGES:-2000000}" --runs "${SCALE_RUNS:-3}"); fi
"$exe" initial-sync "${scale_args[@]}" --dir "$dir" | tee -a "$dir/out.jsonl"
# Issue 16 hole 5: one workspace's 8 parallel 20 MB downloads and upload
# parts against another's light requests (p99 under load / idle p99).
"$exe" noisy "${noisy_args[@]}" --dir "$dir" | tee -a "$dir/out.jsonl"
# Issue 16 load: the server holds 1,000 live streams while 2,000 events/s are emitted
# (ws_clients_held, ws_delivery_p99_ms against 1 client's p99 in the same run).
if [ "$profile" = debug ]; then load_args=(--clients 100 --rate 200 --seconds 2)
else load_args=(--clients "${LOAD_CLIENTS:-1000}" --rate "${LOAD_RATE:-2000}" --seconds "${LOAD_SECONDS:-10}"); fi
"$exe" load "${load_args[@]}" --dir "$dir" | tee -a "$dir/out.jsonl"
# Issue 17: the SendPulse gateway against the fake on loopback: a webhook to the phone's list diff
# (p99, against a Rapport-native event's), an account of 10k chats reconciled from empty (against
# the same reads with nothing applied) and its requests per chat.
if [ "$profile" = debug ]; then sp_args=(--runs 20 --chats 300)
else sp_args=(--runs "${SP_RUNS:-200}" --chats "${SP_CHATS:-10000}"); fi
"$exe" sendpulse "${sp_args[@]}" --dir "$dir" | tee -a "$dir/out.jsonl"
# Issue 16: coverage-guided fuzzing, fuzz_execs per target (FUZZ_SECONDS
# each, default 300; 2 in the smoke run); a crash fails the run.
if [ "${1:-}" = "--smoke" ]; then fuzz_secs=2; else fuzz_secs="${FUZZ_SECONDS:-300}"; fi
bash scripts/fuzz.sh "$fuzz_secs" | tee -a "$dir/out.jsonl"

# Issue 16, the chaos campaign: 500 rounds (CHAOS_ROUNDS; 3 with --smoke),
# its figures chaos_rounds, chaos_lost, chaos_duplicated, chaos_diverged.
if [ "$profile" = release ]; then chaos_rounds="${CHAOS_ROUNDS:-500}"; else chaos_rounds=3; fi
CHAOS_PROFILE="$profile" bash scripts/chaos.sh "$chaos_rounds" | grep -E '^({"metric"|lost:|replay:)' \
  | tee -a "$dir/out.jsonl" || true

missing=0
for m in apply_events_per_s db_size_mb wal_size_mb_after_apply wal_size_mb_after_checkpoint \
         first_page_cold_ms first_page_cold_in_process_ms peak_rss_mb filter_page_p99_ms \
         status_counts_p99_ms name_search_p99_ms name_search_one_letter_p99_ms \
         timeline_page_p99_ms initial_sync_s initial_sync_mb catch_up_events_per_s \
         live_latency_p99_ms outbox_drain_per_s outbox_enqueue_us push_reply_cold_ms inbox_first_frame_ms \
         push_reply_peak_rss_mb push_reply_warm_ms cross_process_pickup_ms ffi_page_us \
         noisy_neighbour_p99_ratio ws_clients_held ws_delivery_p99_ms \
         fuzz_execs chaos_rounds chaos_lost chaos_duplicated chaos_diverged \
         initial_sync_100k_first_page_ms initial_sync_100k_s initial_sync_100k_peak_rss_mb \
         sendpulse_webhook_to_phone_p99_ms sendpulse_reconcile_s sendpulse_reconcile_requests_per_chat; do
  grep -q "\"metric\":\"$m\"" "$dir/out.jsonl" || { echo "missing figure: $m" >&2; missing=1; }
done
exit "$missing"
