#!/usr/bin/env bash
# Start a PgBouncer in transaction pooling mode on 127.0.0.1:6432, in front of
# the PostgreSQL on 127.0.0.1:5432 (every database name passes through), for
# tests/test_pgbouncer.py. Idempotent: does nothing when it already runs.
#   .ci/pgbouncer.sh         start (or keep) it
#   .ci/pgbouncer.sh stop    stop it
# Five server connections per database and user: fewer than a worker's
# threads, so clients really share server sessions.
set -euo pipefail
dir=/tmp/djobs-pgbouncer
pidfile=$dir/pgbouncer.pid
port=${PGBOUNCER_PORT:-6432}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ "${1:-start}" = "stop" ]; then
  if running; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  exit 0
fi

if running; then
  echo "pgbouncer already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
  exit 0
fi

command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] \
  || { echo "pgbouncer is not installed (apt-get install pgbouncer)"; exit 1; }
bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

mkdir -p "$dir"
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
pidfile = $pidfile
logfile = $dir/pgbouncer.log
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 5
max_client_conn = 1000
server_idle_timeout = 5
EOF
# auth_type=trust still needs the user names PgBouncer accepts.
echo '"postgres" ""' >"$dir/userlist.txt"

# PgBouncer refuses to run as root: it drops to the postgres user then.
user_args=()
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$dir"
  user_args=(-u postgres)
fi
"$bin" -d "${user_args[@]}" "$dir/pgbouncer.ini"
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$port" -d postgres -U postgres && break
  sleep 0.1
done
pg_isready -h 127.0.0.1 -p "$port" -d postgres -U postgres \
  || { echo "pgbouncer did not start; see $dir/pgbouncer.log"; tail -n 20 "$dir/pgbouncer.log"; exit 1; }
echo "pgbouncer $("$bin" --version | head -n1) in transaction mode on 127.0.0.1:$port"
