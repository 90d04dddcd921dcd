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

# Issue 16 disk faults (tests/tests/disk_faults.rs): as root (CI) the loop-mounted small
# disks must work, so a failing mount fails; elsewhere those tests print why and skip.
# Issue 18 part 2 (docs/postgres.md): the same for PostgreSQL. The storage tests start
# throwaway clusters from Debian's binaries on loopback ports and stop them
# (server/tests/support/pg_cluster.rs); the package's own service is not used, so a
# cluster its install started is stopped again.
if [ "$(id -u)" = 0 ]; then
  export RAPPORT_DISK_FAULTS=require RAPPORT_POSTGRES=require
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    step "PostgreSQL (Debian's package) for the storage tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1, $2}' \
      | while read -r version cluster; do pg_ctlcluster "$version" "$cluster" stop; done
  fi
fi

step "tests"
cargo test --workspace --locked

step "chaos: 20 rounds of two devices, faults, kill -9 and restarts (issue 16)"
bash scripts/chaos.sh 20

step "bindings: generate Kotlin (JVM, Android) and Swift"
bash scripts/gen-bindings.sh

step "bindings: parse every .swift file, generated ones too (tree-sitter-swift)"
# No Swift compiler on Linux: a syntax check, in a venv of its own. A wheel
# when PyPI has one for this machine, else the source build.
venv=target/swift-parse-venv
if ! "$venv/bin/python" -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" 2>/dev/null \
    || { apt-get install -y -q python3-venv >/dev/null && python3 -m venv "$venv"; }
  pip=("$venv/bin/pip" install -q --disable-pip-version-check)
  "${pip[@]}" --only-binary :all: 'tree-sitter>=0.23' tree-sitter-swift==0.7.4 \
    || "${pip[@]}" 'tree-sitter>=0.23' tree-sitter-swift==0.7.4
fi
"$venv/bin/python" scripts/swift-parse.py .

step "ios: plists, project.yml, and every RapportCore name the app uses (scripts/ios-check.py)"
# The checker's own tests first (a renamed core API must fail it), then the tree.
"$venv/bin/python" -c 'import yaml' 2>/dev/null \
  || "$venv/bin/pip" install -q --disable-pip-version-check pyyaml==6.0.4
"$venv/bin/python" scripts/test_ios_check.py
"$venv/bin/python" scripts/ios-check.py .

step "bindings: Kotlin tests on the JVM against the real server"
source scripts/need-jvm.sh
# The server, and the CLI for `rapport fake-sendpulse` (the SendPulse login tests), in one build.
cargo build -q --locked -p rapport-server -p rapport-cli
mvn -B -ntp -Dstyle.color=never -f bindings/kotlin/pom.xml test \
  -Drapport.target.dir="${CARGO_TARGET_DIR:-$PWD/target}"

step "android: Compose screens on the desktop JVM, the framework compile, the pictures (issue 14)"
# The app's screens (android/app/src/main/kotlin/app/rapport/ui, the files the
# Android build uses) with Compose UI tests against the real library and
# server; each screen rendered to docs/screens/*.png (an emoji font first, so
# names with emoji draw); then every Android file but the Firebase shim
# compiled against android-all + the AndroidX classes it uses.
if ! fc-list 2>/dev/null | grep -qi "Noto Color Emoji"; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji fontconfig >/dev/null
fi
mvn -B -ntp -Dstyle.color=never -f android/desktop-test/pom.xml test \
  -Drapport.target.dir="${CARGO_TARGET_DIR:-$PWD/target}" -Drapport.screens.out="$PWD/docs/screens"
mvn -B -q -ntp -Dstyle.color=never -f android/framework-check/pom.xml compile
# The core's Android-only Rust (the TLS verifier's JNI entry) type-checked for
# aarch64-linux-android.
bash scripts/check-android-rust.sh

step "benchmark smoke run (1k chats; figures are not judged here)"
bash scripts/bench.sh --smoke

step "fuzz: every cargo-fuzz target ~15 s on its corpus (issue 16; nightly, installs cargo-fuzz if missing)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

step "all green"
