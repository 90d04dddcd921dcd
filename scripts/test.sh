#!/usr/bin/env bash
# Everything CI runs (.ci/run calls this). It installs what it needs itself,
# so it works on a fresh machine: only rustup's cargo is assumed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "benchmark smoke run (1k chats; figures are not judged here)"
bash scripts/bench.sh --smoke

step "all green"
