#!/usr/bin/env bash
# Schemathesis (PyPI) against the governance API of a real node on a fresh
# PostgreSQL database: requests generated from the OpenAPI document, as an
# ICT operator and as a unit manager, must never get a 5xx.
#
#   scripts/api-fuzz.sh [cc-node binary]     (default target/debug/cc-node)
#
# API_FUZZ_EXAMPLES (default 40) bounds the examples per operation.
# Needs the PostgreSQL of the tests (CC_TEST_PGHOST/PGPORT/PGUSER, default
# 127.0.0.1 5432 postgres, trust authentication).
set -euo pipefail
cd "$(dirname "$0")/.."
node=${1:-target/debug/cc-node}
examples=${API_FUZZ_EXAMPLES:-40}
pg="postgres://${CC_TEST_PGUSER:-postgres}@${CC_TEST_PGHOST:-127.0.0.1}:${CC_TEST_PGPORT:-5432}"

# Schemathesis in a virtual environment of its own, kept between runs.
venv=target/schemathesis
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

db="cc_api_fuzz_$$"
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null

export CC__STORE__URL="$pg/$db"
CC_PASSWORD=irene-password-1 "$node" user add irene --role ict_directorate >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=$(port) http=$(port) sip=$(port)
CC__API__LISTEN=127.0.0.1:$api CC__HTTP__LISTEN=127.0.0.1:$http CC__SIP__LISTEN=127.0.0.1:$sip \
CC__PATHS__CONFIG_CACHE="$work/cache" CC__PATHS__RECORDS="$work/records.jsonl" \
CC__PATHS__VOICEMAIL="$work/voicemail" CC__LOG__LEVEL=warn \
  "$node" >"$work/node.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$api/api/v1/openapi.json" >/dev/null 2>&1 && break
  sleep 0.1
done
base="http://127.0.0.1:$api"

token() { # user password
  curl -sS -X POST "$base/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
ict=$(token irene irene-password-1)
# A live unit with a manager, so that generated requests also reach data.
yaml='unit: library\nname: Library\nservice_numbers: [\"4100\"]\ntimezone: Europe/Madrid\nflow:\n  start: bye\n  steps:\n    bye:\n      hangup: {}\n'
request=$(curl -fs -X POST "$base/api/v1/units" -H "authorization: Bearer $ict" -H 'content-type: application/json' \
  -d "{\"yaml\":\"$yaml\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fs -X POST "$base/api/v1/users" -H "authorization: Bearer $ict" -H 'content-type: application/json' \
  -d '{"username":"maria","password":"maria-password-1","roles":[{"role":"unit_manager","unit":"library"}]}' >/dev/null
manager=$(token maria maria-password-1)
for t in "$manager" "$ict"; do
  curl -fs -X POST "$base/api/v1/units/library/requests/$request/approve" -H "authorization: Bearer $t" >/dev/null
done

status=0
for who in ict manager; do
  t=$ict; [ "$who" = manager ] && t=$manager
  echo "api-fuzz: schemathesis as $who ($examples examples per operation)"
  "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
    --checks not_a_server_error --max-examples "$examples" \
    --header "Authorization: Bearer $t" --no-color >"$work/$who.txt" 2>&1 || {
      status=1
      sed -n '/^=* FAILURES/,/^Warnings/p' "$work/$who.txt"
    }
  tail -n 12 "$work/$who.txt"
done
if [ $status != 0 ] || grep -q 'panicked' "$work/node.log"; then
  echo "api-fuzz: a 5xx or a panic; the node's log:" >&2
  grep -v ' INFO ' "$work/node.log" | tail -n 30 >&2
  exit 1
fi
echo "api-fuzz: no 5xx"
