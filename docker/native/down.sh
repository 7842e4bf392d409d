#!/usr/bin/env bash
# Stops the API started by up.sh, then Redis and Cassandra. `--cluster`: the topology of
# `up.sh --cluster` instead (nginx, API nodes, Redis Cluster, the three Cassandra nodes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ "${1:-}" = --cluster ]; then exec bash "$REPO/docker/native/cluster.sh" down; fi
API_PID="$STATE_DIR/api.pid"
if [ -f "$API_PID" ] && kill -0 "$(cat "$API_PID")" 2>/dev/null; then
  kill "$(cat "$API_PID")"
  for _ in $(seq 1 100); do kill -0 "$(cat "$API_PID")" 2>/dev/null || break; sleep 0.2; done
  say "API stopped"
fi
rm -f "$API_PID"
bash "$REPO/docker/native/stack.sh" down
