#!/usr/bin/env bash
# Coverage-guided fuzzing (issue 16): builds every cargo-fuzz target in
# fuzz/ (nightly) and runs each for SECONDS on its seed corpus
# (fuzz/corpus/TARGET, kept in the repo; new inputs found go to a scratch
# copy, not the repo). Prints one JSON line per target:
#   {"metric":"fuzz_execs","target":T,"value":N,"crashes":C}
# and exits non-zero if any target crashed; the crashing input is left in
# fuzz/artifacts/TARGET/ (git-ignored): fix the bug, add a regression test
# named with the SPEC id, and copy the input into fuzz/corpus/TARGET/.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     (default: every target, 60 s)
# The build shares one target dir: $CARGO_TARGET_DIR/fuzz, else fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
export CARGO_TERM_COLOR=never

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

target_dir="${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}"
target_dir="${target_dir:-$PWD/fuzz/target}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)

# `cargo fuzz build` takes one target or all.
one=()
[ ${#targets[@]} -ne 1 ] || one=("${targets[0]}")
(cd fuzz && cargo +nightly fuzz build --target-dir "$target_dir" "${one[@]}") >"${TMPDIR:-/tmp}/fuzz-build.$$" 2>&1 \
  || { tail -n 40 "${TMPDIR:-/tmp}/fuzz-build.$$" >&2; rm -f "${TMPDIR:-/tmp}/fuzz-build.$$"; exit 1; }
rm -f "${TMPDIR:-/tmp}/fuzz-build.$$"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  # Allocations capped: cfb (the OLE reader) has a history of huge ones.
  log="$scratch/$t.log"
  touch "$scratch/$t.start"
  set +e
  (cd fuzz && cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$scratch/$t" "corpus/$t" -- \
     -max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=256 -max_len=65536 \
     -timeout=10 -print_final_stats=1 >"$log" 2>&1)
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  crashes=$(find "fuzz/artifacts/$t" -type f -newer "$scratch/$t.start" | wc -l)
  if [ "$rc" -ne 0 ]; then
    failed=1
    [ "$crashes" -gt 0 ] || crashes=1
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -n 20 >&2 || tail -n 30 "$log" >&2
  fi
  printf '{"metric":"fuzz_execs","target":"%s","value":%s,"crashes":%s}\n' "$t" "${execs:-0}" "$crashes"
done
exit "$failed"
