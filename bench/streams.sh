#!/usr/bin/env bash
# Stream fan-out: 1,000 open streams on 100 distinct filters, then 100 streams on the
# same 100 filters, each while writes are made through the API (bench/streams.py); then
# 1,000 streams on one instance while the writes go to another (woken by NOTIFY).
# Reports each write's latency to every matching stream and the hub's change reads
# (statements) per write, which must not grow with the number of streams.
# Usage: bash bench/streams.sh   (about 2 minutes; a scratch database, dropped after)
set -euo pipefail
cd "$(dirname "$0")/.."
db=${BENCH_DB:-ie_bench_streams}
port=18091
work=target/bench
mkdir -p "$work"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release -q
bin=target/release/industry-events
psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)"
DATABASE_NAME=$db $bin migrate
DATABASE_NAME=$db RATE_LIMIT_RPS=0 BIND_ADDR=127.0.0.1:$port MAX_CONNECTIONS_PER_IP=5000 \
  RUST_LOG=warn $bin serve > "$work/streams-server.log" 2>&1 &
server=$!
DATABASE_NAME=$db RATE_LIMIT_RPS=0 BIND_ADDR=127.0.0.1:$((port + 1)) MAX_CONNECTIONS_PER_IP=5000 \
  RUST_LOG=warn $bin serve > "$work/streams-server-2.log" 2>&1 &
other=$!
cleanup() {
  kill $server $other 2>/dev/null || true
  wait $server $other 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)"
}
trap cleanup EXIT
for p in $port $((port + 1)); do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.2; done
done
api=http://127.0.0.1:$port
token=$(DATABASE_NAME=$db $bin tokens create --name "bench-$$" --scope write | tail -n 1)
for streams in 1000 100; do
  python3 bench/streams.py "$api" "$token" "$streams" 100 100 0.1
done
WRITE_URL=http://127.0.0.1:$((port + 1)) python3 bench/streams.py "$api" "$token" 1000 100 100 0.1
rss=$(awk '/VmHWM/{print $2}' /proc/$server/status)
echo "{\"server_peak_rss_kib\": $rss}"
