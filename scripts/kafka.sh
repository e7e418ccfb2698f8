#!/usr/bin/env bash
# A real Apache Kafka broker on loopback, for tests and benchmarks (issue 15):
#   scripts/kafka.sh start  [--state-dir DIR] [--timeout SECONDS]
#   scripts/kafka.sh stop   [--state-dir DIR]
#   scripts/kafka.sh status [--state-dir DIR]
#   scripts/kafka.sh classpath            resolve Kafka only, print its classpath
#
# `start` resolves org.apache.kafka:kafka_2.13 (version pinned in scripts/kafka/pom.xml) and
# its runtime dependencies with Maven into the local Maven repository (offline first, then
# Maven Central; nothing else is downloaded), formats a single-node KRaft log directory
# (broker and controller in one JVM) under DIR, starts it on free loopback ports, waits until
# it answers a metadata request, and prints its bootstrap address. DIR (default
# ${TMPDIR:-/tmp}/streamrec-kafka-$UID) then holds:
#   bootstrap       PLAINTEXT listener, "127.0.0.1:PORT"
#   sasl-bootstrap  SASL_PLAINTEXT listener (mechanism PLAIN, user streamrec, password
#                   streamrec-secret), "127.0.0.1:PORT"
#   server.log      the broker's log; pid, server.properties, data/
# `start` is idempotent: with a live broker in DIR it prints the same address.
# `stop` ends the broker (TERM, then KILL after 30 s) and removes DIR; stopping nothing is
# not an error. `status` exits 0 and prints the address when the broker answers.
#
# Exit codes: 0 done; 1 failed (the broker did not come up: see server.log); 2 usage;
# 77 a prerequisite is missing (Java 17+, Maven, or Maven Central for the first
# resolution): the reason is printed and written to DIR/skip-reason, so that the test
# fixture (tests/CMakeLists.txt, label real-kafka) reports its tests as skipped.
#
# Memory stays modest (-Xmx512m by default; KAFKA_HEAP_OPTS overrides), and the broker runs
# few threads: these machines have 2 cores shared with builds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/scripts/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/streamrec"
CLASSPATH_FILE="$CACHE_DIR/kafka-$KAFKA_VERSION.classpath"
SASL_USER=streamrec
SASL_PASSWORD=streamrec-secret

MODE="${1:-}"
shift || true
STATE_DIR="${STREAMREC_KAFKA_DIR:-${TMPDIR:-/tmp}/streamrec-kafka-$(id -u)}"
START_TIMEOUT=120
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) STATE_DIR="$2"; shift 2 ;;
    --timeout) START_TIMEOUT="$2"; shift 2 ;;
    *) echo "kafka.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
STATE_DIR="$(mkdir -p "$(dirname "$STATE_DIR")" && cd "$(dirname "$STATE_DIR")" && pwd)/$(basename "$STATE_DIR")"

log() { echo "kafka.sh: $*" >&2; }

# Exit 77 with the reason, remembered where the tests look for it.
skip() {
  log "$*"
  mkdir -p "$STATE_DIR"
  echo "$*" > "$STATE_DIR/skip-reason"
  exit 77
}

