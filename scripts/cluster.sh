#!/usr/bin/env bash
# A local cluster of the call centre on loopback, in one command:
#
#   scripts/cluster.sh start     install what is missing, build, start everything, print the addresses
#   scripts/cluster.sh status    what runs, with each part's own health
#   scripts/cluster.sh stop      stop everything it started (calls in progress are cut)
#   scripts/cluster.sh seed      write the agents' SIP accounts again from the units (after editing them)
#
# What runs (runtime files, logs and pids in var/cluster/):
#   Kamailio    SIP 127.0.0.1:5070 (UDP, TCP), HTTP 127.0.0.1:9064 (/metrics, /RPC); the repo's
#               kamailio/kamailio.cfg with a generated kamailio-local.cfg beside a copy of it
#   nodes       CC_NODES of them (default 2): node<i> SIP 127.0.0.1:508<i>, HTTP 127.0.0.1:918<i>,
#               queues shared in Redis, calls to agents through Kamailio
#   Redis       127.0.0.1:6380, append-only file in var/cluster/redis (the one on 6379 is not touched)
#   PostgreSQL  127.0.0.1:5432 as user postgres (used if it answers, else started), database
#               cc_kamailio with Kamailio's schema: agents' accounts (subscriber) and registrations
#   Prometheus  127.0.0.1:9090, scraping the nodes and Kamailio (prometheus/prometheus.yml)
#   trunk       calls from 127.0.0.1:5099 are the telephony platform's (trusted without a password);
#               calls to desk phones and extensions go there
#
# Every agent whose unit names them sip:<user>@cc.local gets an account with a
# generated password, kept in var/cluster/agents.txt (mode 600) and the same at
# every start.
#
# Settings (environment): CC_NODES, CC_UNITS (units folder, default units),
# CC_CLUSTER_DIR (default var/cluster), CC_SIP_DOMAIN (cc.local),
# CC_KAMAILIO_SIP_PORT (5070), CC_KAMAILIO_HTTP_PORT (9064), CC_NODE_SIP_BASE
# (5080: node i listens on base+i), CC_NODE_HTTP_BASE (9180), CC_TRUNK_PORT
# (5099), CC_REDIS_PORT (6380), CC_PROMETHEUS_ADDR (127.0.0.1:9090),
# CC_MEDIA_PORT_BASE (20000) and CC_MEDIA_PORTS_PER_NODE (4000), CC_PGHOST /
# CC_PGPORT / CC_PGUSER (127.0.0.1 / 5432 / postgres; a password goes in
# ~/.pgpass, which psql and Kamailio both read), CC_DB (cc_kamailio),
# CC_PIKE_DENSITY (1000: every phone on loopback is one source address),
# CC_KAMAILIO_LOG_LEVEL (2), CC_KAMAILIO_SHM_MB (256: Kamailio's shared memory
# holds every transaction for 5 s after it ends, about 0.4 MB per call/s),
# CC_SKIP_BUILD=1 (use target/release as it is),
# CC_SKIP_DEPS=1 (do not run scripts/install-deps.sh). Any CC__SECTION__KEY
# node setting in the environment reaches every node (CC__LOG__LEVEL=debug).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { sed -n '2,9p' "$0" >&2; exit 2; }
[ $# -eq 1 ] || usage
ACTION=$1

abspath() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }

