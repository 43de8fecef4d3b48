#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster under .local/pg: the local GaussDB stand-in.
#   scripts/localdb.sh start   install server binaries if missing, init, start, create roles/dbs
#   scripts/localdb.sh stop    stop the cluster (data stays)
#   scripts/localdb.sh status  exit 0 when running
#   scripts/localdb.sh env     print shell exports for the running cluster
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# GAUSSDB_BATCH_LOCAL_DIR moves the cluster elsewhere (tests use a scratch one); default .local/pg.
BASE="${GAUSSDB_BATCH_LOCAL_DIR:-$ROOT/.local/pg}"
OWNER_DIR="$ROOT"; ID="$ROOT"
if [ -n "${GAUSSDB_BATCH_LOCAL_DIR:-}" ]; then OWNER_DIR="$(dirname "$BASE")"; ID="$BASE"; fi
DATA="$BASE/data"
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$OWNER_DIR" 2>/dev/null; then
  # The postgres system user cannot reach this checkout: keep the cluster's files in
  # /var/tmp instead (one folder per cluster), and the facts in .local/pg as usual.
  DATA="/var/tmp/gaussdb_batch_pg_$(printf '%s' "$ID" | md5sum | cut -c1-12)/data"
fi
PORTFILE="$BASE/port"
PGVER=15
BIN="/usr/lib/postgresql/$PGVER/bin"
SUPERPW="${GAUSSDB_BATCH_PG_SUPERPASSWORD:-postgres_local}"
APPUSER="${GAUSSDB_BATCH_PG_USER:-gaussdb_batch}"
APPPW="${GAUSSDB_BATCH_PG_PASSWORD:-gaussdb_batch_local}"
# A second login for drivers that cannot answer SCRAM (async_gaussdb): its password is
# always stored as md5, whatever the cluster's password_encryption; its sessions act as
# $APPUSER (same objects, same privileges).
MD5USER="${APPUSER}_md5"
DATABASES="gbsource gbtarget gbairflow"

log() { printf '[localdb] %s\n' "$*" >&2; }

as_owner() {
  # initdb and postgres refuse to run as root: run them as the postgres system user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_binaries() {
  if [ -x "$BIN/pg_ctl" ]; then return; fi
  log "PostgreSQL $PGVER server binaries missing: installing Debian's postgresql-$PGVER"
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install postgresql-$PGVER"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "postgresql-$PGVER" postgresql-client-$PGVER >/dev/null
  # The package starts its own default cluster; we do not use it.
  pg_ctlcluster "$PGVER" main stop 2>/dev/null || true
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

port_in_use() {
  # SO_REUSEADDR as the server sets it: a port whose old connections sit in TIME_WAIT is free
  # for a listener, so a restarted cluster keeps its port (without it the probe moved it).
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

is_running() { [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_super() {
  PGPASSWORD="$SUPERPW" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$PORTFILE")" -U postgres "$@"
}

start() {
  ensure_binaries
  mkdir -p "$BASE" "$(dirname "$DATA")"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$BASE" "$(dirname "$DATA")"; fi
  if [ ! -s "$DATA/PG_VERSION" ]; then
    log "initialising cluster in $DATA"
    pwfile="$(mktemp)"; printf '%s\n' "$SUPERPW" > "$pwfile"; chmod 644 "$pwfile"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=md5 --pwfile="$pwfile" >/dev/null
    rm -f "$pwfile"
    cat >> "$DATA/postgresql.conf" <<CONF
# gaussdb-batch throwaway cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
password_encryption = md5
max_connections = 300
shared_buffers = 256MB
fsync = off
full_page_writes = off
synchronous_commit = off
logging_collector = off
CONF
  fi
  if is_running; then log "already running on port $(cat "$PORTFILE")"; else
    port="$(cat "$PORTFILE" 2>/dev/null || true)"
    if [ -z "$port" ] || port_in_use "$port"; then port="$(free_port)"; fi
    echo "$port" > "$PORTFILE"
    log "starting on 127.0.0.1:$port"
    as_owner "$BIN/pg_ctl" -D "$DATA" -o "-p $port" -l "$(dirname "$DATA")/server.log" -w -t 60 start >/dev/null
  fi
  # Roles and databases, idempotently.
  psql_super -d postgres <<SQL
SELECT 'CREATE ROLE $APPUSER LOGIN CREATEDB PASSWORD ''$APPPW'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APPUSER')\gexec
ALTER ROLE $APPUSER PASSWORD '$APPPW';
SELECT 'CREATE ROLE $MD5USER LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$MD5USER')\gexec
SET password_encryption = 'md5';
SET client_min_messages = warning;
ALTER ROLE $MD5USER PASSWORD '$APPPW';
GRANT $APPUSER TO $MD5USER;
ALTER ROLE $MD5USER SET role = '$APPUSER';
-- Tests watch sessions of both logins in pg_stat_activity (query text is private otherwise).
GRANT pg_read_all_stats TO $APPUSER;
SQL
  for db in $DATABASES; do
    psql_super -d postgres <<SQL
SELECT 'CREATE DATABASE $db OWNER $APPUSER'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$db')\gexec
SQL
  done
  env_out > "$BASE/env"
}

env_out() {
  local port; port="$(cat "$PORTFILE")"
  cat <<ENV
export GAUSSDB_BATCH_PG_HOST=127.0.0.1
export GAUSSDB_BATCH_PG_PORT=$port
export GAUSSDB_BATCH_PG_USER=$APPUSER
export GAUSSDB_BATCH_PG_PASSWORD=$APPPW
export GAUSSDB_BATCH_PG_MD5_USER=$MD5USER
export GAUSSDB_BATCH_PG_SUPERPASSWORD=$SUPERPW
ENV
}

stop() {
  if is_running; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; log "stopped"; else log "not running"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) is_running ;;
  env) env_out ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
