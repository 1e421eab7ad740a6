#!/usr/bin/env bash
# Start a throw-away Apache Kafka 3.9.1 cluster in KRaft mode on 127.0.0.1.
#
#   scripts/kafka/start.sh [--brokers N] [--base-port P] [--dir DIR] [--timeout S]
#   eval "$(scripts/kafka/start.sh)"      # exports VIGIE_KAFKA_BOOTSTRAP / VIGIE_KAFKA_DIR
#
# Every node is a combined broker+controller (process.roles=broker,controller)
# with a static controller.quorum.voters list.  Ports:
#   broker i     : P + i            (i = 0..N-1)   PLAINTEXT://127.0.0.1:...
#   controller i : P + N + i                       CONTROLLER://127.0.0.1:...
# so the default single broker is 19092 with its controller on 19093.
#
# DIR is (re)initialised: broker-* state of an earlier run in it is deleted.
# Layout of DIR:  pids (one java pid per line, broker order), bootstrap, env,
#   broker-<i>/{server.properties,launch.sh,pid,server.log,stdout.log,data/}
# launch.sh re-launches that broker (used by tests to restart a killed broker).
#
# stdout: only the `export ...` lines (eval-able). Progress/errors: stderr.
# Env: VIGIE_KAFKA_HOME (jars), VIGIE_KAFKA_HEAP (default -Xmx512m),
#      VIGIE_KAFKA_JAVA_OPTS (extra JVM flags), VIGIE_KAFKA_START_TIMEOUT (s, 90),
#      VIGIE_PYTHON (python with confluent_kafka for the readiness check).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BROKERS=1
BASE_PORT=19092
DIR=""
TIMEOUT="${VIGIE_KAFKA_START_TIMEOUT:-90}"

usage() { sed -n '2,21p' "$0" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --brokers)   BROKERS="$2"; shift 2 ;;
    --base-port) BASE_PORT="$2"; shift 2 ;;
    --dir)       DIR="$2"; shift 2 ;;
    --timeout)   TIMEOUT="$2"; shift 2 ;;
    -h|--help)   usage ;;
    *) echo "start.sh: unknown argument: $1" >&2; usage ;;
  esac
done
[[ "$BROKERS" =~ ^[1-9][0-9]*$ ]] || { echo "start.sh: --brokers must be >= 1" >&2; exit 2; }
[[ "$BASE_PORT" =~ ^[0-9]+$ ]] || { echo "start.sh: bad --base-port" >&2; exit 2; }

log() { echo "[kafka/start] $*" >&2; }
die() { echo "[kafka/start] ERROR: $*" >&2; exit 1; }

command -v java >/dev/null || die "java not found on PATH (need Java 11+)"

# --- jars --------------------------------------------------------------------
KAFKA_HOME="$("$HERE/fetch.sh" | tail -n1)"
CP="$KAFKA_HOME/libs/*"

# --- python for the metadata readiness check ----------------------------------
PY="${VIGIE_PYTHON:-}"
if [[ -z "$PY" ]]; then
  for cand in "$HOME/.cache/vigie/venv/bin/python" python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import confluent_kafka' 2>/dev/null; then
      PY="$cand"; break
    fi
  done
fi
[[ -n "$PY" ]] || log "warning: no python with confluent_kafka; readiness = ports only"

# --- ports (checked before anything is created) -------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

RF=$(( BROKERS < 3 ? BROKERS : 3 ))
ISR=$(( RF < 2 ? 1 : 2 ))
voters=""; bootstrap=""
for ((i = 0; i < BROKERS; i++)); do
  bp=$((BASE_PORT + i)); cp_=$((BASE_PORT + BROKERS + i))
  for p in $bp $cp_; do
    port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (another Kafka? try --base-port)"
  done
  voters+="${voters:+,}$i@127.0.0.1:$cp_"
  bootstrap+="${bootstrap:+,}127.0.0.1:$bp"
done

# --- run directory ---------------------------------------------------------------
RUN_ROOT="$HOME/.cache/vigie/run"
mkdir -p "$RUN_ROOT"
if [[ -z "$DIR" ]]; then
  DIR="$(mktemp -d "$RUN_ROOT/kafka-XXXXXX")"
