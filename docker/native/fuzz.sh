#!/usr/bin/env bash
# Schema-driven fuzzing of the REST API with schemathesis: every request is generated from
# /api/v1/openapi.json, and the run fails on any 5xx, any status, content type, header or body
# the document does not promise, and any schema-valid request that is refused with 400.
#
#   npm run fuzz                     (or: bash docker/native/fuzz.sh)
#
# Needs the local Cassandra and Redis running (npm run services:up); starts and stops one API node
# of its own on a free loopback port, in keyspace $FUZZ_KEYSPACE. See docker/README.md ("Fuzzing").
# Knobs: FUZZ_SEED, FUZZ_MAX_EXAMPLES, FUZZ_UNAUTH_TIME and FUZZ_AUTH_TIME (seconds per pass),
# FUZZ_KEYSPACE. Reports (JUnit, NDJSON events, server log) go to $STATE_DIR/fuzz/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

SCHEMATHESIS_VERSION=4.32.5
VENV="$STATE_DIR/fuzz-venv"
OUT="$STATE_DIR/fuzz"
FUZZ_KEYSPACE="${FUZZ_KEYSPACE:-switchboard_fuzz}"
FUZZ_SEED="${FUZZ_SEED:-20261201}"
FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-30}"
# Seconds per pass. schemathesis spends the whole budget (the fuzzing phase repeats until it is
# used up), so the run's length is fixed and only the number of requests depends on the machine.
FUZZ_UNAUTH_TIME="${FUZZ_UNAUTH_TIME:-60}"
FUZZ_AUTH_TIME="${FUZZ_AUTH_TIME:-100}"
started_at=$SECONDS

ensure_node_modules
bash docker/native/stack.sh status >/dev/null ||
  { say "Cassandra and Redis must be running: npm run services:up"; exit 2; }

if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { apt_install python3-venv && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
say "migrating keyspace $FUZZ_KEYSPACE"
CASSANDRA_KEYSPACE="$FUZZ_KEYSPACE" node --import tsx src/migrate.ts >"$OUT/migrate.log" 2>&1 ||
  { cat "$OUT/migrate.log" >&2; exit 1; }

PORT="$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})")"
BASE="http://127.0.0.1:$PORT"
say "starting an API node on $BASE (log: $OUT/server.log)"
env NODE_ENV=test HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL=warn \
  CASSANDRA_KEYSPACE="$FUZZ_KEYSPACE" REDIS_KEY_PREFIX=sbfuzz \
  JWT_SECRET="$(node -e "process.stdout.write(require('node:crypto').randomBytes(32).toString('hex'))")" \
  METRICS_PORT=0 RATE_LIMIT_ENABLED=false STARTUP_RETRIES=5 STARTUP_RETRY_DELAY_MS=500 SHUTDOWN_GRACE_MS=2000 \
  node --import tsx src/main.ts >"$OUT/server.log" 2>&1 &
NODE_PID=$!
stop_node() {
  if kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
  fi
}
trap stop_node EXIT

for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then break; fi
  kill -0 "$NODE_PID" 2>/dev/null || { say "the API node exited:"; cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -fsS -o /dev/null "$BASE/readyz" || { say "the API node is not ready after 60 s"; exit 1; }

# A fresh account for the authenticated pass (usernames: 3-32 of [a-z0-9_.]).
REGISTERED="$(curl -fsS "$BASE/api/v1/users" -H 'content-type: application/json' \
  -d "{\"username\":\"fuzz_$(date +%s)_$$\",\"password\":\"fuzz-password-$RANDOM$RANDOM\"}")" ||
  { say "could not register the fuzz user"; exit 1; }
read -r FUZZ_USER_ID TOKEN < <(printf '%s' "$REGISTERED" |
  node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const r=JSON.parse(s);console.log(r.user.id,r.token)})")
[ -n "${TOKEN:-}" ] || { say "no token in the sign-up answer: $REGISTERED"; exit 1; }
export FUZZ_USER_ID # read by fuzz_hooks.py

# Requests one pass sent, from its NDJSON event report.
count_requests() {
  "$VENV/bin/python" - "$1" <<'PY'
import glob, json, sys
requests = 0
for path in glob.glob(f"{sys.argv[1]}/*.ndjson"):
    for line in open(path, encoding="utf-8"):
        event = json.loads(line)
        if "ScenarioFinished" in event:
            requests += len(event["ScenarioFinished"]["recorder"].get("interactions", {}))
print(requests)
PY
}

# schemathesis's report as quoted material: "[schemathesis] " before each line, its "=====" banners
# and its "in 100.02s" endings (the two marks of a pytest summary) rewritten.
quote_report() { sed -E 's/^=+ (.*[^ ]) =+$/-- \1 --/; s/ in ([0-9.]+)s\b/ (\1 s)/; s/^/[schemathesis] /'; }

# One schemathesis pass; $1 names it, $2 is its time budget, the rest are extra options (a header).
failed=0
declare -A SUMMARY
fuzz_pass() {
  local name="$1" budget="$2"
  shift 2
  say "schemathesis pass '$name': seed $FUZZ_SEED, $FUZZ_MAX_EXAMPLES examples per operation and round, ${budget}s"
  local rc=0 pass_started=$SECONDS
  # timeout is only a safety net should schemathesis overrun its own budget.
  timeout --kill-after=10 "$((budget + 30))" \
    "$VENV/bin/st" --config-file docker/native/schemathesis.toml run "$BASE/api/v1/openapi.json" \
    --seed "$FUZZ_SEED" --max-examples "$FUZZ_MAX_EXAMPLES" --max-time "$budget" \
    --report junit,ndjson --report-dir "$OUT/$name" --no-color "$@" >"$OUT/$name.txt" 2>&1 || rc=$?
  # schemathesis's own report: from the first error or failure on when the pass failed (each
  # with a curl line that reproduces it), else only its summary.
  # Each line goes out prefixed and without its "=====" banners: CI reads the log's closing lines
  # for test runners' summaries, and schemathesis's last line ("=== 2 warnings in 100.02s ===")
  # has the shape of a pytest run that executed no test.
  if [ "$rc" != 0 ]; then
    sed -n '/^=* \(ERRORS\|FAILURES\) =*$/,$p' "$OUT/$name.txt" | quote_report >&2
  else
    sed -n '/^=* SUMMARY =*$/,$p' "$OUT/$name.txt" | quote_report >&2
  fi
  if [ "$rc" = 124 ]; then say "pass '$name' overran its budget by 30 s and was stopped"; fi
  # schemathesis's last line: "N failures, M errors, K warnings in T s" (or "no issues found").
  local verdict
  verdict="$(tail -n 1 "$OUT/$name.txt" | tr -d '=' | sed 's/^ *//;s/ *$//;s/ in \([0-9.]*\)s$/ (\1 s)/')"
  SUMMARY[$name]="$(count_requests "$OUT/$name") requests, $verdict; exit $rc after $((SECONDS - pass_started)) s"
  [ "$rc" = 0 ] || failed=1
}
fuzz_pass unauthenticated "$FUZZ_UNAUTH_TIME"
fuzz_pass authenticated "$FUZZ_AUTH_TIME" -H "Authorization: Bearer $TOKEN"

stop_node
trap - EXIT
for name in unauthenticated authenticated; do say "$name: ${SUMMARY[$name]}"; done
say "fuzzing took $((SECONDS - started_at)) s"
exit "$failed"
