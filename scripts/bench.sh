#!/usr/bin/env bash
# Rapport's benchmarks: one JSON line per figure,
#   {"metric": NAME, "value": X, "baseline": B, "ratio": X/B}
# with the baseline measured in the same run where one applies.
#
#   scripts/bench.sh            100k chats, 2M messages (CHATS, MESSAGES, RUNS override)
#   scripts/bench.sh --smoke    1k chats on the debug build: checks every figure is printed
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if [ "${1:-}" = "--smoke" ]; then
  cargo build -q --locked -p rapport-bench
  exe=target/debug/rapport-bench
  args=(--chats 1000 --messages 20000 --runs 3)
else
  cargo build -q --locked --release -p rapport-bench
  exe=target/release/rapport-bench
  args=(--chats "${CHATS:-100000}" --messages "${MESSAGES:-2000000}" --runs "${RUNS:-15}")
fi

"$exe" all "${args[@]}" --dir "$dir" | tee "$dir/out.jsonl"

missing=0
for m in apply_events_per_s db_size_mb wal_size_mb_after_apply wal_size_mb_after_checkpoint \
         first_page_cold_ms first_page_cold_in_process_ms peak_rss_mb filter_page_p99_ms \
         status_counts_p99_ms name_search_p99_ms name_search_one_letter_p99_ms \
         timeline_page_p99_ms; do
  grep -q "\"metric\":\"$m\"" "$dir/out.jsonl" || { echo "missing figure: $m" >&2; missing=1; }
done
exit "$missing"
