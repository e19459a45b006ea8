#!/usr/bin/env bash
# Re-import speed (issue 14): EVENTS events (default 10,000) imported as NDJSON into a
# database that holds the kit's companies and deals, then the same file again with
# on_conflict=skip and with on_conflict=update (every record exists: the nightly file,
# which leaves records equal to the stored ones alone), then a file of the same records
# each with a changed summary, with on_conflict=update (every record a new version), and
# last a file alternating stored records with new ones, in partial mode with
# on_conflict=error (each stored one refused and named, each new one created).
# Usage: [BENCH_TEXT=short] [BIN=binary] bench/reimport.sh [EVENTS]    (build first: cargo build --release)
set -euo pipefail
events=${1:-10000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${BIN:-$root/target/release/industry-events}
db=ie_bench_reimport
work=$(mktemp -d)
pid=
. "$here/lib.sh"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql_admin -c "drop database if exists $db with (force)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

fresh_db "$db"
bash "$here/load.sh" "$db" 0 >/dev/null 2>&1
python3 "$here/generate.py" import-events "$events" >"$work/events.ndjson"
sed 's/"summary": "/"summary": "Revised. /' "$work/events.ndjson" >"$work/changed.ndjson"
python3 "$here/generate.py" import-events $((2 * events)) | tail -n +$((events + 1)) >"$work/new.ndjson"
paste -d '\n' "$work/events.ndjson" "$work/new.ndjson" >"$work/mixed.ndjson"
token=$(write_token "$db")
serve "$db"

for run in ":events" "?on_conflict=skip:events" "?on_conflict=update:events" "?on_conflict=update:changed" \
  "?mode=partial:mixed"; do
  query=${run%%:*}
  file=${run##*:}
  start=$(date +%s.%N)
  status=$(curl -sS -o "$work/answer.json" -w '%{http_code}' -X POST \
    -H 'content-type: application/x-ndjson' -H "authorization: Bearer $token" \
    --data-binary @"$work/$file.ndjson" "http://127.0.0.1:$port/v1/events/import$query")
  end=$(date +%s.%N)
  seconds=$(echo "$end - $start" | bc)
  records=$(wc -l <"$work/$file.ndjson")
  # The counts only: a partial import's answer also lists its bad records.
  counts=$(python3 -c 'import json, sys
answer = json.load(open(sys.argv[1]))
print(", ".join(f"{k} {answer[k]}" for k in ("created", "updated", "skipped", "failed") if k in answer))' "$work/answer.json")
  echo "import$query ($file): HTTP $status, $counts, in ${seconds} s: $(echo "$records / $seconds" | bc) records/s"
done
