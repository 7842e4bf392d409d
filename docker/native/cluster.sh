#!/usr/bin/env bash
# The scale-out topology on one machine, natively (issue 14): three Cassandra 5.0 nodes on
# loopback addresses (a ring of RF 3, reads and writes at LOCAL_QUORUM), the Redis Cluster of
# stack.sh (3 primaries, 3 replicas), two or three API nodes (the built dist/) and nginx in front
# of them with the compose file's configuration. Idempotent like stack.sh: `up` reuses what runs.
#
#   docker/native/cluster.sh up|down|status
#   docker/native/cluster.sh start|kill cassandra N | api N | redis PORT   (kill = SIGKILL; the fault suite's levers)
#   docker/native/cluster.sh stop api N                                    (SIGTERM: a graceful stop)
#   docker/native/cluster.sh redis-restart-empty                          (every Redis node stopped, the cluster recreated empty)
#
# Every address and port is a setting, so a second topology can run beside a machine's shared
# single-node stack (127.0.0.0/8 is all loopback on Linux: 127.0.0.11 needs no setup):
#   CLUSTER_CASSANDRA_IPS      127.0.0.1,127.0.0.2,127.0.0.3   one Cassandra node per address, CQL on 9042, storage on 7000
#   CLUSTER_JMX_BASE_PORT      7000     node N's JMX (127.0.0.1 only) on BASE + 100·N, as ccm does: 7100, 7200, 7300
#   CLUSTER_CASSANDRA_HEAP     768M     per node: three nodes, six Redis, three APIs fit a 2-core, 24 GiB machine
#   CLUSTER_CASSANDRA_START_TIMEOUT 300 seconds a node may take to answer CQL
#   CLUSTER_API_PORTS          3001,3002,3003                  one API node per port (two or three)
#   CLUSTER_METRICS_BASE_PORT  9470     API node N's metrics listener on BASE + N
#   CLUSTER_NGINX_PORT         3000     the balancer (REST, /docs, WebSocket at /ws)
#   CLUSTER_KEYSPACE           switchboard
#   CLUSTER_RATE_LIMIT_ENABLED false    every client of a one-machine topology shares one loopback address
#   REDIS_CLUSTER_BASE_PORT    7101     (stack.sh) six Redis nodes from here
#   CLUSTER_DIR                .native/cluster                 state, logs, pid files and topology.json
#
# `up` writes $CLUSTER_DIR/topology.json (every address, port and pid file) for the fault suite.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
source "$HERE/stack.sh" # cassandra_up, cassandra_paths, redis_cluster_*, stop_pid, pid_alive, port_open

IFS=, read -r -a CASS_IPS <<<"${CLUSTER_CASSANDRA_IPS:-127.0.0.1,127.0.0.2,127.0.0.3}"
IFS=, read -r -a API_PORTS <<<"${CLUSTER_API_PORTS:-3001,3002,3003}"
JMX_BASE_PORT="${CLUSTER_JMX_BASE_PORT:-7000}"
METRICS_BASE_PORT="${CLUSTER_METRICS_BASE_PORT:-9470}"
NGINX_PORT="${CLUSTER_NGINX_PORT:-3000}"
KEYSPACE="${CLUSTER_KEYSPACE:-switchboard}"
CLUSTER_DIR="${CLUSTER_DIR:-$STATE_DIR/cluster}"
NGINX_DIR="$CLUSTER_DIR/nginx"
REPLICATION="{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
[ "${#CASS_IPS[@]}" = 3 ] || die "CLUSTER_CASSANDRA_IPS must name three addresses"
[ "${#API_PORTS[@]}" -ge 2 ] || die "CLUSTER_API_PORTS must name at least two ports"
# Murmur3 tokens spaced evenly: each node owns a third of the ring from the start, so a fresh ring
# needs no bootstrap (and no streaming) and the nodes join one after the other in seconds.
TOKENS=(-9223372036854775808 -3074457345618258603 3074457345618258602)

clog() { printf '[cluster] %s\n' "$*" >&2; }