else
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  for f in "$DIR"/broker-*/pid; do
    [[ -f "$f" ]] || continue
    p="$(cat "$f")"
    if [[ -n "$p" ]] && { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -q kafka.Kafka; then
      die "$DIR already has a running broker (pid $p); run stop.sh --dir $DIR"
    fi
  done
  # Always a fresh cluster: drop state of a previous run (only our own files).
  rm -rf "$DIR"/broker-* "$DIR/pids" "$DIR/bootstrap" "$DIR/env" "$DIR/log4j.properties"
fi

# Cluster id: 16 random bytes, base64url without padding (Kafka Uuid format);
# Kafka avoids ids starting with '-' (they look like CLI flags).
gen_id() {
  local id
  while :; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    [[ "$id" != -* ]] && { echo "$id"; return; }
  done
}
CLUSTER_ID="$(gen_id)"

cat > "$DIR/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
L4J

HEAP="${VIGIE_KAFKA_HEAP:--Xmx512m -Xms128m}"
JOPTS="$HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true ${VIGIE_KAFKA_JAVA_OPTS:-}"

for ((i = 0; i < BROKERS; i++)); do
  bd="$DIR/broker-$i"
  mkdir -p "$bd/data"
  bp=$((BASE_PORT + i)); cp_=$((BASE_PORT + BROKERS + i))
  {
    echo "# generated by scripts/kafka/start.sh"
    echo "process.roles=broker,controller"
    echo "node.id=$i"
    echo "controller.quorum.voters=$voters"
    echo "listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp_"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$bp"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "log.dirs=$bd/data"
    echo "num.partitions=3"
    echo "auto.create.topics.enable=false"
    echo "delete.topic.enable=true"
    echo "offsets.topic.replication.factor=$RF"
    echo "offsets.topic.num.partitions=10"
    echo "transaction.state.log.replication.factor=$RF"
    echo "transaction.state.log.min.isr=$ISR"
    echo "transaction.state.log.num.partitions=10"
    echo "group.initial.rebalance.delay.ms=0"
    if (( BROKERS >= 3 )); then
      echo "default.replication.factor=3"
      echo "min.insync.replicas=2"
    else
      echo "default.replication.factor=$BROKERS"
      echo "min.insync.replicas=1"
    fi
    echo "num.network.threads=2"
    echo "num.io.threads=4"
    echo "num.recovery.threads.per.data.dir=1"
    echo "log.segment.bytes=67108864"
    echo "log.retention.hours=24"
    echo "broker.heartbeat.interval.ms=1000"
    echo "broker.session.timeout.ms=6000"
  } > "$bd/server.properties"

  cat > "$bd/launch.sh" <<LAUNCH
#!/usr/bin/env bash
# (re)start broker $i of $DIR in the foreground; stdout/stderr -> stdout.log
cd "$bd"
exec java $JOPTS -Dkafka.logs.dir="$bd" -Dlog4j.configuration="file:$DIR/log4j.properties" \\
  -cp "$CP" kafka.Kafka "$bd/server.properties" >>"$bd/stdout.log" 2>&1
LAUNCH
  chmod +x "$bd/launch.sh"
done

t0=$SECONDS
log "formatting KRaft storage (cluster id $CLUSTER_ID, $BROKERS node(s)) in $DIR"
fmt_pids=()
for ((i = 0; i < BROKERS; i++)); do
  bd="$DIR/broker-$i"
  java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$DIR/log4j.properties" -Dkafka.logs.dir="$bd" \
    -cp "$CP" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$bd/server.properties" --ignore-formatted \
    >"$bd/format.log" 2>&1 &
  fmt_pids+=($!)
done
for ((i = 0; i < BROKERS; i++)); do
  wait "${fmt_pids[$i]}" || { cat "$DIR/broker-$i/format.log" >&2; die "storage format failed for broker $i (dir kept: $DIR)"; }
done
log "formatted in $((SECONDS - t0))s"

: > "$DIR/pids"
for ((i = 0; i < BROKERS; i++)); do
  bd="$DIR/broker-$i"
  # setsid: own session, so Ctrl-C in the caller's terminal does not hit the broker.
  setsid "$bd/launch.sh" </dev/null >/dev/null 2>&1 &
  echo $! > "$bd/pid"
  echo $! >> "$DIR/pids"
done
echo "$bootstrap" > "$DIR/bootstrap"
printf 'export VIGIE_KAFKA_BOOTSTRAP=%s\nexport VIGIE_KAFKA_DIR=%s\n' "$bootstrap" "$DIR" > "$DIR/env"
echo "$DIR" > "$RUN_ROOT/kafka-last"
log "started $BROKERS broker(s) (pids $(tr '\n' ' ' < "$DIR/pids")); waiting for readiness (timeout ${TIMEOUT}s)"

fail() {
  echo "[kafka/start] ERROR: $1" >&2
  for ((i = 0; i < BROKERS; i++)); do
    bd="$DIR/broker-$i"
    echo "----- $bd/server.log (tail) -----" >&2
    tail -n 25 "$bd/server.log" 2>/dev/null >&2 || true
    if [[ -s "$bd/stdout.log" ]]; then
      echo "----- $bd/stdout.log (tail) -----" >&2; tail -n 15 "$bd/stdout.log" >&2
    fi
  done
  echo "[kafka/start] logs kept in $DIR; stopping brokers" >&2
  VIGIE_KAFKA_KEEP_DIR=1 "$HERE/stop.sh" --dir "$DIR" >&2 || true
  exit 1
}

deadline=$((SECONDS + TIMEOUT))
ready=0
while (( SECONDS < deadline )); do
  i=0; ports_ok=1
  while read -r p; do
    kill -0 "$p" 2>/dev/null || fail "broker $i (pid $p) exited during startup"
    port_in_use $((BASE_PORT + i)) || ports_ok=0
    i=$((i + 1))
  done < "$DIR/pids"
  if (( ports_ok )); then
    if [[ -z "$PY" ]]; then ready=1; break; fi
    if "$PY" - "$bootstrap" "$BROKERS" 2>/dev/null <<'PYCHK'
import sys
from confluent_kafka.admin import AdminClient
bootstrap, want = sys.argv[1], int(sys.argv[2])
a = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000, "log_level": 0})
md = a.list_topics(timeout=3)
sys.exit(0 if len(md.brokers) >= want and md.controller_id >= 0 else 3)
PYCHK
    then ready=1; break; fi
  fi
  sleep 0.5
done
(( ready )) || fail "cluster not ready within ${TIMEOUT}s"
log "ready in $((SECONDS - t0))s: bootstrap $bootstrap, dir $DIR"
cat "$DIR/env"
