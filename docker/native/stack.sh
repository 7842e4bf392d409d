#!/usr/bin/env bash
# Native (no Docker) launcher for the services Switchboard needs: Apache Cassandra 5.0 and Redis,
# both bound to loopback. Idempotent: `up` reuses running services, `down` stops only what it
# started (tracked by pid files), `status` exits non-zero when a service is not answering.
#
#   docker/native/stack.sh up|down|status [all|cassandra|redis|redis-cluster]
#
# Sourced (docker/native/cluster.sh does), it only defines its functions: cassandra_up starts one
# node from the CASSANDRA_* settings and the paths cassandra_paths set, so a 3-node cluster runs
# the same jars, flags and readiness check as the single node.
#
# `redis-cluster` (never part of `all`): a Redis Cluster of 3 primaries and 3 replicas on
# 127.0.0.1:$REDIS_CLUSTER_BASE_PORT… (default 7101–7106; 7000 is Cassandra's storage port),
# for REDIS_CLUSTER_NODES and the cluster test run (docker/native/test.sh).
#
# Cassandra comes from Maven Central (org.apache.cassandra:cassandra-all and its runtime
# dependencies) and runs CassandraDaemon directly on Java 17. Redis is Debian's redis-server.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh" # REPO, STATE_DIR, apt_install
CASSANDRA_VERSION="${CASSANDRA_VERSION:-5.0.6}"
CASSANDRA_CQL_PORT="${CASSANDRA_CQL_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-7000}"
CASSANDRA_HEAP="${CASSANDRA_HEAP:-1G}"
CASSANDRA_START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-180}"
# One node on 127.0.0.1 by default; docker/native/cluster.sh sets these per node of its ring.
CASSANDRA_LISTEN_ADDRESS="${CASSANDRA_LISTEN_ADDRESS:-127.0.0.1}"
CASSANDRA_SEEDS="${CASSANDRA_SEEDS:-$CASSANDRA_LISTEN_ADDRESS:$CASSANDRA_STORAGE_PORT}"
CASSANDRA_INITIAL_TOKEN="${CASSANDRA_INITIAL_TOKEN:-0}"
CASSANDRA_CLUSTER_NAME="${CASSANDRA_CLUSTER_NAME:-switchboard-local}"
# Extra JVM flags, space-separated (cluster.sh: NODE_LOCAL reads for the fault suite's replica check).
# Empty: no JMX (the single node needs none). A port: JMX on 127.0.0.1 only, for nodetool.
CASSANDRA_JMX_PORT="${CASSANDRA_JMX_PORT:-}"
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_CLUSTER_BASE_PORT="${REDIS_CLUSTER_BASE_PORT:-7101}"
# Short, so a failover (a replica promoted after its primary died) takes a few seconds.
REDIS_CLUSTER_NODE_TIMEOUT_MS="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-2000}"
REDIS_CLUSTER_PORTS=()
for i in 0 1 2 3 4 5; do REDIS_CLUSTER_PORTS+=("$((REDIS_CLUSTER_BASE_PORT + i))"); done
REDIS_CLUSTER_DIR="$STATE_DIR/redis-cluster"

CASS_LIB="$STATE_DIR/cassandra-lib/$CASSANDRA_VERSION"
# The state folder of the node cassandra_up starts or stop_pid stops (one per node of a cluster).
cassandra_paths() {
  CASS_DIR="$1"
  CASS_PID="$CASS_DIR/cassandra.pid"
  CASS_LOG="$CASS_DIR/logs/system.log"
  CASS_OUT="$CASS_DIR/logs/stdout.log"
}
cassandra_paths "$STATE_DIR/cassandra"
REDIS_DIR="$STATE_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; } # port [host]

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Java 17: Cassandra 5.0 refuses Java 24+ (it calls System.setSecurityManager), and 21 needs flags.
find_java17() {
  local candidate
  for candidate in "${JAVA17_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 \
    /usr/lib/jvm/java-17-openjdk /usr/lib/jvm/temurin-17-jdk-amd64; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ]; then echo "$candidate/bin/java"; return 0; fi
  done
  if command -v java >/dev/null && java -version 2>&1 | grep -q 'version "17'; then command -v java; return 0; fi
  return 1
}

