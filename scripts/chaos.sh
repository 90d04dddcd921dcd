#!/usr/bin/env bash
# The chaos campaign (issue 16): ROUNDS rounds of two devices of one agent
# against rapport-server with the simulator at 150 events/s and random faults
# (latency, 503, resets, 429, HTML 200s, panics, cut/duplicated/reordered
# streams), kill -9 of a client and of the server at random points, restarts
# on the same files; then faults off, drain, and the checks: every journaled
# command on the server exactly once, every store equal to the server's.
#
#   scripts/chaos.sh ROUNDS [--seed S] [--round-ms MS]
#
# Prints each round's seed, `lost: N, duplicated: N, diverged: N` and the
# JSON lines chaos_rounds, chaos_lost, chaos_duplicated, chaos_diverged;
# exits 1 if any is non-zero. A failing round prints its replay:
# `scripts/chaos.sh 1 --seed S` (its files are kept, named in the output).
# CHAOS_PROFILE=release runs the release build (scripts/bench.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:?usage: scripts/chaos.sh ROUNDS [--seed S] [--round-ms MS]}"
shift
target="${CARGO_TARGET_DIR:-$PWD/target}"
profile="${CHAOS_PROFILE:-debug}"
flags=(-q --locked)
[ "$profile" = release ] && flags+=(--release)
cargo build "${flags[@]}" -p rapport-server --bin rapport-server
cargo build "${flags[@]}" -p rapport-tests --bin rapport-chaos
exec "$target/$profile/rapport-chaos" run --rounds "$rounds" \
  --server "$target/$profile/rapport-server" "$@"