cassandra_node() { # N: points stack.sh's settings at node N of the ring
  local n="$1" ip="${CASS_IPS[$(($1 - 1))]}"
  cassandra_paths "$CLUSTER_DIR/cassandra$n"
  CASSANDRA_LISTEN_ADDRESS="$ip"
  CASSANDRA_SEEDS="${CASS_IPS[0]}:$CASSANDRA_STORAGE_PORT"
  CASSANDRA_INITIAL_TOKEN="${TOKENS[$((n - 1))]}"
  CASSANDRA_CLUSTER_NAME=switchboard-cluster
  CASSANDRA_JMX_PORT=$((JMX_BASE_PORT + 100 * n))
  CASSANDRA_HEAP="${CLUSTER_CASSANDRA_HEAP:-768M}"
  # A restarted node replays its commit log while the others take load: 110-220 s were measured on
  # a busy 2-core machine, past stack.sh's 180 s.
  CASSANDRA_START_TIMEOUT="${CLUSTER_CASSANDRA_START_TIMEOUT:-300}"
  # CONSISTENCY NODE_LOCAL answers from this node's own data only: how the fault suite proves a row
  # is on every replica (a read at ONE may be served by another replica). A test-cluster flag.
  CASSANDRA_JVM_EXTRA_OPTS="-Dcassandra.enable_nodelocal_queries=true"
}

cassandra_node_up() {
  cassandra_node "$1"
  # stack.sh would adopt whatever answers there; a ring member must be ours (say why when not).
  if ! pid_alive "$CASS_PID" && port_open "$CASSANDRA_CQL_PORT" "$CASSANDRA_LISTEN_ADDRESS"; then
    die "$CASSANDRA_LISTEN_ADDRESS:$CASSANDRA_CQL_PORT is taken (the single-node stack? npm run down, or set CLUSTER_CASSANDRA_IPS)"
  fi
  # A restarted node first gossips with the seed (a shadow round, bounded by the ring delay, which
  # stack.sh sets to 0); a seed busy under load can miss it, and the node exits with "Unable to
  # gossip with any peers" (seen on the fault suite's two-nodes-down restart). A second try joins.
  local attempt
  for attempt in 1 2 3; do
    (cassandra_up) && return 0
    clog "cassandra$1 did not start (attempt $attempt of 3)"
    # It may have timed out rather than exited (a 3-minute start on a loaded machine): a second JVM
    # beside it would fail on its ports and leave the first one running without a pid file.
    kill_pidfile "$CASS_PID" "cassandra$1"
  done
  die "cassandra$1 did not start; logs: $CASS_LOG and $CASS_OUT"
}

contact_points() { local ip out=(); for ip in "${CASS_IPS[@]}"; do out+=("$ip:$CASSANDRA_CQL_PORT"); done; (IFS=,; echo "${out[*]}"); }
redis_nodes() { local port out=(); for port in "${REDIS_CLUSTER_PORTS[@]}"; do out+=("127.0.0.1:$port"); done; (IFS=,; echo "${out[*]}"); }

# What every API node and the migration share: the ring, RF 3, LOCAL_QUORUM, the Redis Cluster.
cluster_env() {
  echo "CASSANDRA_CONTACT_POINTS=$(contact_points)"
  echo "CASSANDRA_LOCAL_DC=datacenter1"
  echo "CASSANDRA_KEYSPACE=$KEYSPACE"
  echo "CASSANDRA_REPLICATION=$REPLICATION"
  echo "CASSANDRA_CONSISTENCY=LOCAL_QUORUM"
  echo "REDIS_CLUSTER_NODES=$(redis_nodes)"
  echo "RATE_LIMIT_ENABLED=${CLUSTER_RATE_LIMIT_ENABLED:-false}"
}

# CLUSTER_ENV: cluster_env as `env` arguments, laid over .env (the process environment wins over
# --env-file). An array, not a wrapper function: `env … node &` keeps $! the node's own pid.
load_cluster_env() { CLUSTER_ENV=(); local line; while IFS= read -r line; do CLUSTER_ENV+=("$line"); done < <(cluster_env); }

api_paths() { API_DIR="$CLUSTER_DIR/api$1"; API_PID="$API_DIR/api.pid"; API_LOG="$API_DIR/api.log"; }

api_up() { # N
  local n="$1" port="${API_PORTS[$(($1 - 1))]}"
  api_paths "$n"; mkdir -p "$API_DIR"
  if pid_alive "$API_PID"; then clog "api$n already running (pid $(cat "$API_PID")) on 127.0.0.1:$port"; return 0; fi
  port_open "$port" && die "127.0.0.1:$port is taken (set CLUSTER_API_PORTS)"
  load_cluster_env
  # $API_DIR/extra.env (KEY=VALUE lines), when present, is laid over the cluster's settings for this
  # node alone: the fault suite routes one node's Cassandra link through a proxy with it.
  local extra=()
  if [ -f "$API_DIR/extra.env" ]; then
    local line; while IFS= read -r line; do [ -n "$line" ] && extra+=("$line"); done <"$API_DIR/extra.env"
    clog "api$n with $API_DIR/extra.env: ${extra[*]}"
  fi
  # exec: the background subshell becomes the node, so the pid file holds the node's own pid.
  (cd "$REPO" && exec env "${CLUSTER_ENV[@]}" "${extra[@]}" NODE_ID="api$n" HOST=127.0.0.1 PORT="$port" \
    METRICS_HOST=127.0.0.1 METRICS_PORT=$((METRICS_BASE_PORT + n)) \
    nohup node --env-file=.env dist/src/main.js >>"$API_LOG" 2>&1 </dev/null) &
  echo $! >"$API_PID"
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then clog "api$n ready on 127.0.0.1:$port (log $API_LOG)"; return 0; fi
    pid_alive "$API_PID" || { tail -n 20 "$API_LOG" >&2; die "api$n exited; log: $API_LOG"; }
    sleep 0.2
  done
  die "api$n not ready in 60s; log: $API_LOG"
}

