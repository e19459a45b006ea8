#!/usr/bin/env bash
# The benchmark kit's one command: builds the release binary, loads the data set into a
# scratch database, serves it on loopback, measures the hot requests with wrk and the
# same SQL with pgbench, and writes bench/RESULTS.md.
# Usage: bash bench/run.sh [EVENTS]     (default 1,000,000; takes about 10 minutes)
# Needs: PostgreSQL on 127.0.0.1:5432 (user postgres), wrk and pgbench (apt: wrk,
# postgresql-contrib); installs wrk when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
db=ie_bench
port=18090
duration=${BENCH_SECONDS:-10}
connections=64
out=bench/RESULTS.md
work=target/bench
mkdir -p "$work"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v pgbench >/dev/null || { echo "pgbench is missing (apt-get install postgresql-contrib)" >&2; exit 1; }
cargo build --release -q
bin=target/release/industry-events

# BENCH_SKIP_LOAD=1 measures the data set already loaded by a previous run.
if [ -n "${BENCH_SKIP_LOAD:-}" ] && [ -f "$work/load.log" ]; then
  DATABASE_NAME=$db $bin migrate
  load_log="$(cat "$work/load.log") (loaded by an earlier run)"
else
  psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)"
  DATABASE_NAME=$db $bin migrate
  load_log=$(bash bench/load.sh "$db" "$events" | grep -v NOTICE)
  echo "$load_log" > "$work/load.log"
fi
echo "$load_log"

DATABASE_NAME=$db RATE_LIMIT_RPS=0 BIND_ADDR=127.0.0.1:$port DB_MAX_CONNECTIONS=16 RUST_LOG=warn \
  $bin serve > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
api=http://127.0.0.1:$port
token=$(DATABASE_NAME=$db $bin tokens create --name "bench-$$" --scope write | tail -n 1)

# The keyset walk to page 1,000 of the most common tag (20 a page).
tag=tag-0
cursor_url="/v1/events?tag=$tag&limit=20"
for _ in $(seq 1 999); do
  next=$(curl -s "$api$cursor_url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')
  [ -n "$next" ] || break
  cursor_url="/v1/events?tag=$tag&limit=20&cursor=$next"
done
etag=$(curl -s -D - -o /dev/null "$api/v1/events?tag=$tag&limit=20" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')

cat > "$work/write.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"title":"Bench write %d %d","occurred_on":"2024-05-01","category":"other","significance":"minor","tags":["bench","tag-%d"]}', os.time(), counter, counter % 50)
  return wrk.format("POST", "/v1/events", {["Content-Type"]="application/json", ["Authorization"]="Bearer $token"}, body)
end
LUA
cat > "$work/slug.lua" <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", "/v1/events/ev-" .. math.random(0, $events - 1))
end
LUA

results=()
measure() { # name, path, extra wrk args...
  local name=$1 path=$2; shift 2
  local report
  report=$(wrk -t2 -c$connections -d${duration}s --latency "$@" "$api$path")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$report")
  p50=$(awk '$1=="50%"{print $2}' <<<"$report")
  p99=$(awk '$1=="99%"{print $2}' <<<"$report")
  results+=("| $name | \`${path:0:70}\` | $rps | $p50 | $p99 |")
  echo "$name: $rps req/s, p50 $p50, p99 $p99"
}
measure "HTTP ceiling (healthz)" "/healthz"
measure "first page by tag" "/v1/events?tag=$tag&limit=20"
measure "page 1,000 by tag" "$cursor_url"
measure "304 poll (If-None-Match)" "/v1/events?tag=$tag&limit=20" -H "If-None-Match: $etag"
measure "one event by slug" "/v1/events/ev-1" -s "$work/slug.lua"
measure "full-text query" "/v1/events?q=anthropic%20training&limit=20"
measure "tag counts" "/v1/tags"
measure "a company's events" "/v1/companies/company-1/events"
measure "writes (POST)" "/v1/events" -s "$work/write.lua"
rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$server/status")

# The database's ceiling: pgbench running the service's SQL for the first page by tag.
cat > "$work/tag_page.sql" <<'SQL'
select e.id, e.slug, e.title, e.occurred_on, e.category, e.significance, e.summary, e.what_happened,
       e.why_it_matters, e.tags, e.sources, e.created_at, e.updated_at, e.version, e.deleted_at
from event_tags t join events e on e.id = t.event_id
where t.tag = 'tag-0' and e.deleted_at is null
order by t.occurred_on desc, t.event_id desc limit 21;
SQL
pg_report=$(pgbench -h 127.0.0.1 -U postgres -n -M prepared -c $connections -j 2 -T "$duration" -f "$work/tag_page.sql" "$db" 2>&1)
pg_tps=$(awk '/^tps/{print $3; exit}' <<<"$pg_report")
pg_lat=$(awk '/latency average/{print $4" "$5}' <<<"$pg_report")

explain() {
  psql -h 127.0.0.1 -U postgres -d "$db" -c "explain (analyze, costs off, timing off, summary on) $1" \
    | grep -vE '^\s*$|^\(' || true
}
{
  echo "# Benchmark results"
  echo
  echo "Run by \`bash bench/run.sh $events\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB,"
  echo "$(psql -h 127.0.0.1 -U postgres -Atc 'select version()' | cut -d, -f1); wrk -t2 -c$connections -d${duration}s; server DB_MAX_CONNECTIONS=16, RATE_LIMIT_RPS=0."
  echo
  echo '```'
  echo "$load_log"
  echo '```'
  echo
  echo "| request | path | req/s | p50 | p99 |"
  echo "| --- | --- | ---: | ---: | ---: |"
  printf '%s\n' "${results[@]}"
  echo
  echo "- Peak RSS of the server (VmHWM) over the whole run: $((rss_kb / 1024)) MiB."
  echo "- pgbench, the first page's SQL (prepared, $connections clients): $pg_tps tps, average latency $pg_lat."
  echo
  echo "## Query plans of the hot queries"
  for q in \
    "select e.id from event_tags t join events e on e.id = t.event_id where t.tag = 'tag-0' and e.deleted_at is null order by t.occurred_on desc, t.event_id desc limit 21" \
    "select e.id from events e where e.slug = 'ev-1' and e.deleted_at is null" \
    "select e.id from events e where e.deleted_at is null and e.search @@ websearch_to_tsquery('english', 'anthropic training') order by ts_rank(e.search, websearch_to_tsquery('english', 'anthropic training')) desc, e.id desc limit 21" \
    "select tag, events, latest from tag_stats where events > 0 order by events desc, tag asc limit 100" \
    "select e.id from events e where true and e.deleted_at is null and exists (select 1 from event_companies ec where ec.event_id = e.id and ec.company_id = (select id from companies where slug = 'company-1')) order by e.occurred_on desc, e.id desc limit 21"; do
    echo
    echo '```'
    echo "$q"
    explain "$q"
    echo '```'
  done
} > "$out"
echo "wrote $out"
