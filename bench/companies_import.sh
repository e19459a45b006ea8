#!/usr/bin/env bash
# Companies import speed (issue 14): COMPANIES generated companies (default 10,000) as
# NDJSON in one request to the release binary on a scratch database, then the same
# file again with on_conflict=update (every company exists unchanged, so each is
# looked up and compared, and none is written).
# Usage: bench/companies_import.sh [COMPANIES]    (build first: cargo build --release)
set -euo pipefail
n=${1:-10000}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$here/.." && pwd)/target/release/industry-events
db=ie_bench_companies
work=$(mktemp -d)
pid=
. "$here/lib.sh"
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; psql_admin -c "drop database if exists $db with (force)" >/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fresh_db "$db"
python3 - "$n" > "$work/c.ndjson" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"slug": f"co-{i}", "name": f"Company number {i}", "kind": "other", "country": "US",
                      "website": f"https://co{i}.example.com", "description": "A company that makes things. " * 4, "tags": ["bulk", f"t{i%50}"]}))
PY
token=$(write_token "$db")
serve "$db"
for q in "" "?on_conflict=update"; do
  start=$(date +%s.%N)
  out=$(curl -sS -w ' %{http_code}' -X POST -H 'content-type: application/x-ndjson' -H "authorization: Bearer $token" --data-binary @"$work/c.ndjson" "http://127.0.0.1:$port/v1/companies/import$q")
  end=$(date +%s.%N); s=$(echo "$end - $start" | bc)
  echo "companies import$q: $out in $s s: $(echo "$n / $s" | bc)/s"
done
