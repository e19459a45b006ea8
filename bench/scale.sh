#!/usr/bin/env bash
# Reads a second with one instance on the primary, and with two instances reading from
# a streaming replica (issue 15's capacity sketch). Everything runs on this machine: a
# private primary (initdb) and a replica made from it with pg_basebackup, both on Unix
# sockets in a scratch folder; EVENTS generated events (default 20,000, without their
# company links) imported through the API; wrk on loopback.
# Usage: bench/scale.sh [EVENTS]     (build first: cargo build --release)
# Environment: BENCH_SECONDS (each measurement, default 10).
set -euo pipefail
events=${1:-20000}
seconds=${BENCH_SECONDS:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$root/target/release/industry-events
work=$(mktemp -d /tmp/ie-scale.XXXXXX)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$work"; fi
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for dir in replica primary; do
    [ -d "$work/$dir" ] && as_pg "$pgbin/pg_ctl" stop -D "$work/$dir" -m immediate >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

start_cluster() { # dir
  as_pg "$pgbin/pg_ctl" start -w -D "$work/$1" -l "$work/$1.log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$work/$1' -c max_connections=200 -c shared_buffers=256MB" >/dev/null
}
url() { echo "postgres://postgres@localhost/bench?host=$work/$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() { # port, extra env...
  local port=$1; shift
  env BIND_ADDR="127.0.0.1:$port" RATE_LIMIT_RPS=0 RUST_LOG=warn DATABASE_URL="$(url primary)" "$@" \
    "$bin" serve >"$work/serve-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return; sleep 0.2; done
  echo "instance on $port did not start" >&2; tail "$work/serve-$port.log" >&2; exit 1
}
rate() { # wrk output -> requests a second
  awk '/Requests\/sec/ {print $2}'
}

echo "== primary, $events events"
as_pg "$pgbin/initdb" -D "$work/primary" -U postgres -A trust -E UTF8 >/dev/null
start_cluster primary
as_pg "$pgbin/createdb" -h "$work/primary" -U postgres bench
DATABASE_URL=$(url primary) "$bin" migrate >/dev/null
python3 "$here/generate.py" import-events "$events" |
  python3 -c 'import json, sys
for line in sys.stdin:
    d = json.loads(line); d.pop("companies", None); d.pop("partnerships", None)
    print(json.dumps(d))' >"$work/events.ndjson"
DATABASE_URL=$(url primary) "$bin" import events "$work/events.ndjson" --mode partial >/dev/null 2>"$work/import.log"
psql -q -X -h "$work/primary" -U postgres -d bench -c "vacuum analyze" >/dev/null
slug=$(psql -A -t -X -h "$work/primary" -U postgres -d bench -c "select slug from events order by id limit 1 offset 1000")

echo "== replica (pg_basebackup -R)"
mkdir "$work/replica" && chmod 700 "$work/replica"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/replica"; fi
as_pg "$pgbin/pg_basebackup" -D "$work/replica" -h "$work/primary" -U postgres -R -X stream -c fast
rm -f "$work/replica/.s.PGSQL.5432.lock"
start_cluster replica

paths=("/v1/events/$slug" "/v1/events?tag=tag-0&limit=20")
names=("one event by slug" "first page by tag")
results=()

echo "== one instance, reads on the primary"
one=$(free_port)
serve "$one"
for i in "${!paths[@]}"; do
  curl -fsS -o /dev/null "http://127.0.0.1:$one${paths[$i]}"
  r=$(wrk -t2 -c32 -d"${seconds}s" "http://127.0.0.1:$one${paths[$i]}" | rate)
  results+=("| ${names[$i]} | one instance, primary | $r |")
done
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

two_instances() { # label, extra env for both...
  local label=$1; shift
  a=$(free_port); b=$(free_port)
  serve "$a" "$@"
  serve "$b" "$@"
  sleep 2 # the replica monitor's first look
  for i in "${!paths[@]}"; do
    wrk -t1 -c16 -d"${seconds}s" "http://127.0.0.1:$a${paths[$i]}" >"$work/wrk-a" &
    wrk_a=$!
    wrk -t1 -c16 -d"${seconds}s" "http://127.0.0.1:$b${paths[$i]}" >"$work/wrk-b" &
    wrk_b=$!
    wait "$wrk_a" "$wrk_b"
    ra=$(rate <"$work/wrk-a"); rb=$(rate <"$work/wrk-b")
    sum=$(python3 -c "print(round($ra + $rb, 2))")
    results+=("| ${names[$i]} | $label | $sum ($ra + $rb) |")
  done
}

echo "== two instances, reads on the primary"
two_instances "two instances, primary"
kill "${pids[-1]}" "${pids[-2]}"; wait "${pids[-1]}" "${pids[-2]}" 2>/dev/null || true

echo "== two instances, reads on the replica"
two_instances "two instances, replica" DATABASE_READ_URL="$(url replica)"
replica_reads=$(curl -fsS "http://127.0.0.1:$a/metrics" | awk '/^db_reads_total\{pool="replica-1"\}/ {print $2}')

echo
echo "| request | topology | req/s |"
echo "| --- | --- | ---: |"
printf '%s\n' "${results[@]}"
echo
echo "reads served by the replica (instance A): ${replica_reads:-0}"
