#!/usr/bin/env bash
# Builds the Rust core for iOS as bindings/swift/RapportCoreFFI.xcframework,
# the binary target of the RapportCore Swift package (bindings/swift/
# Package.swift) that ios/project.yml links into the app and the extension.
#
# Needs (a Mac; it cannot run on the Linux machines here):
#   - macOS with Xcode 15 or newer (xcodebuild, lipo; `xcode-select -p` set),
#   - rustup's cargo with the three iOS targets (added here if missing):
#       aarch64-apple-ios       device
#       aarch64-apple-ios-sim   simulator on Apple silicon
#       x86_64-apple-ios        simulator on Intel Macs
#   - for the Xcode project afterwards: XcodeGen (`brew install xcodegen`).
#
# Steps: generate the Swift bindings, header and modulemap
# (scripts/gen-bindings.sh, host build) -> one static library per target
# (release) -> lipo the two simulator slices into one -> xcodebuild
# -create-xcframework with the headers -> the package's binary target.
# Honours CARGO_TARGET_DIR. Usage: scripts/build-ios.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[ "${1:-}" = --debug ] && profile=debug

fail() { echo "build-ios: $*" >&2; exit 1; }
[ "$(uname)" = Darwin ] || fail "needs macOS with Xcode (xcodebuild, lipo); this is $(uname)"
for tool in cargo rustup xcodebuild lipo; do
  command -v "$tool" >/dev/null || fail "needs $tool on PATH"
done

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
headers=bindings/swift/RapportCoreFFI/include
out=bindings/swift/RapportCoreFFI.xcframework

# 1. The Swift sources, RapportCoreFFI.h and module.modulemap.
bash scripts/gen-bindings.sh
[ -f "$headers/RapportCoreFFI.h" ] && [ -f "$headers/module.modulemap" ] \
  || fail "gen-bindings.sh left no header or modulemap in $headers"

# 2. One static library per target. The C parts (SQLite) are compiled for
# the app's minimum iOS version.
export IPHONEOS_DEPLOYMENT_TARGET=17.0
flags=(--locked -p rapport-ffi)
[ "$profile" = release ] && flags+=(--release)
for t in "${targets[@]}"; do
  cargo build "${flags[@]}" --target "$t"
done
lib() { echo "$target_dir/$1/$profile/librapport_ffi.a"; }

# 3. The simulator slices as one fat library (an XCFramework takes one
# library per platform variant).
sim="$target_dir/ios-sim/$profile"
mkdir -p "$sim"
lipo -create -output "$sim/librapport_ffi.a" \
  "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)"

# 4. The XCFramework: ios-arm64 and ios-arm64_x86_64-simulator, each with
# Headers/RapportCoreFFI.h and Headers/module.modulemap.
rm -rf "$out"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$headers" \
  -library "$sim/librapport_ffi.a" -headers "$headers" \
  -output "$out"

echo "build-ios: $out ($profile); next: cd ios && xcodegen generate && open Rapport.xcodeproj"
