#!/usr/bin/env bash
# Runs the test suite the way CI does.
#
# When PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are reachable, the whole suite
# runs against them over real connections, then again on the embedded default (SQLite, jobs
# in-process; tests that need the real services skip themselves). Without them, the whole
# suite runs on the embedded default. SMOKE_ONLY=1 limits the second pass to the smoke subset.
# DATABASE_URL / REDIS_URL already set in the environment are respected.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

reachable() {  # host port
  "$PY" - "$1" "$2" <<'PYEOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PYEOF
}

db_url="${DATABASE_URL:-}"
redis_url="${REDIS_URL:-}"
if [ -z "$db_url" ] && reachable 127.0.0.1 5432; then
  db_url="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -z "$redis_url" ] && reachable 127.0.0.1 6379; then
  redis_url="redis://127.0.0.1:6379/15"
fi

status=0
if [ -n "$db_url" ] || [ -n "$redis_url" ]; then
  echo "== full suite on ${db_url:-SQLite} with ${redis_url:-the embedded queue}"
  DATABASE_URL="$db_url" REDIS_URL="$redis_url" "$PY" -m pytest "$@" || status=$?
  if [ -n "${SMOKE_ONLY:-}" ]; then
    echo "== smoke subset on the embedded default (SQLite, jobs in-process)"
    env -u DATABASE_URL -u REDIS_URL "$PY" -m pytest -m smoke -q "$@" || status=$?
  else
    echo "== full suite again on the embedded default (SQLite, jobs in-process)"
    env -u DATABASE_URL -u REDIS_URL "$PY" -m pytest -q "$@" || status=$?
  fi
else
  echo "== full suite on the embedded default (SQLite, jobs in-process)"
  env -u DATABASE_URL -u REDIS_URL "$PY" -m pytest "$@" || status=$?
fi
exit $status
