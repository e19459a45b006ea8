# What the bench scripts that serve the release binary from a scratch database share.
# Source it after setting `bin` (the binary), `work` (a scratch folder) and `pid=`:
# `serve` sets `pid` and `port`; the script's own cleanup stops `pid` and drops its
# databases.

# psql as the admin, on the maintenance database.
psql_admin() { psql -q -X -h 127.0.0.1 -U postgres -d postgres "$@"; }

# fresh_db NAME: (re)creates the scratch database NAME with the service's schema.
fresh_db() {
  psql_admin -c "drop database if exists $1 with (force)" -c "create database $1" >/dev/null
  DATABASE_NAME=$1 "$bin" migrate >/dev/null 2>&1
}

# write_token DB: a new token with the write scope, for DB.
write_token() {
  DATABASE_NAME=$1 "$bin" tokens create --name bench --scope write 2>/dev/null | tail -n 1
}

# serve DB [NAME=value ...]: starts the binary on DB on a free loopback port, rate
# limiting off and imports up to 1 GiB, with the extra settings given, logging to
# $work/server.log; returns once it is ready (`env` execs the binary, so $pid is its).
serve() {
  local db=$1
  shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env DATABASE_NAME="$db" RATE_LIMIT_RPS=0 MAX_IMPORT_BYTES=1073741824 \
    BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn "$@" "$bin" serve >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return
    sleep 0.1
  done
  echo "the server did not become ready (see $work/server.log)" >&2
  return 1
}
