#!/usr/bin/env bash
# Loads the benchmark data set into a database that has the service's schema (run
# `industry-events migrate` first).
# Usage: bench/load.sh DBNAME [EVENTS]   (default 1,000,000 events)
#
# How it stays fast on two cores: every table is written with COPY (ids come from the
# generator, so no join resolves them); triggers and foreign-key checks are off
# (session_replication_role=replica) and the derived tables (event_tags, tag_stats) are
# filled with one set-based statement each, which is what the triggers would have
# produced; secondary indexes and the link tables' keys are dropped first and built
# once at the end, in two sessions at a time; events stream from two generator shards.
set -euo pipefail
db=$1
events=${2:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
export PGOPTIONS="-c session_replication_role=replica -c maintenance_work_mem=512MB"
psql_() { psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -U postgres -d "$db" "$@"; }
copy() { # table, columns, generator table, [shard/shards]
  python3 "$here/generate.py" "$3" "$events" "${4:-0/1}" | psql_ -c "\\copy $1 ($2) from stdin with (format csv)"
}
start=$(date +%s.%N)
step_start=$start
step() { # prints how long the step that just ended took
  local now
  now=$(date +%s.%N)
  printf '  %-40s %6.1f s\n' "$1" "$(echo "$now - $step_start" | bc)"
  step_start=$now
}
tables="'events','event_tags','event_companies','event_partnerships','partnership_parties','companies','partnerships'"

psql_ <<SQL
truncate events, companies, partnerships, event_tags, tag_stats, audit_log cascade;
-- What to rebuild after the load: secondary indexes, and the keys of the link tables
-- (no foreign key depends on them). Kept in a table in case a load is interrupted.
create table if not exists bench_rebuild (name text primary key, ddl text not null, kind text not null);
insert into bench_rebuild
  select i.indexname, i.indexdef, 'index' from pg_indexes i
  where i.schemaname = 'public' and i.tablename in ($tables)
    and not exists (select 1 from pg_constraint c where c.conindid = format('%I', i.indexname)::regclass)
  union all
  select c.conname, format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname,
                           pg_get_constraintdef(c.oid)), 'key'
  from pg_constraint c
  where c.contype in ('p', 'u') and c.conrelid::regclass::text in ('event_tags', 'event_companies', 'event_partnerships', 'partnership_parties')
on conflict (name) do nothing;
do \$\$
declare r record;
begin
  for r in select b.name, b.kind, c.conrelid::regclass as rel from bench_rebuild b left join pg_constraint c on c.conname = b.name loop
    if r.kind = 'index' then
      execute format('drop index if exists %I', r.name);
    elsif r.rel is not null then
      execute format('alter table %s drop constraint %I', r.rel, r.name);
    end if;
  end loop;
end
\$\$;
SQL
step "truncate, drop indexes"

copy companies "id, slug, name, kind, country, website, description, tags" companies
copy partnerships "id, slug, title, kind, status, announced_on, total_amount, total_currency, terms, exclusive, tags" partnerships
copy partnership_parties "partnership_id, company_id, role, position" parties
step "companies, partnerships, parties"

event_columns="id, slug, title, occurred_on, category, significance, summary, what_happened, why_it_matters, tags, sources, companies, partnerships"
copy events "$event_columns" events 0/2 &
first=$!
copy events "$event_columns" events 1/2
wait $first
step "events (two streams)"

copy event_companies "event_id, company_id, role, position" event_companies 0/2 &
first=$!
copy event_companies "event_id, company_id, role, position" event_companies 1/2
wait $first
copy event_partnerships "event_id, partnership_id, position" event_partnerships
step "event_companies, event_partnerships"

psql_ <<'SQL'
insert into event_tags (tag, occurred_on, event_id)
  select t, occurred_on, id from events, unnest(tags) t where deleted_at is null;
insert into tag_stats (tag, events, latest)
  select tag, count(*), max(occurred_on) from event_tags group by tag;
SQL
step "event_tags, tag_stats"

# Rebuild: keys first (the biggest builds), two sessions at a time.
psql_ -Atc "select ddl from bench_rebuild order by kind = 'index', name" > "${TMPDIR:-/tmp}/bench_rebuild.$$"
while IFS= read -r ddl; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  psql_ -c "$ddl" &
done < "${TMPDIR:-/tmp}/bench_rebuild.$$"
for job in $(jobs -p); do wait "$job"; done
rm -f "${TMPDIR:-/tmp}/bench_rebuild.$$"
psql_ -c "drop table bench_rebuild"
step "indexes and keys"

vacuumdb -q -h 127.0.0.1 -U postgres -d "$db" -j 2 --analyze \
  -t events -t event_tags -t tag_stats -t companies -t partnerships \
  -t event_companies -t partnership_parties -t event_partnerships
step "vacuum (analyze)"

end=$(date +%s.%N)
printf 'loaded %s events in %.1f s\n' "$events" "$(echo "$end - $start" | bc)"
psql_ -Atc "select 'events', count(*) from events union all select 'event_tags', count(*) from event_tags union all select 'companies', count(*) from companies union all select 'partnerships', count(*) from partnerships union all select 'event_companies', count(*) from event_companies" | tr '|' ' '
