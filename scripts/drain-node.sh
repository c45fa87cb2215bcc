#!/usr/bin/env bash
# Takes a node out of the cluster without losing a call, and puts it back.
#
#   scripts/drain-node.sh drain   NODE_SIP NODE_HTTP [KAMAILIO_HTTP ...]
#   scripts/drain-node.sh undrain NODE_SIP NODE_HTTP [KAMAILIO_HTTP ...]
#
#   NODE_SIP       the node as the dispatcher lists it, e.g. 10.0.0.11:5060
#   NODE_HTTP      the node's management address, e.g. 10.0.0.11:9180
#   KAMAILIO_HTTP  each Kamailio's HTTP address (JSON-RPC), default 127.0.0.1:9064
#
# drain: every Kamailio stops sending the node new calls (dispatcher state
# "disabled"), the node answers any INVITE that still reaches it with 503
# (so a Kamailio that was missed fails over), then this waits until the
# node's calls in progress have ended (DRAIN_TIMEOUT seconds, default 4 h;
# in-dialog requests keep reaching it through Record-Route meanwhile).
# Upgrade or stop the node then. undrain: the node takes calls again and
# every Kamailio sends it calls again.
set -euo pipefail

usage() { sed -n '2,17p' "$0" >&2; exit 2; }
[ $# -ge 3 ] || usage
action=$1 node_sip=$2 node_http=$3
shift 3
kamailios=("$@")
[ ${#kamailios[@]} -gt 0 ] || kamailios=(127.0.0.1:9064)

rpc() { # kamailio method params-json
  curl -fsS -X POST "http://$1/RPC" \
    -d "{\"jsonrpc\":\"2.0\",\"method\":\"$2\",\"params\":$3,\"id\":1}"
}

set_state() { # state
  for k in "${kamailios[@]}"; do
    answer=$(rpc "$k" dispatcher.set_state "[\"$1\",1,\"sip:$node_sip\"]")
    if grep -q '"error"' <<<"$answer"; then
      echo "drain-node: $k refused dispatcher.set_state $1 sip:$node_sip: $answer" >&2
      exit 1
    fi
  done
}

active_calls() {
  curl -sS "http://$node_http/health" | sed -n 's/.*"active_calls":\([0-9]*\).*/\1/p'
}

case $action in
  drain)
    set_state d
    curl -fsS -X POST "http://$node_http/drain" >/dev/null
    deadline=$(( $(date +%s) + ${DRAIN_TIMEOUT:-14400} ))
    while :; do
      calls=$(active_calls)
      [ "${calls:-0}" -eq 0 ] && break
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "drain-node: $calls call(s) still up after ${DRAIN_TIMEOUT:-14400} s" >&2
        exit 1
      fi
      sleep 1
    done
    echo "drain-node: sip:$node_sip is drained (no call left)"
    ;;
  undrain)
    curl -fsS -X POST "http://$node_http/undrain" >/dev/null
    set_state ap
    echo "drain-node: sip:$node_sip takes calls again"
    ;;
  *) usage ;;
esac
