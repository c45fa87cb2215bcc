#!/usr/bin/env bash
# Runs every test of the call centre: unit and property tests of the cores,
# the node against SIPp, the malformed-SIP corpus, and bounded fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
CC_NEED_NEXTEST=1 scripts/install-deps.sh

# Build once; every suite below reuses these binaries.
cargo build --workspace --bins --tests --locked 2>&1 | tail -n 3
cargo nextest run --workspace --locked --no-fail-fast
