#!/usr/bin/env bash
# Builds the host library once (debug) and generates, in library mode:
#   - Kotlin for the desktop JVM  -> bindings/kotlin/target/generated-sources/uniffi (Maven tests)
#   - Kotlin for Android          -> android/rapport-core/src/main/kotlin (android_cleaner on)
#   - Swift, C header, modulemap  -> bindings/swift/ (Sources/RapportCore, RapportCoreFFI/include)
# Generated files are not committed: scripts/test.sh runs this, so a change
# in the core that breaks a binding fails there. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

cargo build -q --locked -p rapport-ffi --features cli
lib="$target/debug/librapport_ffi.so"
[ "$(uname)" = Darwin ] && lib="$target/debug/librapport_ffi.dylib"
bindgen=("$target/debug/uniffi-bindgen" generate --library "$lib" --no-format)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A file is replaced only when its text changed, so Maven's incremental
# Kotlin compile skips unchanged bindings.
put() { mkdir -p "$(dirname "$2")"; cmp -s "$1" "$2" || cp "$1" "$2"; }

# Desktop JVM: the plain cleaner (the Android one imports android.*).
"${bindgen[@]}" --language kotlin --config uniffi.toml --out-dir "$tmp/jvm"
put "$tmp/jvm/app/rapport/core/rapport.kt" \
    bindings/kotlin/target/generated-sources/uniffi/app/rapport/core/rapport.kt

# Android: the same config plus the Android cleaner.
{ cat uniffi.toml; printf '\n[crates.rapport_ffi.bindings.kotlin]\nandroid_cleaner = true\n'; } \
  >"$tmp/android.toml"
"${bindgen[@]}" --language kotlin --config "$tmp/android.toml" --out-dir "$tmp/android"
grep -q 'android.system.SystemCleaner' "$tmp/android/app/rapport/core/rapport.kt" \
  || { echo "gen-bindings: the Android copy has no Android cleaner" >&2; exit 1; }
put "$tmp/android/app/rapport/core/rapport.kt" \
    android/rapport-core/src/main/kotlin/app/rapport/core/rapport.kt

# Swift: sources into the package; the header and modulemap are what each
# slice of RapportCoreFFI.xcframework carries (built on macOS, see
# bindings/swift/README.md).
"${bindgen[@]}" --language swift --config uniffi.toml --out-dir "$tmp/swift"
put "$tmp/swift/RapportCore.swift" bindings/swift/Sources/RapportCore/RapportCore.swift
put "$tmp/swift/RapportCoreFFI.h" bindings/swift/RapportCoreFFI/include/RapportCoreFFI.h
put "$tmp/swift/RapportCoreFFI.modulemap" bindings/swift/RapportCoreFFI/include/module.modulemap

echo "gen-bindings: Kotlin (JVM, Android) and Swift generated from $lib"
