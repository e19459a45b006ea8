#!/usr/bin/env bash
# Import speed (issue 14): EVENTS events (default 50,000, the kit's data set) as NDJSON
# in one request to the release binary, on a database that holds the kit's companies
# and deals; the server's peak RSS; and, for scale, a plain COPY of the same rows into
# the same schema (triggers on, as the table is).
# Usage: [BENCH_TEXT=short|news] [BIN=binary] [COPY=0] [CPU=1] bench/import.sh [EVENTS]
# (build first: cargo build --release)
# BENCH_TEXT=short: events with texts a fifth as long; news: texts of a news item's
# size, about 950 bytes (see generate.py). BIN: another build to measure (an A/B of two
# commits). COPY=0: the import alone. CPU=1: the CPU time each process (server, each
# PostgreSQL backend) spent during the import.
set -euo pipefail
events=${1:-50000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${BIN:-$root/target/release/industry-events}
work=$(mktemp -d)
db=ie_bench_import
copy_db=ie_bench_copy
pid=
. "$here/lib.sh"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql_admin -c "drop database if exists $db with (force)" -c "drop database if exists $copy_db with (force)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

for d in $db $copy_db; do
  fresh_db "$d"
  bash "$here/load.sh" "$d" 0 >/dev/null
done
python3 "$here/generate.py" import-events "$events" >"$work/events.ndjson"
bytes=$(stat -c %s "$work/events.ndjson")
echo "file: $events events, $((bytes / 1024 / 1024)) MiB of NDJSON"

token=$(write_token "$db")
serve "$db"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

sampler=
if [ "${CPU:-0}" = 1 ]; then
  python3 "$here/cpu_by_process.py" >"$work/cpu.txt" &
  sampler=$!
fi
start=$(date +%s.%N)
status=$(curl -sS -o "$work/answer.json" -w '%{http_code}' -X POST \
  -H 'content-type: application/x-ndjson' -H "authorization: Bearer $token" \
  --data-binary @"$work/events.ndjson" "http://127.0.0.1:$port/v1/events/import")
end=$(date +%s.%N)
if [ -n "$sampler" ]; then kill -TERM "$sampler" && wait "$sampler" || true; fi
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
seconds=$(echo "$end - $start" | bc)
echo "import: HTTP $status $(cat "$work/answer.json") in ${seconds} s: $(echo "$events / $seconds" | bc) records/s"
echo "server RSS: $((rss_before / 1024)) MiB before, peak $((hwm / 1024)) MiB (growth $(((hwm - rss_before) / 1024)) MiB)"

[ -n "$sampler" ] && cat "$work/cpu.txt"
[ "${COPY:-1}" = 0 ] && exit 0
start=$(date +%s.%N)
python3 "$here/generate.py" events "$events" |
  psql -q -X -h 127.0.0.1 -U postgres -d "$copy_db" -c "\\copy events (id, slug, title, occurred_on, category, significance, summary, what_happened, why_it_matters, tags, sources, companies, partnerships) from stdin with (format csv)"
end=$(date +%s.%N)
seconds=$(echo "$end - $start" | bc)
echo "plain COPY of the same event rows (no links, no audit): ${seconds} s: $(echo "$events / $seconds" | bc) rows/s"