# docker/nginx/nginx.conf with only what loopback needs rewritten: the upstream servers, the listen
# address, the pid file and the log paths. Routing, the WebSocket upgrade, least_conn and the
# passive health (max_fails, proxy_next_upstream on 502/503: a node whose /readyz fails answers
# 503 and is skipped) stay exactly as in the compose stack.
nginx_config() {
  local servers="" port
  for port in "${API_PORTS[@]}"; do servers+="    server 127.0.0.1:$port max_fails=3 fail_timeout=10s;\n"; done
  sed -e '/server app[0-9]*:3000/d' \
    -e "s#^\(\s*\)least_conn;#\1least_conn;\n$servers#" \
    -e "s#listen 3000;#listen 127.0.0.1:$NGINX_PORT;#" \
    -e "s#^pid .*;#pid $NGINX_DIR/nginx.pid;#" \
    -e "s#error_log /dev/stderr#error_log $NGINX_DIR/error.log#" \
    -e "s#access_log /dev/stdout#access_log $NGINX_DIR/access.log#" \
    "$REPO/docker/nginx/nginx.conf"
}

nginx_up() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
  local nginx_bin; nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
  mkdir -p "$NGINX_DIR"
  nginx_config >"$NGINX_DIR/nginx.conf"
  if pid_alive "$NGINX_DIR/nginx.pid"; then
    "$nginx_bin" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" -s reload; clog "nginx reloaded"; return 0
  fi
  port_open "$NGINX_PORT" && die "127.0.0.1:$NGINX_PORT is taken (set CLUSTER_NGINX_PORT)"
  "$nginx_bin" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" || die "nginx failed; log: $NGINX_DIR/error.log"
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$NGINX_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  clog "nginx on 127.0.0.1:$NGINX_PORT in front of ${#API_PORTS[@]} API nodes (logs $NGINX_DIR)"
}

write_topology() {
  local n port cass="" api="" redis=""
  for n in 1 2 3; do
    cassandra_node "$n"
    cass+="${cass:+,}{\"n\":$n,\"host\":\"$CASSANDRA_LISTEN_ADDRESS\",\"cqlPort\":$CASSANDRA_CQL_PORT,\"jmxPort\":$CASSANDRA_JMX_PORT,\"pidFile\":\"$CASS_PID\"}"
  done
  for n in $(seq 1 "${#API_PORTS[@]}"); do
    api_paths "$n"; port="${API_PORTS[$((n - 1))]}"
    api+="${api:+,}{\"n\":$n,\"nodeId\":\"api$n\",\"url\":\"http://127.0.0.1:$port\",\"metricsUrl\":\"http://127.0.0.1:$((METRICS_BASE_PORT + n))\",\"pidFile\":\"$API_PID\",\"log\":\"$API_LOG\"}"
  done
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do redis+="${redis:+,}{\"port\":$port,\"pidFile\":\"$REDIS_CLUSTER_DIR/$port/redis.pid\"}"; done
  cat >"$CLUSTER_DIR/topology.json" <<EOF
{"balancer":"http://127.0.0.1:$NGINX_PORT","keyspace":"$KEYSPACE","cassandra":[$cass],"api":[$api],"redis":[$redis],
 "cassandraLib":"$CASS_LIB","configDir":"$HERE/cassandra"}
EOF
}