ensure_cassandra_installed() {
  find_java17 >/dev/null || apt_install openjdk-17-jre-headless
  if [ -f "$CASS_LIB/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || apt_install maven
  log "resolving org.apache.cassandra:cassandra-all:$CASSANDRA_VERSION from Maven Central into $CASS_LIB"
  mkdir -p "$CASS_LIB"
  (cd "$HERE/cassandra" && mvn -q -B -Dstyle.color=never -Dcassandra.version="$CASSANDRA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$CASS_LIB" -DincludeScope=runtime) \
    || die "maven could not resolve cassandra-all $CASSANDRA_VERSION (see output above)"
  [ -f "$CASS_LIB/cassandra-all-$CASSANDRA_VERSION.jar" ] || die "cassandra-all jar missing after resolve"
  touch "$CASS_LIB/.complete"
}

cassandra_ready() { port_open "$CASSANDRA_CQL_PORT" "$CASSANDRA_LISTEN_ADDRESS" && grep -q 'Starting listening for CQL clients' "$CASS_LOG" 2>/dev/null; }

cassandra_up() {
  local at="$CASSANDRA_LISTEN_ADDRESS:$CASSANDRA_CQL_PORT"
  if pid_alive "$CASS_PID" && port_open "$CASSANDRA_CQL_PORT" "$CASSANDRA_LISTEN_ADDRESS"; then
    log "cassandra already running (pid $(cat "$CASS_PID")) on $at"; return 0
  fi
  if ! pid_alive "$CASS_PID" && port_open "$CASSANDRA_CQL_PORT" "$CASSANDRA_LISTEN_ADDRESS"; then
    log "something already answers on $at; using it as Cassandra"; return 0
  fi
  ensure_cassandra_installed
  local java; java="$(find_java17)" || die "Java 17 not found after install"
  mkdir -p "$CASS_DIR"/{data,commitlog,saved_caches,hints,cdc_raw,logs,tmp}
  sed -e "s#@DIR@#$CASS_DIR#g" -e "s#@CQL_PORT@#$CASSANDRA_CQL_PORT#g" \
    -e "s#@STORAGE_PORT@#$CASSANDRA_STORAGE_PORT#g" -e "s#@LISTEN@#$CASSANDRA_LISTEN_ADDRESS#g" \
    -e "s#@SEEDS@#$CASSANDRA_SEEDS#g" -e "s#@TOKEN@#$CASSANDRA_INITIAL_TOKEN#g" \
    -e "s#@CLUSTER_NAME@#$CASSANDRA_CLUSTER_NAME#g" \
    "$HERE/cassandra/cassandra.yaml.template" >"$CASS_DIR/cassandra.yaml"
  # JMX only when asked for, and then on loopback only (cassandra.jmx.local.port binds 127.0.0.1,
  # without authentication): nodetool on this machine, nobody else.
  local jmx=() extra=()
  if [ -n "$CASSANDRA_JMX_PORT" ]; then jmx=(-Dcassandra.jmx.local.port="$CASSANDRA_JMX_PORT"); fi
  read -r -a extra <<<"${CASSANDRA_JVM_EXTRA_OPTS:-}"
  : >"$CASS_LOG"
  local started; started=$(date +%s)
  log "starting cassandra $CASSANDRA_VERSION on $at (heap $CASSANDRA_HEAP, $java)"
  # Flags from Cassandra 5.0's conf/jvm17-server.options and jvm-server.options, minus JMX and
  # AlwaysPreTouch; see shared research notes. unsafesystem skips fsync of system tables (dev only).
  nohup "$java" \
    -Xms"$CASSANDRA_HEAP" -Xmx"$CASSANDRA_HEAP" -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -XX:+UseStringDeduplication -XX:-UsePerfData -ea -da:net.openhft... \
    -Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true \
    -Djava.io.tmpdir="$CASS_DIR/tmp" \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
    --add-exports java.sql/java.sql=ALL-UNNAMED \
    --add-exports java.base/java.lang.ref=ALL-UNNAMED \
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED \
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED \
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED \
    --add-opens java.base/java.lang.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    --add-opens java.base/java.nio=ALL-UNNAMED \
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true \
    -Dio.netty.allocator.maxOrder=11 \
    -javaagent:"$CASS_LIB/jamm-0.4.0.jar" \
    -Dcassandra-foreground=yes "${jmx[@]}" "${extra[@]}" \
    -Dcassandra.config="file://$CASS_DIR/cassandra.yaml" \
    -Dlogback.configurationFile="$HERE/cassandra/logback.xml" \
    -Dcassandra.logdir="$CASS_DIR/logs" \
    -Dcassandra.storagedir="$CASS_DIR" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=0 \
    -Dcassandra.unsafesystem=true \
    -Dcassandra.test.flush_local_schema_changes=false \
    -cp "$HERE/cassandra:$CASS_LIB/*" \
    org.apache.cassandra.service.CassandraDaemon >"$CASS_OUT" 2>&1 &
  echo $! >"$CASS_PID"
  while ! cassandra_ready; do
    if ! pid_alive "$CASS_PID"; then
      tail -n 30 "$CASS_OUT" "$CASS_LOG" >&2 || true
      die "cassandra exited during start-up; logs: $CASS_LOG and $CASS_OUT"
    fi
    if [ $(($(date +%s) - started)) -ge "$CASSANDRA_START_TIMEOUT" ]; then
      die "cassandra did not answer CQL within ${CASSANDRA_START_TIMEOUT}s; logs: $CASS_LOG and $CASS_OUT"
    fi
    sleep 1
  done
  log "cassandra ready on $at after $(($(date +%s) - started))s (logs: $CASS_LOG)"
}

stop_pid() { # name pidfile timeout
  local name="$1" pidfile="$2" timeout="$3" pid
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; log "$name not running"; return 0; fi
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$timeout"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in ${timeout}s; killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  log "$name stopped"
}

# ---------------------------------------------------------------------------------------------
redis_up() {
  if port_open "$REDIS_PORT"; then
    log "redis already answers on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  # Debian's package starts a system service on 6379 when an init system runs; fine if so.
  if port_open "$REDIS_PORT"; then log "redis answers on 127.0.0.1:$REDIS_PORT"; return 0; fi
  mkdir -p "$REDIS_DIR"
  # The same memory policy as the compose stack (docker/redis/redis.conf), on loopback only.
  redis-server "$REPO/docker/redis/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" \
    || die "redis-server failed to start; log: $REDIS_LOG"
  for _ in $(seq 1 50); do port_open "$REDIS_PORT" && break; sleep 0.1; done
  port_open "$REDIS_PORT" || die "redis did not answer on 127.0.0.1:$REDIS_PORT; log: $REDIS_LOG"
  log "redis ready on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
}

# ---------------------------------------------------------------------------------------------
cluster_ok() { redis-cli -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

# Starts one cluster node on its port. Its nodes.conf, when kept (a node restarted after a kill),
# makes it rejoin its cluster as a replica of whoever took its slots over.
redis_cluster_node_start() {
  local port="$1" dir="$REDIS_CLUSTER_DIR/$1"
  mkdir -p "$dir"
  redis-server "$REPO/docker/redis/redis.conf" --bind 127.0.0.1 --port "$port" \
    --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
    --cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT_MS" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
    || die "redis-server failed to start on $port; log: $dir/redis.log"
}

redis_cluster_up() {
  command -v redis-server >/dev/null || apt_install redis-server
  local started port dir all_ok=1
  started=$(date +%s)
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do cluster_ok "$port" || all_ok=0; done
  if [ "$all_ok" = 1 ]; then
    log "redis cluster already running on 127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS[5]}"; return 0
  fi
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    dir="$REDIS_CLUSTER_DIR/$port"
    if port_open "$port"; then
      pid_alive "$dir/redis.pid" || die "127.0.0.1:$port is taken by something else (set REDIS_CLUSTER_BASE_PORT)"
      continue
    fi
    # A node that is not running starts empty: a stale nodes.conf would name a cluster that is gone.
    rm -rf "$dir"; mkdir -p "$dir"
    redis_cluster_node_start "$port"
  done
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    for _ in $(seq 1 50); do port_open "$port" && break; sleep 0.1; done
    port_open "$port" || die "redis cluster node did not answer on 127.0.0.1:$port"
  done
  if ! cluster_ok "${REDIS_CLUSTER_PORTS[0]}"; then
    local nodes=(); for port in "${REDIS_CLUSTER_PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$REDIS_CLUSTER_DIR/create.log" 2>&1 \
      || { cat "$REDIS_CLUSTER_DIR/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  for _ in $(seq 1 100); do
    all_ok=1; for port in "${REDIS_CLUSTER_PORTS[@]}"; do cluster_ok "$port" || all_ok=0; done
    [ "$all_ok" = 1 ] && break; sleep 0.1
  done
  [ "$all_ok" = 1 ] || die "redis cluster did not reach cluster_state:ok; logs: $REDIS_CLUSTER_DIR/*/redis.log"
  log "redis cluster ready on 127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS[5]} (3 primaries, 3 replicas) after $(($(date +%s) - started))s"
}

redis_cluster_down() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do stop_pid "redis cluster node $port" "$REDIS_CLUSTER_DIR/$port/redis.pid" 10; done
}

redis_cluster_status() {
  local port rc=0
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do cluster_ok "$port" || rc=1; done
  if [ "$rc" = 0 ]; then echo "redis-cluster: up (127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS[5]})"
  else echo "redis-cluster: down"; fi
  return $rc
}

status() { # [all|cassandra|redis]; exits non-zero when any asked-for service is down
  local rc=0
  if [ "$1" != redis ]; then
    if port_open "$CASSANDRA_CQL_PORT"; then echo "cassandra: up (127.0.0.1:$CASSANDRA_CQL_PORT, logs $CASS_LOG)"
    else echo "cassandra: down"; rc=1; fi
  fi
  if [ "$1" != cassandra ]; then
    if port_open "$REDIS_PORT"; then echo "redis: up (127.0.0.1:$REDIS_PORT)"
    else echo "redis: down"; rc=1; fi
  fi
  return $rc
}

# Sourced: functions only.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

cmd="${1:-status}"; what="${2:-all}"
case "$cmd:$what" in
  up:all) redis_up; cassandra_up ;;
  up:cassandra) cassandra_up ;;
  up:redis) redis_up ;;
  down:all) stop_pid redis "$REDIS_PID" 10; stop_pid cassandra "$CASS_PID" 60 ;;
  down:cassandra) stop_pid cassandra "$CASS_PID" 60 ;;
  down:redis) stop_pid redis "$REDIS_PID" 10 ;;
  up:redis-cluster) redis_cluster_up ;;
  down:redis-cluster) redis_cluster_down ;;
  status:redis-cluster) redis_cluster_status ;;
  status:*) status "$what" ;;
  install:*) ensure_cassandra_installed; command -v redis-server >/dev/null || apt_install redis-server ;;
  *) die "usage: $0 up|down|status|install [all|cassandra|redis|redis-cluster]" ;;
esac
