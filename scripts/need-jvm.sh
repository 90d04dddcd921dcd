# Sourced by test.sh and bench.sh: a JDK and Maven for the Kotlin bindings,
# installed from Debian's packages when missing (Maven then fetches the
# project's dependencies from Maven Central).
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  echo "installing maven and a JDK (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven openjdk-17-jdk-headless >/dev/null
fi
