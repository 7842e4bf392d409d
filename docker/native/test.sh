#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit tests, and integration tests against a real
# Cassandra and a real Redis. Starts the services when they are not running, and stops again
# only what it started. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

ensure_node_modules
started_services=0
if ! bash docker/native/stack.sh status >/dev/null 2>&1; then
  started_services=1
  bash docker/native/stack.sh up
fi
cleanup() { if [ "$started_services" = 1 ] && [ -z "${KEEP_SERVICES:-}" ]; then bash docker/native/stack.sh down || true; fi; }
trap cleanup EXIT

say "lint (biome)"
npx biome check .
say "type-check (src, tests, k6 scripts)"
npm run --silent typecheck
say "tests (vitest: unit + integration)"
npx vitest run --config tests/vitest.config.ts "$@"
