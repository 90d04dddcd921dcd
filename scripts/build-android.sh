#!/usr/bin/env bash
# Builds the Android app (issue 14): the core for each ABI with cargo-ndk,
# into android/rapport-core/src/main/jniLibs; the Kotlin bindings generated
# from the built library with the Android cleaner; then ./gradlew assembleDebug.
#
# Needs (none of it is on the Linux CI machines, so CI does not run this):
#   - the Android SDK (platform 36, build-tools) with ANDROID_HOME set, and the
#     NDK (ANDROID_NDK_HOME, r27 or newer);
#   - JDK 17; Gradle 8.13+ or a wrapper (`gradle -p android wrapper` once);
#   - rustup targets: aarch64-linux-android armv7-linux-androideabi x86_64-linux-android;
#   - cargo-ndk: `cargo install cargo-ndk`;
#   - for pushes, android/app/google-services.json from the Firebase console
#     (without it the app builds and pushes stay off).
# Honours CARGO_TARGET_DIR; PROFILE=release for a release build of the core.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-debug}"
: "${ANDROID_HOME:?set ANDROID_HOME to the Android SDK}"
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the NDK}"
command -v cargo-ndk >/dev/null || { echo "build-android: cargo install cargo-ndk" >&2; exit 1; }
for t in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done

# 1. The core per ABI (cargo-ndk lays them out as jniLibs/<abi>/librapport_ffi.so).
release=(); [ "$profile" = release ] && release=(--release)
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 --platform 26 \
  -o android/rapport-core/src/main/jniLibs build --locked "${release[@]}" -p rapport-ffi

# 2. The bindings: JVM and Android copies (the Android one with its cleaner),
#    from the host build of the same sources (library mode reads its metadata).
bash scripts/gen-bindings.sh

# 3. rustls-platform-verifier's Kotlin half ships as a Maven folder in its
#    crate: Gradle finds it through this property (settings.gradle.kts).
verifier=$(cargo metadata --format-version 1 --locked --filter-platform aarch64-linux-android \
  | python3 -c 'import json,sys,os
m=json.load(sys.stdin)
p=[x for x in m["packages"] if x["name"]=="rustls-platform-verifier-android"][0]
print(os.path.join(os.path.dirname(p["manifest_path"]),"maven"))')
export ORG_GRADLE_PROJECT_rustlsPlatformVerifierRepo="$verifier"

# 4. The APK.
cd android
if [ -x ./gradlew ]; then gradle=./gradlew; else gradle=gradle; fi
"$gradle" --no-daemon assembleDebug
echo "build-android: android/app/build/outputs/apk/debug/app-debug.apk"
