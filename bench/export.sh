#!/usr/bin/env bash
# Export speed (issue 14): EVENTS events (default 100,000) loaded with bench/load.sh,
# then `GET /v1/events/export` as NDJSON and as CSV, RUNS times each (default 3), each
# fetched whole by curl to a file on this machine: the time to the first byte, the whole
# export, records a second, and the server's peak RSS over all of them.
# Usage: [BENCH_TEXT=short|news] [BIN=binary] [RUNS=3] bench/export.sh [EVENTS]
# (build first: cargo build --release)
set -euo pipefail
events=${1:-100000}
runs=${RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${BIN:-$root/target/release/industry-events}
work=$(mktemp -d)
db=ie_bench_export
pid=
. "$here/lib.sh"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql_admin -c "drop database if exists $db with (force)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

fresh_db "$db"
bash "$here/load.sh" "$db" "$events" >/dev/null
psql -q -X -h 127.0.0.1 -U postgres -d "$db" -c "vacuum analyze" >/dev/null

serve "$db"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

echo "$events events (${BENCH_TEXT:-full} texts)"
printf '%-7s %12s %12s %12s %16s\n' format bytes "first byte" whole "records/s"
for format in ndjson csv; do
  for _ in $(seq 1 "$runs"); do
    read -r status bytes first total < <(curl -sS -o "$work/export" \
      -w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' \
      "http://127.0.0.1:$port/v1/events/export?format=$format")
    [ "$status" = 200 ] || { echo "export answered HTTP $status" >&2; exit 1; }
    # The kit's texts hold no line breaks, so a CSV record is one line after the header.
    records=$(wc -l <"$work/export")
    if [ "$format" = csv ]; then records=$((records - 1)); fi
    [ "$records" = "$events" ] || { echo "exported $records records of $events" >&2; exit 1; }
    printf '%-7s %12s %10.1f ms %10.2f s %16.0f\n' "$format" "$bytes" \
      "$(echo "$first * 1000" | bc)" "$total" "$(echo "$events / $total" | bc)"
  done
done
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "server RSS: $((rss_before / 1024)) MiB before, peak $((hwm / 1024)) MiB"
