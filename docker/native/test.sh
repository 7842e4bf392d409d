#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit tests, and integration tests against a real
# Cassandra and a real Redis. Starts the services when they are not running, and stops again
# only what it started. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

ensure_node_modules
# Tools some tests drive for real: nginx (the compose load balancer config in front of two
# nodes) and docker-compose (parses docker-compose.yml; no Docker engine needed). Without them
# those tests are skipped, so install them where apt-get can.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx || say "nginx unavailable: its test will be skipped"
command -v docker-compose >/dev/null || apt_install docker-compose || say "docker-compose unavailable: its check will be skipped"
# The web console's browser tests (tests/browser/) drive Debian's chromium through playwright-core
# (no browser download); the emoji font only makes the screenshots' reactions legible. Without
# chromium those tests fail in CI (CI=true) and are skipped with the reason elsewhere.
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || apt_install chromium fonts-noto-color-emoji || say "chromium unavailable: the browser tests cannot run"
# Start what is not running, and stop afterwards only what this run started.
started=()
for service in redis cassandra; do
  if ! bash docker/native/stack.sh status "$service" >/dev/null 2>&1; then
    bash docker/native/stack.sh up "$service"
    started+=("$service")
  fi
done
cleanup() {
  [ -n "${KEEP_SERVICES:-}" ] && return 0
  for service in "${started[@]}"; do bash docker/native/stack.sh down "$service" || true; done
}
trap cleanup EXIT

say "lint (biome)"
npx biome check .
say "type-check (src, tests, k6 scripts)"
npm run --silent typecheck
# Each vitest run also writes a JSON report; the totals are printed as one closing line below.
results="$REPO/.native/test-results"
rm -rf "$results" && mkdir -p "$results"
reporters=(--reporter=default --reporter=json)
say "tests (vitest: unit, integration, faults, browser)"
npx vitest run --config tests/vitest.config.ts "${reporters[@]}" --outputFile.json="$results/single-redis.json" "$@"

# The Redis-facing suites once more against a Redis Cluster (3 primaries, 3 replicas; sharded
# pub/sub), plus the cluster failover and slot-migration tests. Skipped with a file filter or SKIP_REDIS_CLUSTER=1.
# Suites on a private single redis-server (outages, proxies) stay single-topology.
CLUSTER_SUITES=(
  tests/integration/cache.consistency.test.ts tests/integration/cache.window.test.ts
  tests/integration/cache.coalescing.test.ts tests/integration/cache.concurrency.test.ts
  tests/integration/presence.api.test.ts tests/integration/presence.realtime.test.ts
  tests/integration/presence.ordering.test.ts
  tests/integration/ws.fanout.test.ts tests/integration/ws.channels.test.ts
  tests/integration/ws.membership.test.ts tests/integration/receipts.fanout.test.ts
  tests/integration/security.rate-limits.test.ts tests/integration/redis.cluster-failover.test.ts
  tests/integration/redis.cluster-slot-migration.test.ts
)
if [ "$#" = 0 ] && [ -z "${SKIP_REDIS_CLUSTER:-}" ]; then
  if ! bash docker/native/stack.sh status redis-cluster >/dev/null 2>&1; then
    bash docker/native/stack.sh up redis-cluster
    started+=(redis-cluster)
  fi
  say "tests against a Redis Cluster (TEST_REDIS_TOPOLOGY=cluster)"
  TEST_REDIS_TOPOLOGY=cluster npx vitest run --config tests/vitest.config.ts "${reporters[@]}" \
    --outputFile.json="$results/redis-cluster.json" "${CLUSTER_SUITES[@]}"
fi
node tests/support/summarize-results.mjs "$results"/*.json | tee "$results/summary.txt"
