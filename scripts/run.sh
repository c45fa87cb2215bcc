#!/usr/bin/env bash
# Runs the call centre on this machine with the embedded default: one node,
# the units in units/ (the demo unit answers 4000), no Redis, PostgreSQL or
# Kamailio needed. Installs what is missing first (Debian 12), builds in
# release mode, speaks the demo prompts, then runs the node in the
# foreground (Ctrl-C drains and stops it).
#
# Settings: CC__SECTION__KEY environment variables or --config FILE, e.g.
#   CC__SIP__LISTEN=0.0.0.0:5060 CC__SIP__ADVERTISE=192.0.2.10 \
#   CC__MEDIA__IP=0.0.0.0 CC__MEDIA__ADVERTISE=192.0.2.10 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked -p cc-node
scripts/make-prompts.sh
mkdir -p var
target/release/cc-node check units
exec target/release/cc-node "$@"
