#!/usr/bin/env bash
# Runs every test of the call centre:
#  - unit, property and virtual-clock tests of the pure cores (cc-sip,
#    cc-media, cc-flow, cc-acd) and of the node;
#  - the ACD conformance suite against memory and a real Redis, and the
#    property test of the Redis scripts against the model (each test starts
#    its own redis-server on a free port);
#  - end-to-end tests: the node binary against SIPp (calls, DTMF, voicemail,
#    closed hours, forwarding, CANCEL, retransmission, queues and agents),
#    two nodes sharing one Redis (node deaths, Redis restart and outage,
#    Sentinel failover, Redis Cluster), Kamailio in front of two nodes
#    (needs the PostgreSQL at 127.0.0.1:5432, trust authentication, that CI
#    provides; CC_TEST_PGHOST/PGPORT/PGUSER point elsewhere) and the
#    malformed-SIP corpus over UDP and TCP;
#  - schemathesis (PyPI) against the governance API's OpenAPI document;
#  - the demo unit's document and spoken prompts;
#  - bounded fuzzing of every parser of network input (FUZZ_SECONDS each;
#    FUZZ_SECONDS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
CC_NEED_NEXTEST=1 scripts/install-deps.sh

# Build once; every suite below reuses these binaries.
cargo build --workspace --bins --tests --locked
cargo nextest run --workspace --locked --no-fail-fast

# The governance API from outside: schemathesis against a node on a fresh
# PostgreSQL database, no 5xx.
scripts/api-fuzz.sh target/debug/cc-node

# The demo unit as shipped: its document and the prompts the script speaks.
scripts/make-prompts.sh
target/debug/cc-node check units

if [ "${FUZZ_SECONDS:-30}" != 0 ]; then
  scripts/fuzz.sh
fi
echo "all tests passed"
