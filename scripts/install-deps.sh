#!/usr/bin/env bash
# Installs what the call centre and its tests need on Debian 12, and nothing
# that is already there. Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail

APT_PACKAGES=(
  sip-tester        # SIPp: the tests' and load tests' SIP peer
  redis-server redis-tools redis-sentinel   # the ACD's shared state (tests start their own)
  kamailio kamailio-postgres-modules        # the cluster's front: load balancer, registrar (kamailio/)
  baresip-core      # a real softphone as an agent in the cluster tests
  prometheus        # the local cluster's metrics (scripts/cluster.sh)
  postgresql-client # psql: the registrar's subscribers and locations
  espeak-ng sox     # the demo unit's spoken prompts (scripts/make-prompts.sh)
  ca-certificates curl build-essential pkg-config
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "install-deps: installing the Rust toolchain with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
# rust-toolchain.toml pins the version; rustup fetches it on first use.
cargo --version >/dev/null

if [ "${CC_NEED_NEXTEST:-0}" = 1 ] && ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-nextest"
  cargo install --locked cargo-nextest
fi
