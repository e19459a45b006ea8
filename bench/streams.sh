#!/usr/bin/env bash
# Stream fan-out: 1,000 open streams on 100 distinct filters, then 100 streams on the
# same 100 filters, each while writes are made through the API (bench/streams.py).
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
cleanup() {
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
api=http://127.0.0.1:$port
token=$(DATABASE_NAME=$db $bin tokens create --name "bench-$$" --scope write | tail -n 1)
for streams in 1000 100; do
  python3 bench/streams.py "$api" "$token" "$streams" 100 100 0.1
done
rss=$(awk '/VmHWM/{print $2}' /proc/$server/status)
echo "{\"server_peak_rss_kib\": $rss}"