DIR=$(abspath "${CC_CLUSTER_DIR:-var/cluster}")
# stop, status and seed use what start wrote down, whatever the environment says now.
if [ "$ACTION" != start ] && [ -f "$DIR/cluster.env" ]; then
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
fi
NODES=${CC_NODES:-2}
UNITS=$(abspath "${CC_UNITS:-units}")
DOMAIN=${CC_SIP_DOMAIN:-cc.local}
KAM_SIP=${CC_KAMAILIO_SIP_PORT:-5070}
KAM_HTTP=${CC_KAMAILIO_HTTP_PORT:-9064}
NODE_SIP_BASE=${CC_NODE_SIP_BASE:-5080}
NODE_HTTP_BASE=${CC_NODE_HTTP_BASE:-9180}
TRUNK_PORT=${CC_TRUNK_PORT:-5099}
REDIS_PORT=${CC_REDIS_PORT:-6380}
PROM_ADDR=${CC_PROMETHEUS_ADDR:-127.0.0.1:9090}
MEDIA_BASE=${CC_MEDIA_PORT_BASE:-20000}
MEDIA_SPAN=${CC_MEDIA_PORTS_PER_NODE:-4000}
PGH=${CC_PGHOST:-127.0.0.1}
PGP=${CC_PGPORT:-5432}
PGU=${CC_PGUSER:-postgres}
DB=${CC_DB:-cc_kamailio}
PIKE=${CC_PIKE_DENSITY:-1000}
KAM_LOG=${CC_KAMAILIO_LOG_LEVEL:-2}
BIN=$ROOT/target/release/cc-node

