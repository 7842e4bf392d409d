#!/usr/bin/env bash
# cqlsh against the local node, from PyPI (cqlsh 6.2 = Cassandra 5.0's) in a private virtualenv.
#   npm run cqlsh                       interactive
#   npm run cqlsh -- -e "DESCRIBE KEYSPACE switchboard"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV="$STATE_DIR/cqlsh-venv"
if [ ! -x "$VENV/bin/cqlsh" ]; then
  say "installing cqlsh into $VENV (once)"
  python3 -m venv "$VENV"
  # The pure-Python driver build: skips a long Cython compile.
  CASS_DRIVER_NO_CYTHON=1 "$VENV/bin/pip" install --quiet 'cqlsh==6.2.2' 'cassandra-driver==3.29.2'
fi
exec "$VENV/bin/cqlsh" 127.0.0.1 "${CASSANDRA_CQL_PORT:-9042}" "$@"
