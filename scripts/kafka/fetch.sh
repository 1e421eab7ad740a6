#!/usr/bin/env bash
# Fetch the pinned Apache Kafka runtime (broker + perf tools + reload4j logging)
# from Maven Central into $KAFKA_HOME/libs.
#
#   scripts/kafka/fetch.sh            # idempotent; prints KAFKA_HOME
#   VIGIE_KAFKA_HOME=/x scripts/kafka/fetch.sh
#   scripts/kafka/fetch.sh --force    # re-copy even if the stamp matches
#
# The last stdout line is always the KAFKA_HOME path (other output -> stderr).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
KAFKA_VERSION=3.9.1
KAFKA_HOME="${VIGIE_KAFKA_HOME:-$HOME/.cache/vigie/kafka-$KAFKA_VERSION}"
LIBS="$KAFKA_HOME/libs"
STAMP="$KAFKA_HOME/.fetch-stamp"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

pom_hash="$(sha256sum "$POM" | cut -d' ' -f1)"

if [[ $FORCE == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$pom_hash" ]] \
   && compgen -G "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
   && compgen -G "$LIBS/kafka-tools-$KAFKA_VERSION.jar" >/dev/null; then
  echo "kafka $KAFKA_VERSION jars already present in $LIBS" >&2
  echo "$KAFKA_HOME"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch.sh: mvn not found on PATH" >&2; exit 1; }

mkdir -p "$KAFKA_HOME"
# Copy into a staging dir, then swap, so a failed/partial fetch never leaves a
# half-populated libs/ behind (and stale jars of an older pom are dropped).
stage="$(mktemp -d "$KAFKA_HOME/.libs.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
echo "fetching Kafka $KAFKA_VERSION jars from Maven Central..." >&2
mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$stage" -DincludeScope=runtime >&2
compgen -G "$stage/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
  || { echo "fetch.sh: kafka_2.13-$KAFKA_VERSION.jar missing after mvn" >&2; exit 1; }
rm -rf "$LIBS.old"
[[ -d "$LIBS" ]] && mv "$LIBS" "$LIBS.old"
mv "$stage" "$LIBS"
rm -rf "$LIBS.old"
trap - EXIT
echo "$pom_hash" > "$STAMP"
echo "kafka $KAFKA_VERSION: $(ls "$LIBS" | wc -l) jars in $LIBS" >&2
echo "$KAFKA_HOME"