say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() { # packages...
  say "apt-get install $*"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

psqlc() { psql -h "$PGH" -p "$PGP" -U "$PGU" -v ON_ERROR_STOP=1 -qAtX -w "$@"; }

pid_of() { if [ -s "$DIR/$1.pid" ]; then cat "$DIR/$1.pid"; fi; }
alive() { # name
  local pid; pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Starts a command in its own session (Ctrl-C in this terminal does not reach
# it), with its pid in <name>.pid and its output in <name>.log.
spawn() { # name command...
  local name=$1; shift
  # shellcheck disable=SC2016 # $$ and $@ are the inner shell's
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$DIR/$name.pid" "$@" \
    < /dev/null >> "$DIR/$name.log" 2>&1 &
  local i
  for i in $(seq 50); do [ -s "$DIR/$name.pid" ] && return 0; sleep 0.02; done
  die "$name did not start"
}

wait_for() { # name seconds command...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  while ! "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      echo "cluster: $name stopped; the end of $DIR/$name.log:" >&2
      tail -n 20 "$DIR/$name.log" >&2 || true
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster: $name does not answer after ${seconds}s; the end of $DIR/$name.log:" >&2
      tail -n 20 "$DIR/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

count() { grep -o "$1" <<<"$2" | wc -l || true; }

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

port_busy() { # proto(t|u) port
  [ -n "$(ss -Hln"$1" "sport = :$2" 2>/dev/null)" ]
}

node_names() { local i; for i in $(seq "$NODES"); do echo "node$i"; done; }

# ---------------------------------------------------------------- stop

stop_one() { # name
  local name=$1 pid
  pid=$(pid_of "$name")
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$DIR/$name.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    # A node drains on SIGTERM (waits for its calls); SIGINT then stops it at once.
    case $name in node*) if [ "$i" = 20 ] || [ "$i" = 40 ]; then kill -INT "$pid" 2>/dev/null || true; fi ;; esac
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop in 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$name.pid"
  echo "  stopped $name (pid $pid)"
}

stop_all() {
  local name f names=(prometheus kamailio)
  # Nodes, with any beyond CC_NODES left from an earlier, larger cluster.
  for name in $(node_names); do names+=("$name"); done
  for f in "$DIR"/node*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
  done
  # All at once (each takes a second or two); Redis last, once the nodes are gone.
  for name in "${names[@]}"; do stop_one "$name" & done
  wait
  stop_one redis
  if [ -s "$DIR/postgres.started" ]; then
    read -r ver name < "$DIR/postgres.started"
    say "stopping PostgreSQL $ver/$name (started by this script)"
    $SUDO pg_ctlcluster "$ver" "$name" stop || true
    rm -f "$DIR/postgres.started"
  fi
}

# ---------------------------------------------------------------- status

rpc() { # method
  curl -fsS --max-time 2 -X POST "http://127.0.0.1:$KAM_HTTP/RPC" \
    -d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"id\":1}"
}

status() {
  [ -f "$DIR/cluster.env" ] || { echo "no cluster in $DIR (scripts/cluster.sh start)"; return 3; }
  local up=0 down=0 line name pid
  report() { # name ok detail
    pid=$(pid_of "$1")
    if [ "$2" = 1 ]; then up=$((up + 1)); line="up  "; else down=$((down + 1)); line="DOWN"; fi
    printf '  %-10s %s pid %-7s %s\n' "$1" "$line" "${pid:--}" "$3"
  }
  local ok detail
  ok=0; alive kamailio && http_ok "http://127.0.0.1:$KAM_HTTP/metrics" && ok=1
  detail="sip 127.0.0.1:$KAM_SIP  http 127.0.0.1:$KAM_HTTP"
  if [ $ok = 1 ]; then
    local ds dialogs
    ds=$(rpc dispatcher.list 2>/dev/null | tr -d ' \t\n' | grep -o '"URI":"[^"]*","FLAGS":"[^"]*"' \
      | sed 's/"URI":"sip:\([^"]*\)","FLAGS":"\([^"]*\)"/\1 \2/' | paste -sd, - || true)
    dialogs=$(curl -fsS --max-time 2 "http://127.0.0.1:$KAM_HTTP/metrics" \
      | awk '$1 == "kamailio_dialog_active_dialogs" {print $2; exit}')
    detail="$detail  nodes [$ds] (A: active, I: inactive, D: disabled)  calls ${dialogs:-?}"
  fi
  report kamailio $ok "$detail"
  ok=0; alive redis && [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && ok=1
  report redis $ok "127.0.0.1:$REDIS_PORT"
  local i health
  for i in $(seq "$NODES"); do
    health=$(curl -sS --max-time 2 "http://127.0.0.1:$((NODE_HTTP_BASE + i))/health" 2>/dev/null || true)
    ok=0; alive "node$i" && [ -n "$health" ] && ok=1
    report "node$i" $ok "sip 127.0.0.1:$((NODE_SIP_BASE + i))  http 127.0.0.1:$((NODE_HTTP_BASE + i))  ${health:-}"
  done
  ok=0; alive prometheus && http_ok "http://$PROM_ADDR/-/ready" && ok=1
  detail="http://$PROM_ADDR"
  if [ $ok = 1 ]; then
    local targets
    targets=$(curl -fsS --max-time 2 "http://$PROM_ADDR/api/v1/targets?state=active" || true)
    detail="$detail  targets: $(count '"health":"up"' "$targets") up, $(count '"health":"down"' "$targets") down, $(count '"health":"unknown"' "$targets") not scraped yet"
  fi
  report prometheus $ok "$detail"
  if pg_isready -q -h "$PGH" -p "$PGP"; then
    printf '  %-10s up   %-11s %s\n' postgres "" "$PGH:$PGP database $DB: $(psqlc -d "$DB" -c 'SELECT count(*) FROM subscriber' 2>/dev/null || echo '?') accounts, $(psqlc -d "$DB" -c 'SELECT count(*) FROM location' 2>/dev/null || echo '?') registrations"
  else
    printf '  %-10s DOWN %-11s %s\n' postgres "" "$PGH:$PGP"
  fi
  if [ $up = 0 ]; then return 3; fi
  if [ $down -gt 0 ]; then return 1; fi
  return 0
}

# ---------------------------------------------------------------- start

ensure_postgres() {
  if pg_isready -q -h "$PGH" -p "$PGP"; then
    return 0
  fi
  case $PGH in 127.0.0.1|localhost) ;; *) die "PostgreSQL at $PGH:$PGP does not answer" ;; esac
  say "no PostgreSQL at $PGH:$PGP: starting one"
  if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local ver="" name=""
  read -r ver name < <(pg_lsclusters -h 2>/dev/null | awk -v p="$PGP" '$3 == p {print $1, $2; exit}') || true
  if [ -z "$ver" ]; then
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
    name=cc
    say "creating PostgreSQL cluster $ver/$name on port $PGP (loopback, trust)"
    $SUDO pg_createcluster "$ver" "$name" --port "$PGP" -- --auth-local=peer --auth-host=trust >/dev/null
  fi
  $SUDO pg_ctlcluster "$ver" "$name" start
  echo "$ver $name" > "$DIR/postgres.started"
  local i
  for i in $(seq 100); do pg_isready -q -h "$PGH" -p "$PGP" && return 0; sleep 0.1; done
  die "PostgreSQL $ver/$name did not come up"
}

ensure_database() {
  psqlc -d postgres -c 'SELECT 1' >/dev/null 2>&1 || die "PostgreSQL at $PGH:$PGP refuses user $PGU without a password: put it in ~/.pgpass (psql and Kamailio read it), or trust 127.0.0.1 for $PGU in pg_hba.conf, or set CC_PGUSER"
  if [ -z "$(psqlc -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    say "creating database $DB"
    psqlc -d postgres -c "CREATE DATABASE $DB" >/dev/null
  fi
  local table schema
  for schema in standard:version auth_db:subscriber usrloc:location; do
    table=${schema#*:}
    if [ -z "$(psqlc -d "$DB" -c "SELECT to_regclass('public.$table')")" ]; then
      say "database $DB: Kamailio's ${schema%%:*} schema"
      psqlc -d "$DB" -f "/usr/share/kamailio/postgres/${schema%%:*}-create.sql" >/dev/null \
        || die "the Kamailio schema (Debian package kamailio-postgres-modules)"
    fi
  done
}

# Agents' SIP accounts: every agent of the units whose URI is in DOMAIN.
seed() {
  local file=$DIR/agents.txt listing sql="" users=0 unit agent uri rest user host password
  [ -x "$BIN" ] || die "$BIN is missing (build it: cargo build --release --locked -p cc-node)"
  listing=$("$BIN" agents "$UNITS") || die "cannot list the agents of $UNITS"
  (umask 077; [ -f "$file" ] || printf '# SIP accounts of the agents (domain %s): user, password, unit/agent. Kept by scripts/cluster.sh.\n' "$DOMAIN" > "$file")
  chmod 600 "$file"
  while IFS=$'\t' read -r unit agent uri _endpoint; do
    [ -n "$uri" ] || continue
    rest=${uri#sip:}
    if [ "$rest" = "$uri" ] || [ "${rest#*@}" = "$rest" ]; then continue; fi
    user=${rest%%@*}
    host=${rest#*@}
    host=${host%%[;:>?]*}
    [ "$host" = "$DOMAIN" ] || continue
    if ! [[ $user =~ ^[A-Za-z0-9._+-]+$ ]]; then
      say "agent $unit/$agent: user '$user' is not a plain SIP user; no account"
      continue
    fi
    password=$(awk -F'\t' -v u="$user" '$1 == u {print $2; exit}' "$file")
    if [ -z "$password" ]; then
      password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
      printf '%s\t%s\t%s/%s\n' "$user" "$password" "$unit" "$agent" >> "$file"
    fi
    sql+="${sql:+,}('$user', '$DOMAIN', '$password')"
    users=$((users + 1))
  done <<<"$listing"
  if [ -n "$sql" ]; then
    # On standard input: a thousand agents are more than one argument may hold.
    psqlc -d "$DB" -f - >/dev/null <<EOF
INSERT INTO subscriber (username, domain, password) VALUES $sql
  ON CONFLICT (username, domain) DO UPDATE SET password = EXCLUDED.password;
EOF
  fi
  say "$users agent account(s) in $DB (domain $DOMAIN), passwords in $file"
}

write_kamailio_cfg() {
  mkdir -p "$DIR/kamailio"
  cp kamailio/kamailio.cfg "$DIR/kamailio/kamailio.cfg"
  cat > "$DIR/kamailio/kamailio-local.cfg" <<EOF
#!KAMAILIO
# Written by scripts/cluster.sh at each start: the local cluster's values
# (see kamailio/kamailio-local.cfg.example).
#!substdef "!SIP_ADDR!127.0.0.1:$KAM_SIP!g"
#!substdef "!HTTP_ADDR!127.0.0.1:$KAM_HTTP!g"
#!define HTTP_PORT $KAM_HTTP
#!define SIP_DOMAIN "$DOMAIN"
#!substdef "!RUNDIR!$DIR/kamailio!g"
#!substdef "!DSLIST!$DIR/kamailio/dispatcher.list!g"
#!define DBURL "postgres://$PGU@$PGH:$PGP/$DB"
#!define TRUNK_IP "127.0.0.1"
#!define TRUNK_PORT $TRUNK_PORT
#!define TRUNK_GW "sip:127.0.0.1:$TRUNK_PORT"
#!define LOG_LEVEL $KAM_LOG
# Every phone of a local cluster sends from 127.0.0.1: one source for pike.
#!define PIKE_DENSITY $PIKE
EOF
  local i
  : > "$DIR/kamailio/dispatcher.list"
  for i in $(seq "$NODES"); do
    echo "1 sip:127.0.0.1:$((NODE_SIP_BASE + i)) 0 0 duid=node$i" >> "$DIR/kamailio/dispatcher.list"
  done
  kamailio -c -f "$DIR/kamailio/kamailio.cfg" > "$DIR/kamailio-check.log" 2>&1 \
    || { tail -n 20 "$DIR/kamailio-check.log" >&2; die "kamailio.cfg does not check"; }
}

write_prometheus_cfg() {
  local nodes="" i
  for i in $(seq "$NODES"); do nodes+="${nodes:+, }\"127.0.0.1:$((NODE_HTTP_BASE + i))\""; done
  sed -e "s|^\( *- targets: \).*# cluster.sh: prometheus\$|\1[\"$PROM_ADDR\"]  # cluster.sh: prometheus|" \
      -e "s|^\( *- targets: \).*# cluster.sh: nodes\$|\1[$nodes]  # cluster.sh: nodes|" \
      -e "s|^\( *- targets: \).*# cluster.sh: kamailio\$|\1[\"127.0.0.1:$KAM_HTTP\"]  # cluster.sh: kamailio|" \
      prometheus/prometheus.yml > "$DIR/prometheus.yml"
  if command -v promtool >/dev/null; then
    promtool check config "$DIR/prometheus.yml" > "$DIR/promtool.log" 2>&1 \
      || { cat "$DIR/promtool.log" >&2; die "$DIR/prometheus.yml does not check"; }
  fi
}

start() {
  mkdir -p "$DIR"
  local name f running=()
  for f in "$DIR"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if alive "$name"; then running+=("$name"); fi
  done
  if ((${#running[@]})); then
    say "already running in $DIR: ${running[*]} (scripts/cluster.sh status | stop)"
    exit 1
  fi
  rm -f "$DIR"/*.pid
  # The previous run's logs stay one start longer, as <name>.log.1.
  local log
  for log in "$DIR"/*.log; do [ -e "$log" ] && mv -f "$log" "$log.1"; done

  if [ "${CC_SKIP_DEPS:-0}" != 1 ]; then
    scripts/install-deps.sh
  fi
  command -v prometheus >/dev/null || apt_install prometheus
  if [ "${CC_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --locked -p cc-node
  fi
  [ -x "$BIN" ] || die "$BIN is missing"
  scripts/make-prompts.sh >/dev/null
  local checked
  checked=$("$BIN" check "$UNITS") || die "the units in $UNITS do not check"

  # Every port, before anything starts (other programs share this machine).
  local busy=() i port
  port_busy u "$KAM_SIP" && busy+=("udp $KAM_SIP")
  for port in "$KAM_SIP" "$KAM_HTTP" "$REDIS_PORT" "${PROM_ADDR##*:}"; do port_busy t "$port" && busy+=("tcp $port"); done
  for i in $(seq "$NODES"); do
    port_busy u $((NODE_SIP_BASE + i)) && busy+=("udp $((NODE_SIP_BASE + i))")
    port_busy t $((NODE_SIP_BASE + i)) && busy+=("tcp $((NODE_SIP_BASE + i))")
    port_busy t $((NODE_HTTP_BASE + i)) && busy+=("tcp $((NODE_HTTP_BASE + i))")
  done
  if ((${#busy[@]})); then
    die "ports in use: ${busy[*]} (ss -lnptu; change them with the CC_*_PORT settings)"
  fi

  STARTING=1
  trap 'rc=$?; if [ "${STARTING:-0}" = 1 ] && [ "$rc" != 0 ]; then say "start failed: stopping what started"; stop_all; fi' EXIT
  cat > "$DIR/cluster.env" <<EOF
# Written by scripts/cluster.sh start; read by stop, status, seed and loadtest/cluster_bench.py.
CC_CLUSTER_DIR=$DIR
CC_NODES=$NODES
CC_UNITS=$UNITS
CC_SIP_DOMAIN=$DOMAIN
CC_KAMAILIO_SIP_PORT=$KAM_SIP
CC_KAMAILIO_HTTP_PORT=$KAM_HTTP
CC_NODE_SIP_BASE=$NODE_SIP_BASE
CC_NODE_HTTP_BASE=$NODE_HTTP_BASE
CC_TRUNK_PORT=$TRUNK_PORT
CC_REDIS_PORT=$REDIS_PORT
CC_PROMETHEUS_ADDR=$PROM_ADDR
CC_MEDIA_PORT_BASE=$MEDIA_BASE
CC_MEDIA_PORTS_PER_NODE=$MEDIA_SPAN
CC_PGHOST=$PGH
CC_PGPORT=$PGP
CC_PGUSER=$PGU
CC_DB=$DB
EOF

  ensure_postgres
  ensure_database
  seed

  mkdir -p "$DIR/redis"
  spawn redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
    --appendonly yes --save "" --daemonize no
  wait_for redis 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT ping)\" = PONG ]"

  for i in $(seq "$NODES"); do
    mkdir -p "$DIR/node$i"
    local min=$((MEDIA_BASE + (i - 1) * MEDIA_SPAN))
    CC__NODE__NAME=node$i \
    CC__SIP__LISTEN=127.0.0.1:$((NODE_SIP_BASE + i)) \
    CC__HTTP__LISTEN=127.0.0.1:$((NODE_HTTP_BASE + i)) \
    CC__SIP__OUTBOUND_PROXY=127.0.0.1:$KAM_SIP \
    CC__SIP__EXTENSION_GATEWAY=${CC__SIP__EXTENSION_GATEWAY:-127.0.0.1:$TRUNK_PORT} \
    CC__MEDIA__PORT_MIN=$min \
    CC__MEDIA__PORT_MAX=$((min + MEDIA_SPAN - 2)) \
    CC__ACD__STORE=redis \
    CC__REDIS__URL=redis://127.0.0.1:$REDIS_PORT/ \
    CC__PATHS__UNITS=$UNITS \
    CC__PATHS__RECORDS=$DIR/node$i/records.jsonl \
    CC__PATHS__VOICEMAIL=$DIR/voicemail \
      spawn "node$i" "$BIN"
  done
  for i in $(seq "$NODES"); do
    wait_for "node$i" 20 http_ok "http://127.0.0.1:$((NODE_HTTP_BASE + i))/health"
  done

  write_kamailio_cfg
  spawn kamailio kamailio -f "$DIR/kamailio/kamailio.cfg" -DD -E -m "${CC_KAMAILIO_SHM_MB:-256}" -M 8 \
    -Y "$DIR/kamailio" -P "$DIR/kamailio/kamailio.pid"
  wait_for kamailio 15 http_ok "http://127.0.0.1:$KAM_HTTP/metrics"

  mkdir -p "$DIR/prometheus"
  write_prometheus_cfg
  spawn prometheus prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prometheus" \
    --storage.tsdb.retention.time=15d --web.listen-address="$PROM_ADDR" --web.enable-lifecycle
  wait_for prometheus 30 http_ok "http://$PROM_ADDR/-/ready"
  STARTING=0

  local numbers
  numbers=$(sed -n 's/^\([^:]*\): ok (.*numbers \(.*\))$/\2 (\1)/p' <<<"$checked" | paste -sd';' - | sed 's/;/; /g')
  cat <<EOF

The call centre runs (local cluster, runtime files in ${DIR#"$ROOT"/}):

  Call it       sip:<number>@127.0.0.1:$KAM_SIP (UDP or TCP). Numbers: ${numbers:-none}
                From the telephony platform's stand-in 127.0.0.1:$TRUNK_PORT no password is asked, e.g.
                  sipp 127.0.0.1:$KAM_SIP -sf loadtest/scenarios/caller_hangs_up.xml -s 4000 -p $TRUNK_PORT -m 1 -d 20000 \\
                       -key rtp_ip 127.0.0.1 -key rtp_port 40000
                A registered agent's phone may call too (digest); anyone else gets 403.
  Agents        register at 127.0.0.1:$KAM_SIP, domain $DOMAIN, with these credentials (also in ${DIR#"$ROOT"/}/agents.txt):
EOF
  local shown=0 user password who
  while IFS=$'\t' read -r user password who; do
    case $user in '#'*|'') continue ;; esac
    shown=$((shown + 1))
    if [ $shown -le 20 ]; then
      printf '                  %-14s %-26s %s\n' "$user" "$password" "$who"
    fi
  done < "$DIR/agents.txt"
  [ $shown -gt 20 ] && echo "                  ... and $((shown - 20)) more"
  [ $shown = 0 ] && echo "                  (none: no agent of the units has a sip:<user>@$DOMAIN address)"
  cat <<EOF
                then log in by dialling *41, or: curl -X POST 127.0.0.1:$((NODE_HTTP_BASE + 1))/units/<unit>/agents/<agent>/login
EOF
  for i in $(seq "$NODES"); do
    printf '  %-13s sip 127.0.0.1:%s  http://127.0.0.1:%s/health  /metrics  records %s\n' "node$i" \
      $((NODE_SIP_BASE + i)) $((NODE_HTTP_BASE + i)) "${DIR#"$ROOT"/}/node$i/records.jsonl"
  done
  cat <<EOF
  Kamailio      http://127.0.0.1:$KAM_HTTP/metrics  JSON-RPC http://127.0.0.1:$KAM_HTTP/RPC
  Redis         127.0.0.1:$REDIS_PORT    PostgreSQL $PGH:$PGP database $DB
  Prometheus    http://$PROM_ADDR   (targets: http://$PROM_ADDR/targets)
  Grafana       not started here: point a Grafana at http://$PROM_ADDR (Prometheus data source) and import grafana/dashboards/*.json (see grafana/README.md)
  Logs          ${DIR#"$ROOT"/}/*.log     Stop: scripts/cluster.sh stop     Status: scripts/cluster.sh status
EOF
}

case $ACTION in
  start) start ;;
  stop)
    [ -d "$DIR" ] || { say "nothing in $DIR"; exit 0; }
    stop_all
    ;;
  status) status ;;
  seed)
    [ -f "$DIR/cluster.env" ] || die "no cluster in $DIR (scripts/cluster.sh start)"
    seed
    ;;
  *) usage ;;
esac
