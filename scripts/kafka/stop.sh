#!/usr/bin/env bash
# Stop a cluster started by scripts/kafka/start.sh and remove its directory.
#
#   scripts/kafka/stop.sh [--dir DIR] [--grace SECONDS] [--keep]
#
# DIR defaults to $VIGIE_KAFKA_DIR, else the last dir start.sh created.
# Sends SIGTERM to every broker, waits up to --grace seconds (default 15,
# env VIGIE_KAFKA_STOP_GRACE) then SIGKILLs the rest.  Only pids whose command
# line is a kafka.Kafka JVM of this DIR are signalled (guards against pid reuse).
# --keep (or VIGIE_KAFKA_KEEP_DIR=1) keeps the directory (logs) afterwards.
set -euo pipefail

DIR="${VIGIE_KAFKA_DIR:-}"
GRACE="${VIGIE_KAFKA_STOP_GRACE:-15}"
KEEP="${VIGIE_KAFKA_KEEP_DIR:-0}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir)   DIR="$2"; shift 2 ;;
    --grace) GRACE="$2"; shift 2 ;;
    --keep)  KEEP=1; shift ;;
    -h|--help) sed -n '2,11p' "$0" >&2; exit 2 ;;
    *) echo "stop.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
LAST="$HOME/.cache/vigie/run/kafka-last"
if [[ -z "$DIR" && -f "$LAST" ]]; then DIR="$(cat "$LAST")"; fi
[[ -n "$DIR" ]] || { echo "stop.sh: no --dir given and no VIGIE_KAFKA_DIR" >&2; exit 2; }
if [[ ! -d "$DIR" ]]; then echo "[kafka/stop] $DIR does not exist; nothing to do" >&2; exit 0; fi
DIR="$(cd "$DIR" && pwd)"

ours() {  # pid is alive and is a kafka.Kafka JVM whose config lives in DIR
  local pid="$1" cmd
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *kafka.Kafka*"$DIR/"* ]]
}

pids=()
for f in "$DIR"/broker-*/pid; do
  [[ -f "$f" ]] || continue
  p="$(cat "$f")"
  [[ -n "$p" ]] && ours "$p" && pids+=("$p")
done

if (( ${#pids[@]} )); then
  echo "[kafka/stop] SIGTERM ${pids[*]}" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  end=$((SECONDS + GRACE))
  while (( SECONDS < end )); do
    alive=()
    for p in "${pids[@]}"; do ours "$p" && alive+=("$p"); done
    (( ${#alive[@]} )) || break
    sleep 0.2
  done
  alive=()
  for p in "${pids[@]}"; do ours "$p" && alive+=("$p"); done
  if (( ${#alive[@]} )); then
    echo "[kafka/stop] still alive after ${GRACE}s, SIGKILL ${alive[*]}" >&2
    kill -KILL "${alive[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      still=0; for p in "${alive[@]}"; do ours "$p" && still=1; done
      (( still )) || break; sleep 0.1
    done
  fi
fi

if [[ "$KEEP" == 1 ]]; then
  echo "[kafka/stop] stopped; kept $DIR" >&2
else
  rm -rf "$DIR"
  [[ -f "$LAST" && "$(cat "$LAST")" == "$DIR" ]] && rm -f "$LAST"
  echo "[kafka/stop] stopped; removed $DIR" >&2
fi
