#!/usr/bin/env bash
# The benchmark kit's one command: builds the release binary, loads the data set into a
# scratch database, serves it on loopback, measures the hot requests with wrk and the
# same SQL with pgbench, and writes the measured part of bench/RESULTS.md (the analysis
# after the `<!-- analysis` line is kept).
# Usage: bash bench/run.sh [EVENTS]     (default 1,000,000; about 12 minutes on 2 cores)
# Environment: BENCH_SECONDS (each measurement, default 10), BENCH_SKIP_LOAD=1 (measure
# the data an earlier run loaded), BENCH_DB (default ie_bench), BENCH_OUT (default
# bench/RESULTS.md).
# Needs: PostgreSQL on 127.0.0.1:5432 (user postgres) with pgbench (it ships with the
# server package); installs wrk from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
db=${BENCH_DB:-ie_bench}
port=18090
duration=${BENCH_SECONDS:-10}
connections=64
pool=16
out=${BENCH_OUT:-bench/RESULTS.md}
work=target/bench
mkdir -p "$work"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v pgbench >/dev/null || { echo "pgbench is missing (it ships with the PostgreSQL server package)" >&2; exit 1; }
cargo build --release -q
bin=target/release/industry-events
psql_() { psql -h 127.0.0.1 -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"; }

if [ -n "${BENCH_SKIP_LOAD:-}" ] && [ -f "$work/load-$db.log" ]; then
  DATABASE_NAME=$db $bin migrate
  load_log="$(cat "$work/load-$db.log")
(loaded by an earlier run)"
else
  psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db with (force)"
  DATABASE_NAME=$db $bin migrate
  load_log=$(bash bench/load.sh "$db" "$events" | grep -v NOTICE)
  echo "$load_log" > "$work/load-$db.log"
fi
echo "$load_log"

DATABASE_NAME=$db RATE_LIMIT_RPS=0 BIND_ADDR=127.0.0.1:$port DB_MAX_CONNECTIONS=$pool RUST_LOG=warn \
  $bin serve > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
api=http://127.0.0.1:$port
token=$(DATABASE_NAME=$db $bin tokens create --name "bench-$$" --scope write | tail -n 1)

# The keyset walk to page 1,000 of the most common tag (20 a page).
tag=tag-0
first="/v1/events?tag=$tag&limit=20"
cursor_url=$first
page=1
for _ in $(seq 1 999); do
  next=$(curl -s "$api$cursor_url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')
  [ -n "$next" ] || break
  cursor_url="/v1/events?tag=$tag&limit=20&cursor=$next"
  page=$((page + 1))
done
[ "$page" -eq 1000 ] || echo "the tag has only $page pages: measuring the last one"
etag=$(curl -s -D - -o /dev/null "$api$first" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')

# Three creates to one merge patch of an existing event. Titles carry the thread, so
# the two threads never derive the same slug (that would be a 409).
cat > "$work/write.lua" <<LUA
counter = 0
threads = 0
math.randomseed(11)
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  counter = counter + 1
  if counter % 4 == 0 then
    local body = string.format('{"significance":"%s"}', ({"minor","notable","major"})[counter % 3 + 1])
    return wrk.format("PATCH", "/v1/events/ev-" .. math.random(0, $events - 1),
      {["Content-Type"]="application/merge-patch+json", ["Authorization"]="Bearer $token"}, body)
  end
  local body = string.format('{"title":"Bench write %d %d %d","occurred_on":"2024-05-01","category":"other","significance":"minor","tags":["bench","tag-%d"],"companies":[{"company":"company-%d","role":"subject"}]}', os.time(), tid, counter, counter % 50, counter % 10000)
  return wrk.format("POST", "/v1/events", {["Content-Type"]="application/json", ["Authorization"]="Bearer $token"}, body)
end
LUA
cat > "$work/slug.lua" <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", "/v1/events/ev-" .. math.random(0, $events - 1))
end
LUA

# Best match first for a different pair of industry words each request (10,000 pairs),
# so almost every request ranks afresh: the cost the ranking cache saves.
words=$(python3 -c 'import sys; sys.path.insert(0, "bench"); import generate; print(" ".join(generate.INDUSTRY_WORDS))')
cat > "$work/fulltext.lua" <<LUA
local words = {}
for w in string.gmatch("$words", "%S+") do words[#words + 1] = w end
math.randomseed(5)
request = function()
  local q = words[math.random(#words)] .. "%20" .. words[math.random(#words)]
  return wrk.format("GET", "/v1/events?q=" .. q .. "&limit=20")
end
LUA

server_cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
tick=$(getconf CLK_TCK)
results=()
declare -A rate
measure() { # key, name, path, extra wrk args...
  local key=$1 name=$2 path=$3; shift 3
  local before report after rps p50 p99 requests errors cpu
  before=$(server_cpu)
  report=$(wrk -t2 -c$connections -d${duration}s --latency "$@" "$api$path")
  after=$(server_cpu)
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$report")
  p50=$(awk '$1=="50%"{print $2}' <<<"$report")
  p99=$(awk '$1=="99%"{print $2}' <<<"$report")
  requests=$(awk '/requests in/{print $1}' <<<"$report")
  errors=$(awk '/Non-2xx/{print $5}' <<<"$report")
  cpu=$(awk -v a="$after" -v b="$before" -v t="$tick" -v n="${requests:-0}" 'BEGIN{ if (n > 0) printf "%.0f", (a-b)/t/n*1e6; else print "n/a" }')
  rate[$key]=$rps
  results+=("| $name | \`${path:0:60}\` | $rps | $p50 | $p99 | $cpu µs | ${errors:-0} |")
  echo "$name: $rps req/s, p50 $p50, p99 $p99, server CPU $cpu µs a request, non-2xx/3xx ${errors:-0}"
}
# Waits until the server's statements have finished: requests wrk gave up on still run
# to completion, and would slow the next measurement down.
settle() {
  for _ in $(seq 1 60); do
    busy=$(psql_ -Atc "select count(*) from pg_stat_activity where datname = current_database() and state = 'active' and pid <> pg_backend_pid()")
    [ "$busy" -eq 0 ] && return
    sleep 0.5
  done
}
measure healthz "HTTP ceiling (healthz)" "/healthz"
measure first "first page by tag" "$first"
measure page1000 "page $page by tag" "$cursor_url"
measure poll "304 poll (If-None-Match)" "$first" -H "If-None-Match: $etag"
measure slug "one event by slug (random)" "/v1/events/ev-1" -s "$work/slug.lua"
# The first request ranks (seconds, for a query this broad at 1M); the measurement is
# of the requests after it, which reuse the ranking until a write.
curl -s -o /dev/null --max-time 120 "$api/v1/events?q=anthropic%20training&limit=20"
measure fulltext "full-text query, by relevance (the same query: ranked once)" "/v1/events?q=anthropic%20training&limit=20"
settle
measure fulltext_fresh "full-text query, by relevance (a new query each time; 4 connections)" "/v1/events?q=..." -s "$work/fulltext.lua" -c4 --timeout 30s
settle
measure fulltext_date "full-text query, newest first" "/v1/events?q=anthropic%20training&limit=20&sort=-occurred_on"
measure tags "tag counts" "/v1/tags"
measure company "a company's events" "/v1/companies/company-1/events"
measure writes "writes (3 POST : 1 PATCH)" "/v1/events" -s "$work/write.lua"

# A dashboard polls its tag (If-None-Match) while other tags are written: how many of
# its polls stay a 304, and at what rate.
cat > "$work/poll304.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n304 = 0; n200 = 0; nother = 0 end
function response(status, headers, body)
  if status == 304 then n304 = n304 + 1 elseif status == 200 then n200 = n200 + 1 else nother = nother + 1 end
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do a = a + t:get("n304"); b = b + t:get("n200"); c = c + t:get("nother") end
  io.write(string.format("STATUS %d %d %d\n", a, b, c))
end
LUA
cat > "$work/write_elsewhere.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"title":"Elsewhere %d %d","occurred_on":"2024-05-01","category":"other","significance":"minor","tags":["bench-elsewhere"]}', os.time(), counter)
  return wrk.format("POST", "/v1/events", {["Content-Type"]="application/json", ["Authorization"]="Bearer $token"}, body)
end
LUA
etag=$(curl -s -D - -o /dev/null "$api$first" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')
wrk -t1 -c4 -d${duration}s -s "$work/write_elsewhere.lua" "$api/v1/events" > "$work/writes_elsewhere.txt" 2>&1 &
writer=$!
poll_report=$(wrk -t2 -c$connections -d${duration}s --latency -s "$work/poll304.lua" -H "If-None-Match: $etag" "$api$first")
wait $writer
read -r n304 n200 nother <<<"$(awk '/^STATUS/{print $2, $3, $4}' <<<"$poll_report")"
poll_rps=$(awk '/Requests\/sec/{print $2}' <<<"$poll_report")
poll_p50=$(awk '$1=="50%"{print $2}' <<<"$poll_report")
elsewhere_rps=$(awk '/Requests\/sec/{print $2}' "$work/writes_elsewhere.txt")
poll_share=$(awk -v a="$n304" -v b="$n200" -v c="$nother" 'BEGIN{ t = a + b + c; if (t > 0) printf "%.1f", 100 * a / t; else print "n/a" }')
echo "poll of $tag under writes to another tag: $poll_rps req/s (p50 $poll_p50), $poll_share% 304 ($n304 304, $n200 200, $nother other); $elsewhere_rps writes/s"
rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$server/status")

# Latency without queueing: one connection, then eight.
low=()
low_latency() { # name, connections, path, extra wrk args...
  local name=$1 c=$2 path=$3; shift 3
  local report
  report=$(wrk -t1 -c"$c" -d5s --latency "$@" "$api$path")
  low+=("| $name | $c | $(awk '$1=="50%"{print $2}' <<<"$report") | $(awk '$1=="99%"{print $2}' <<<"$report") | $(awk '/Requests\/sec/{print $2}' <<<"$report") |")
}
low_latency "first page by tag" 1 "$first"
low_latency "first page by tag" 8 "$first"
low_latency "304 poll" 1 "$first" -H "If-None-Match: $etag"
low_latency "page $page by tag" 1 "$cursor_url"
low_latency "tag counts" 1 "/v1/tags"
low_latency "one event by slug (random)" 1 "/v1/events/ev-1" -s "$work/slug.lua"

# The database's ceiling: pgbench running the statement the service runs for the first
# page by tag (the page with its companies and deals, which the rows keep), with the same
# parameters, prepared, once on generic plans (as the service's fixed-plan pool) and
# once as PostgreSQL chooses (plan_cache_mode=auto).
columns="e.id, e.slug, e.title, e.occurred_on, e.category, e.significance, e.summary, e.what_happened, e.why_it_matters, e.tags, e.sources, e.created_at, e.updated_at, e.version, e.deleted_at, e.companies, e.partnerships"
page_sql="select $columns from event_tags t join events e on e.id = t.event_id where t.tag = :tag and e.deleted_at is null order by t.occurred_on desc, t.event_id desc limit :limit"
printf '%s;\n' "$page_sql" > "$work/tag_page.sql"
pgbench_tps() { # plan_cache_mode
  PGOPTIONS="-c plan_cache_mode=$1" pgbench -h 127.0.0.1 -U postgres -n -M prepared -c $connections -j 2 \
    -T "$duration" -D tag=$tag -D limit=21 -f "$work/tag_page.sql" "$db" 2>&1 | awk '/^tps/{print $3; exit}'
}
# The write ceiling: PostgreSQL alone inserting events (one durable INSERT a transaction,
# the tag and change-note triggers firing), 8 clients.
cat > "$work/insert.sql" <<'SQL'
insert into events (id, slug, title, occurred_on, category, significance, tags) values (gen_random_uuid(), 'pgbench-' || gen_random_uuid(), 'pgbench insert', '2024-05-01', 'other', 0, '{bench-pgbench}') returning id;
SQL
pg_insert=$(pgbench -h 127.0.0.1 -U postgres -n -c 8 -j 2 -T "$duration" -f "$work/insert.sql" "$db" 2>&1 | awk '/^tps/{print $3; exit}')
echo "pgbench insert: $pg_insert tps"
pg_generic=$(pgbench_tps force_generic_plan)
pg_auto=$(pgbench_tps auto)
echo "pgbench: $pg_generic tps (generic plans), $pg_auto tps (auto)"

explain() { # a statement with literal values
  psql_ -c "explain (analyze, buffers, costs off, timing off, summary on) $1" | grep -vE '^\s*$|^\(' || true
}
explain_generic() { # name, parameter types, statement with $n, arguments
  psql_ <<SQL | grep -vE '^\s*$|^\(|^(SET|PREPARE)$' || true
set plan_cache_mode = force_generic_plan;
prepare $1($2) as $3;
explain (analyze, buffers, costs off, timing off, summary on) execute $1($4);
SQL
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
cursor_date=$(psql_ -Atc "select occurred_on, event_id from event_tags where tag = '$tag' order by occurred_on desc, event_id desc offset greatest(0, $(( (page - 1) * 20 - 1 ))) limit 1" | tr '|' ' ')
read -r c_date c_id <<<"$cursor_date"

measured=$(
  echo "# Benchmark results"
  echo
  echo "Run by \`bash bench/run.sh $events\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD):"
  echo "$(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem/{print $2}') GiB;"
  echo "$(psql -h 127.0.0.1 -U postgres -Atc 'select version()' | cut -d, -f1), shared_buffers $(psql -h 127.0.0.1 -U postgres -Atc 'show shared_buffers');"
  echo "wrk -t2 -c$connections -d${duration}s on loopback; server DB_MAX_CONNECTIONS=$pool, RATE_LIMIT_RPS=0."
  echo "wrk, the server and PostgreSQL share the two cores."
  echo
  echo '```'
  echo "$load_log"
  echo '```'
  echo
  echo "| request | path | req/s | p50 | p99 | server CPU a request | non-2xx/3xx |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${results[@]}"
  echo
  echo "- Peak RSS of the server (VmHWM) over the whole run: $((rss_kb / 1024)) MiB."
  echo "- pgbench, the first page's statement (the page with its links; prepared, parameters as the"
  echo "  service binds them, $connections clients): $pg_generic tps on generic plans (as the service"
  echo "  runs them), $pg_auto tps with plan_cache_mode=auto."
  echo "- First page by tag against pgbench (generic): $(ratio "${rate[first]}" "$pg_generic") of its rate."
  echo "- Writes against PostgreSQL inserting events alone (pgbench, 8 clients, $pg_insert tps):"
  echo "  $(ratio "${rate[writes]}" "$pg_insert")× (each API write also resolves slugs and links and writes audit, revision and idempotency rows)."
  echo "- Page $page against page 1: costs $(ratio "${rate[first]}" "${rate[page1000]}")× as much (rate ratio)."
  echo "- 304 poll against the full page: $(ratio "${rate[poll]}" "${rate[first]}")× the rate."
  echo "- The same poll while 4 connections write events with another tag ($elsewhere_rps writes/s):"
  echo "  $poll_rps req/s, p50 $poll_p50, $poll_share% of polls answered 304 ($n304 of $((n304 + n200 + nother))),"
  echo "  $(ratio "$poll_rps" "${rate[poll]}")× the rate of the poll with no writes."
  echo
  echo "### Latency without queueing (\`wrk -t1 -d5s\`)"
  echo
  echo "| request | connections | p50 | p99 | req/s |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${low[@]}"
  echo
  echo "## Query plans of the hot queries"
  echo
  echo "With the values inlined (the plan PostgreSQL picks for these values):"
  for q in \
    "select e.id from event_tags t join events e on e.id = t.event_id where t.tag = '$tag' and e.deleted_at is null order by t.occurred_on desc, t.event_id desc limit 21" \
    "select e.id from events e where e.slug = 'ev-1' and e.deleted_at is null" \
    "select c.id, ts_rank(c.search, websearch_to_tsquery('english', 'anthropic training')) as rank from (select e.id, e.search from events e where true and e.deleted_at is null and e.search @@ websearch_to_tsquery('english', 'anthropic training') order by e.occurred_on desc, e.id desc limit 2000) c order by rank desc, c.id desc limit 21" \
    "select e.id, e.title from unnest((select array_agg(id) from (select id from events order by id limit 20) x)) with ordinality as k (id, n) join events e on e.id = k.id where e.deleted_at is null order by k.n" \
    "with pending as (select tag, sum(delta) as delta from tag_stats_pending group by tag) select tag, events, latest from (select coalesce(s.tag, p.tag) as tag, coalesce(s.events, 0) + coalesce(p.delta, 0) as events, case when p.tag is null then s.latest else (select max(e.occurred_on) from event_tags e where e.tag = coalesce(s.tag, p.tag)) end as latest from tag_stats s full join pending p on p.tag = s.tag) counted where events > 0 order by events desc, tag asc limit 101" \
    "select e.id from events e where true and e.deleted_at is null and exists (select 1 from event_companies ec where ec.event_id = e.id and ec.company_id = (select id from companies where slug = 'company-1')) order by e.occurred_on desc, e.id desc limit 21" \
    "select exists (select 1 from list_changes c where c.scope = any('{event-tag:$tag,*}') and c.xid >= pg_snapshot_xmin(pg_current_snapshot()) and not pg_visible_in_snapshot(c.xid, pg_current_snapshot())), pg_current_snapshot()::text"; do
    echo
    echo '```'
    echo "$q"
    explain "$q"
    echo '```'
  done
  echo
  echo "On generic plans, as the fixed-plan pool runs them (\`plan_cache_mode = force_generic_plan\`):"
  echo
  echo '```'
  explain_generic page "text, bigint" "select $columns from event_tags t join events e on e.id = t.event_id where t.tag = \$1 and e.deleted_at is null order by t.occurred_on desc, t.event_id desc limit \$2" "'$tag', 21"
  echo '```'
  echo
  echo '```'
  explain_generic page1000 "text, date, uuid, bigint" "select e.id from event_tags t join events e on e.id = t.event_id where t.tag = \$1 and e.deleted_at is null and (t.occurred_on, t.event_id) < (\$2, \$3) order by t.occurred_on desc, t.event_id desc limit \$4" "'$tag', '$c_date', '$c_id', 21"
  echo '```'
  echo
  echo '```'
  explain_generic by_slug "text" "select e.id from events e where e.slug = \$1 and e.deleted_at is null" "'ev-1'"
  echo '```'
)

# Keep the hand-written analysis that follows the marker line.
marker='<!-- analysis: written by hand; bench/run.sh keeps everything from this line on -->'
if [ -f "$out" ] && grep -qF "$marker" "$out"; then
  analysis=$(sed -n "\|^$marker|,\$p" "$out")
else
  analysis="$marker

## Against the targets

(Compare the numbers above with the targets of the benchmark issue here.)"
fi
printf '%s\n\n%s\n' "$measured" "$analysis" > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