cluster_up() {
  local started; started=$(date +%s)
  mkdir -p "$CLUSTER_DIR"
  ensure_node_modules
  ensure_env_file
  ensure_cassandra_installed
  # One after the other: a node joins a ring whose members it can already see (node 1 is the seed).
  local n; for n in 1 2 3; do cassandra_node_up "$n"; done
  redis_cluster_up
  clog "applying schema to keyspace $KEYSPACE (RF 3)"
  load_cluster_env
  (cd "$REPO" && npm run --silent build && env "${CLUSTER_ENV[@]}" node --env-file=.env dist/src/migrate.js)
  # Each node loads its schema from system_schema's SSTables before it replays its commit log. A
  # node SIGKILLed before its copy of a schema change was flushed fails to start: replaying its
  # writes to a column the change added ("Unknown column owner_id during deserialization") is a
  # commit log error, fatal by default (the fault suite's node kill on a fresh ring hit it). So
  # after every migration, each node flushes its schema tables.
  for n in 1 2 3; do bash "$HERE/nodetool.sh" "$n" flush system_schema; done
  for n in $(seq 1 "${#API_PORTS[@]}"); do api_up "$n"; done
  nginx_up
  write_topology
  clog "up in $(($(date +%s) - started))s: http://127.0.0.1:$NGINX_PORT (status: npm run cluster -- status; stop: npm run down -- --cluster)"
}

cluster_down() {
  local n
  if pid_alive "$NGINX_DIR/nginx.pid"; then stop_pid nginx "$NGINX_DIR/nginx.pid" 10; fi
  for n in $(seq 1 "${#API_PORTS[@]}"); do api_paths "$n"; stop_pid "api$n" "$API_PID" 20; done
  redis_cluster_down
  for n in 3 2 1; do cassandra_node "$n"; stop_pid "cassandra$n" "$CASS_PID" 60; done
}

cluster_status() {
  local rc=0 n port state
  for n in 1 2 3; do
    cassandra_node "$n"
    if pid_alive "$CASS_PID" && port_open "$CASSANDRA_CQL_PORT" "$CASSANDRA_LISTEN_ADDRESS"; then state="up (pid $(cat "$CASS_PID"))"; else state=down; rc=1; fi
    echo "cassandra$n: $state $CASSANDRA_LISTEN_ADDRESS:$CASSANDRA_CQL_PORT jmx 127.0.0.1:$CASSANDRA_JMX_PORT, logs $CASS_LOG"
  done
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    state="$(redis-cli -p "$port" role 2>/dev/null | head -n1 || true)"
    [ -n "$state" ] || { state=down; rc=1; }
    echo "redis $port: $state$(pid_alive "$REDIS_CLUSTER_DIR/$port/redis.pid" && echo " (pid $(cat "$REDIS_CLUSTER_DIR/$port/redis.pid"))")"
  done
  for n in $(seq 1 "${#API_PORTS[@]}"); do
    api_paths "$n"; port="${API_PORTS[$((n - 1))]}"
    state="$(curl -s "http://127.0.0.1:$port/readyz" 2>/dev/null || true)"
    pid_alive "$API_PID" || { state=down; rc=1; }
    echo "api$n: 127.0.0.1:$port ${state:-not answering}$(pid_alive "$API_PID" && echo " (pid $(cat "$API_PID"))")"
  done
  if pid_alive "$NGINX_DIR/nginx.pid"; then echo "nginx: up 127.0.0.1:$NGINX_PORT (pid $(cat "$NGINX_DIR/nginx.pid"))"
  else echo "nginx: down"; rc=1; fi
  return $rc
}

# SIGKILL, then wait until the process is gone: a big JVM on a busy machine takes a moment to exit,
# and a restart before that finds its port still taken.
kill_pidfile() { # pidfile name
  pid_alive "$1" || { rm -f "$1"; return 0; }
  local pid; pid="$(cat "$1")"
  kill -9 "$pid"; clog "SIGKILL $2 (pid $pid)"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$1"
}

cmd="${1:-status}"
case "$cmd:${2:-}" in
  up:*) cluster_up ;;
  down:*) cluster_down ;;
  status:*) cluster_status ;;
  start:cassandra) cassandra_node_up "$3" ;;
  start:api) api_up "$3" ;;
  start:redis) redis_cluster_node_start "$3" ;;
  kill:cassandra) cassandra_node "$3"; kill_pidfile "$CASS_PID" "cassandra$3" ;;
  kill:api) api_paths "$3"; kill_pidfile "$API_PID" "api$3" ;;
  stop:api) api_paths "$3"; stop_pid "api$3" "$API_PID" 20 ;;
  kill:redis) kill_pidfile "$REDIS_CLUSTER_DIR/$3/redis.pid" "redis $3" ;;
  redis-restart-empty:*) redis_cluster_down; redis_cluster_up ;;
  env:*) cluster_env ;;
  *) die "usage: $0 up|down|status | start|kill cassandra N|api N|redis PORT | stop api N | redis-restart-empty | env" ;;
esac
