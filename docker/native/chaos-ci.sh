#!/usr/bin/env bash
# CI's reduced fault run (issue 14): the cluster topology instead of the single-node stack, then
# the fault suite's Cassandra node kill, API node kill and Redis primary kill under load. Fails on
# any lost or duplicated acknowledged message (or any other broken promise the suite asserts).
# The full suite is `npm run chaos` against `npm run up -- --cluster`.
#
# The single-node stack must be stopped first (its Cassandra holds 127.0.0.1:9042 and :7000,
# which the ring's node 1 uses): .ci/run does `stack.sh down` before calling this.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
started=$(date +%s)
trap 'bash docker/native/cluster.sh down || true' EXIT
bash docker/native/cluster.sh up
up_s=$(($(date +%s) - started))
# Shorter phases than the full run: the figures stay meaningful, the step stays within ~10 minutes
# (measured here on 2026-12-01: cluster up in 111 s, the three scenarios in 290 s). The
# JSON report joins test.sh's, so CI's closing "tests: N passed, …" line counts these too.
CHAOS_SCENARIOS="${CHAOS_SCENARIOS:-cassandra-node,api-node,redis-primary}" \
  CHAOS_BEFORE_MS="${CHAOS_BEFORE_MS:-5000}" CHAOS_AFTER_MS="${CHAOS_AFTER_MS:-6000}" \
  CHAOS_REPORT="${CHAOS_REPORT:-$STATE_DIR/chaos-report.md}" npm run --silent chaos -- \
  --reporter=default --reporter=json --outputFile.json="$STATE_DIR/test-results/chaos-ci.json"
say "chaos: cluster up in ${up_s}s, reduced fault run done in $(($(date +%s) - started))s (report: ${CHAOS_REPORT:-$STATE_DIR/chaos-report.md})"
