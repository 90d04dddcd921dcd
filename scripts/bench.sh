#!/usr/bin/env bash
# Rapport's benchmarks: one JSON line per figure,
#   {"metric": NAME, "value": X, "baseline": B, "ratio": X/B}
# with the baseline measured in the same run where one applies.
#
#   scripts/bench.sh            store: 100k chats, 2M messages (CHATS, MESSAGES, RUNS override);
#                               sync: 10k chats, 300k messages, 200k behind (SYNC_* override)
#   scripts/bench.sh --smoke    1k chats on the debug build: checks every figure is printed
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if [ "${1:-}" = "--smoke" ]; then
  cargo build -q --locked -p rapport-bench
  exe=target/debug/rapport-bench
  args=(--chats 1000 --messages 20000 --runs 3)
  sync_args=(--chats 300 --messages 3000 --behind 3000 --live-seconds 1)
else
  cargo build -q --locked --release -p rapport-bench
  exe=target/release/rapport-bench
  args=(--chats "${CHATS:-100000}" --messages "${MESSAGES:-2000000}" --runs "${RUNS:-15}")
  sync_args=(--chats "${SYNC_CHATS:-10000}" --messages "${SYNC_MESSAGES:-300000}" \
             --behind "${SYNC_BEHIND:-200000}" --live-seconds "${LIVE_SECONDS:-10}")
fi

# The store: 100k chats, 2M messages.
"$exe" all "${args[@]}" --dir "$dir" | tee "$dir/out.jsonl"
# H3: a new process answers a push on that store.
"$exe" push --db "$dir/bench-${args[1]}-${args[3]}.db" --runs "${args[5]}" | tee -a "$dir/out.jsonl"
# Sync against an in-process reference server on loopback.
"$exe" sync "${sync_args[@]}" --dir "$dir" | tee -a "$dir/out.jsonl"

missing=0
for m in apply_events_per_s db_size_mb wal_size_mb_after_apply wal_size_mb_after_checkpoint \
         first_page_cold_ms first_page_cold_in_process_ms peak_rss_mb filter_page_p99_ms \
         status_counts_p99_ms name_search_p99_ms name_search_one_letter_p99_ms \
         timeline_page_p99_ms initial_sync_s initial_sync_mb catch_up_events_per_s \
         live_latency_p99_ms outbox_drain_per_s outbox_enqueue_us push_reply_cold_ms \
         push_reply_peak_rss_mb; do
  grep -q "\"metric\":\"$m\"" "$dir/out.jsonl" || { echo "missing figure: $m" >&2; missing=1; }
done
exit "$missing"
