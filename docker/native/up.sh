#!/usr/bin/env bash
# One command for the whole system on this machine: installs what is missing, starts Cassandra
# and Redis natively, applies the schema, builds and starts the API on $PORT (default 3000) in
# the background, and waits until /readyz answers 200. Safe to run again.
# `--cluster`: the scale-out topology instead (docker/native/cluster.sh: 3 Cassandra nodes at RF 3,
# a Redis Cluster, API nodes behind nginx on :3000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
if [ "${1:-}" = --cluster ]; then exec bash docker/native/cluster.sh up; fi

ensure_node_modules
ensure_env_file
bash docker/native/stack.sh up
say "applying schema"
node --env-file=.env --import tsx src/migrate.ts
say "building (the API and the web console)"
npm run --silent build

API_PID="$STATE_DIR/api.pid"
API_LOG="$STATE_DIR/api.log"
PORT="$(grep -E '^PORT=' .env | tail -n1 | cut -d= -f2)"; PORT="${PORT:-3000}"
mkdir -p "$STATE_DIR"
if [ -f "$API_PID" ] && kill -0 "$(cat "$API_PID")" 2>/dev/null; then
  say "restarting the API (pid $(cat "$API_PID")) to pick up the new build"
  kill "$(cat "$API_PID")"; while kill -0 "$(cat "$API_PID")" 2>/dev/null; do sleep 0.2; done
fi
nohup node --env-file=.env dist/src/main.js >>"$API_LOG" 2>&1 &
echo $! >"$API_PID"
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
    say "ready: http://127.0.0.1:$PORT (API under /api/v1, docs at /docs, logs in $API_LOG)"
    say "console: http://127.0.0.1:$PORT/app (open it in two browser windows to chat)"
    say "stop everything with: npm run down"
    exit 0
  fi
  kill -0 "$(cat "$API_PID")" 2>/dev/null || { tail -n 20 "$API_LOG" >&2; say "the API exited; log: $API_LOG"; exit 1; }
  sleep 0.2
done
say "the API did not become ready in 30s; log: $API_LOG"; exit 1