java_bin() {
  if [ -n "${JAVA_HOME:-}" ]; then
    if [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; fi
  else
    command -v java || true
  fi
}

# Java 17 or newer (Kafka 4.x's broker needs 17).
check_java() {
  local java major
  java="$(java_bin)"
  [ -n "$java" ] || skip "Java not found${JAVA_HOME:+ in JAVA_HOME=$JAVA_HOME} (Apache Kafka $KAFKA_VERSION needs Java 17+: apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
  major="$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    skip "$java is Java '${major:-unknown}'; Apache Kafka $KAFKA_VERSION needs Java 17+ (set JAVA_HOME)"
  fi
  JAVA="$java"
}

# The classpath of Kafka and its runtime dependencies, resolved once and cached; the cache
# is trusted only while every jar in it still exists.
resolve_classpath() {
  if [ -f "$CLASSPATH_FILE" ]; then
    local ok=1 jar
    IFS=: read -r -a jars < "$CLASSPATH_FILE" || true  # no final newline
    for jar in "${jars[@]}"; do [ -f "$jar" ] || { ok=0; break; }; done
    if [ "$ok" = 1 ] && [ ${#jars[@]} -gt 0 ]; then
      KAFKA_CP="$(cat "$CLASSPATH_FILE")"
      return
    fi
  fi
  command -v mvn >/dev/null 2>&1 || skip "Maven (mvn) not found: it resolves Apache Kafka $KAFKA_VERSION from Maven Central (apt-get install maven)"
  mkdir -p "$CACHE_DIR"
  local tmp="$CLASSPATH_FILE.tmp.$$" out="$CACHE_DIR/mvn-$$.log"
  local args=(-B -q -f "$POM" dependency:build-classpath -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime)
  # Offline first: a filled local repository needs no network at all.
  if ! timeout 120 mvn -o "${args[@]}" > "$out" 2>&1; then
    log "resolving Apache Kafka $KAFKA_VERSION from Maven Central (first time only)"
    if ! timeout 600 mvn "${args[@]}" > "$out" 2>&1; then
      tail -20 "$out" >&2
      rm -f "$tmp" "$out"
      skip "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (Maven Central unreachable?)"
    fi
  fi
  rm -f "$out"
  mv "$tmp" "$CLASSPATH_FILE"
  KAFKA_CP="$(cat "$CLASSPATH_FILE")"
}

# n free loopback ports, distinct, held open together while chosen.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

alive() {
  [ -f "$STATE_DIR/pid" ] && kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null
}

# Whether the broker answers a metadata request (kcat), or at least accepts connections.
answers() {
  local addr="$1"
  if command -v kcat >/dev/null 2>&1; then
    timeout 10 kcat -L -b "$addr" -m 5 2>/dev/null | grep -q '1 brokers:'
  else
    timeout 5 bash -c "exec 3<>/dev/tcp/${addr%:*}/${addr##*:}" 2>/dev/null
  fi
}

write_config() {
  local bport="$1" sport="$2" cport="$3"
  cat > "$STATE_DIR/server.properties" <<EOF
# Single-node KRaft: this process is broker and controller (scripts/kafka.sh).
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,SASL_PLAINTEXT://127.0.0.1:$sport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport,SASL_PLAINTEXT://127.0.0.1:$sport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASSWORD" user_$SASL_USER="$SASL_PASSWORD";
log.dirs=$STATE_DIR/data
# One replica of everything; small internal topics so the first group starts fast.
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Tests fail members over fast (session.timeout.ms of a few seconds); Kafka's floor is 6 s.
group.min.session.timeout.ms=1000
# Keep every record: tests and replays produce events with their original (old)
# timestamps, which the default 7-day time retention would delete at the next retention
# check (every 5 minutes), half-way through a test.
log.retention.ms=-1
# Few threads: 2 shared cores.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
# The cleaner looks for dirty compacted logs every second (default 15 s), so a table
# topic with a short segment.ms compacts within a test.
log.cleaner.backoff.ms=1000
EOF
  cat > "$STATE_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $STATE_DIR/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${KAFKA_LOG_LEVEL:-INFO}
rootLogger.appenderRef.file.ref = file
EOF
}

cmd_start() {
  mkdir -p "$(dirname "$STATE_DIR")"
  exec 9> "$STATE_DIR.lock"
  flock -w 300 9 || { log "another kafka.sh holds $STATE_DIR.lock"; exit 1; }
  if alive && [ -f "$STATE_DIR/bootstrap" ] && answers "$(cat "$STATE_DIR/bootstrap")"; then
    cat "$STATE_DIR/bootstrap"
    return
  fi
  # A dead or half-started broker from an earlier run: clear it.
  stop_broker
  check_java
  resolve_classpath
  command -v python3 >/dev/null 2>&1 || skip "python3 not found (it picks free ports)"
  mkdir -p "$STATE_DIR/data"
  local ports bport sport cport cluster_id
  read -r bport sport cport <<< "$(free_ports 3)"
  write_config "$bport" "$sport" "$cport"
  local jvm=("$JAVA" -cp "$KAFKA_CP" -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties")
  # One "=" argument: an id may start with "-" (URL-safe base64), which a separate
  # argument would make an option (a 1-in-64 failure to start, seen in a test run).
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
  if ! timeout 120 "${jvm[@]}" -Xmx256m kafka.tools.StorageTool format --standalone \
      --cluster-id="$cluster_id" -c "$STATE_DIR/server.properties" > "$STATE_DIR/format.log" 2>&1; then
    cat "$STATE_DIR/format.log" >&2
    log "formatting the KRaft log directory failed"
    exit 1
  fi
  # The broker must not inherit the lock (fd 9). shellcheck disable=SC2086
  setsid "${jvm[@]}" ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseSerialGC \
    kafka.Kafka "$STATE_DIR/server.properties" > "$STATE_DIR/stdout.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$STATE_DIR/pid"
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers "127.0.0.1:$bport"; do
    if ! alive; then
      tail -30 "$STATE_DIR/stdout.log" "$STATE_DIR/server.log" >&2 2>/dev/null || true
      log "the broker exited during start"
      rm -f "$STATE_DIR/pid"
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -30 "$STATE_DIR/server.log" >&2 2>/dev/null || true
      log "the broker did not answer metadata within ${START_TIMEOUT}s; stopping it"
      stop_broker
      exit 1
    fi
    sleep 0.5
  done
  echo "127.0.0.1:$sport" > "$STATE_DIR/sasl-bootstrap"
  echo "127.0.0.1:$bport" > "$STATE_DIR/bootstrap"
  log "Apache Kafka $KAFKA_VERSION (KRaft, pid $(cat "$STATE_DIR/pid")) in $STATE_DIR;" \
    "SASL/PLAIN on $(cat "$STATE_DIR/sasl-bootstrap")"
  cat "$STATE_DIR/bootstrap"
}

# Ends the broker recorded in STATE_DIR, if any, and removes STATE_DIR.
stop_broker() {
  if [ -f "$STATE_DIR/pid" ]; then
    local pid i
    pid="$(cat "$STATE_DIR/pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$pid" 2>/dev/null; then
        log "broker $pid did not stop in 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  rm -rf "$STATE_DIR"
}

cmd_stop() {
  exec 9> "$STATE_DIR.lock"
  flock -w 120 9 || { log "another kafka.sh holds $STATE_DIR.lock"; exit 1; }
  stop_broker
  rm -f "$STATE_DIR.lock"
}

cmd_status() {
  if alive && [ -f "$STATE_DIR/bootstrap" ] && answers "$(cat "$STATE_DIR/bootstrap")"; then
    cat "$STATE_DIR/bootstrap"
  else
    log "no broker answers in $STATE_DIR"
    exit 1
  fi
}

case "$MODE" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  classpath) check_java; resolve_classpath; echo "$KAFKA_CP" ;;
  *)
    echo "usage: scripts/kafka.sh start|stop|status|classpath [--state-dir DIR] [--timeout S]" >&2
    exit 2
    ;;
esac
