#!/usr/bin/env bash
# Build a Confluent-compatible Schema Registry (Apicurio Registry 2.4.2.Final, in-memory
# storage) from Maven Central into a cache outside the repo; prints the path of its runner
# jar. Idempotent and quick when built: the cache is rebuilt only when the build files in
# deploy/local/registry/ change (their hash is the cache's completion marker).
# The registry tests start the jar (tests/integration/registry.py); by hand:
#   java -jar "$(bash deploy/local/install-registry.sh)" -Dquarkus.http.port=8081
# Needs Java 17+ and Maven; deploy/local/registry/README.md says why this version and what
# the build repairs.
set -euo pipefail

VERSION=2.4.2.Final
SRC="$(cd "$(dirname "$0")" && pwd)/registry"
CACHE="${CREDITSTREAM_CACHE_DIR:-$HOME/.cache/creditstream}"
ROOT="$CACHE/apicurio-registry-$VERSION"
JAR="$ROOT/runner/target/creditstream-registry-1-runner.jar"
WANT="$(cd "$SRC" && find . -type f ! -name README.md | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"

built() { [ -f "$JAR" ] && [ "$(cat "$ROOT/.complete" 2>/dev/null)" = "$WANT" ]; }

if ! built; then
  mkdir -p "$CACHE"
  # One build at a time (two test runs may start together); the second finds it built.
  exec 9>"$ROOT.lock"
  flock 9
  if ! built; then
    command -v mvn >/dev/null || { echo "install-registry: Maven (mvn) is required" >&2; exit 1; }
    echo "install-registry: building Apicurio Registry $VERSION into $ROOT (Maven Central)" >&2
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    cp -R "$SRC/config-index" "$SRC/runner" "$ROOT/"
    # A Maven repository of its own: the config-index stand-in carries io.apicurio
    # coordinates and must not land in ~/.m2, where it could shadow the real artifact.
    MVN=(mvn -B -q -Dstyle.color=never -s "$SRC/settings.xml" "-Dmaven.repo.local=$ROOT/m2")
    (cd "$ROOT/config-index" && "${MVN[@]}" install) >&2
    (cd "$ROOT/runner" && "${MVN[@]}" package -DskipTests) >&2
    [ -f "$JAR" ] || { echo "install-registry: Maven finished but $JAR is missing" >&2; exit 1; }
    rm -rf "$ROOT/m2"  # ~230 MB the runner does not use (a rebuild downloads again)
    echo "$WANT" > "$ROOT/.complete"
  fi
fi
echo "$JAR"
