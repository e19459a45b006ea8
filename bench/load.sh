#!/usr/bin/env bash
# Loads the benchmark data set into a database that has the service's schema (the
# server migrates it at start; run `industry-events migrate` first otherwise).
# Usage: bench/load.sh DBNAME [EVENTS]   (default 1,000,000 events)
set -euo pipefail
db=$1
events=${2:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
psql_() { psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -U postgres -d "$db" "$@"; }
copy() { # table, columns, generator table name
  python3 "$here/generate.py" "$3" "$events" | psql_ -c "\\copy $1 ($2) from stdin with (format csv)"
}
start=$(date +%s.%N)
# Triggers off for the bulk load (they do per-row work); the derived tables are then
# filled with set-based statements, which is what the triggers would have produced.
psql_ <<'SQL'
truncate events, companies, partnerships, event_tags, tag_stats, audit_log cascade;
SQL
export PGOPTIONS="-c session_replication_role=replica"
copy companies "id, slug, name, kind, country, website, description, tags" companies
copy partnerships "id, slug, title, kind, status, announced_on, total_amount, total_currency, terms, exclusive, tags" partnerships
copy events "id, slug, title, occurred_on, category, significance, summary, what_happened, why_it_matters, tags, sources" events
psql_ <<'SQL'
create unlogged table if not exists bench_links (owner text, company text, role text, position smallint);
create unlogged table if not exists bench_deal_links (event text, deal text, position smallint);
truncate bench_links, bench_deal_links;
SQL
copy bench_links "owner, company, role, position" parties
psql_ -c "insert into partnership_parties select p.id, c.id, l.role, l.position from bench_links l join partnerships p on p.slug = l.owner join companies c on c.slug = l.company on conflict do nothing; truncate bench_links;"
copy bench_links "owner, company, role, position" event_companies
copy bench_deal_links "event, deal, position" event_partnerships
unset PGOPTIONS
psql_ <<'SQL'
insert into event_companies select e.id, c.id, l.role, l.position
  from bench_links l join events e on e.slug = l.owner join companies c on c.slug = l.company
  on conflict do nothing;
insert into event_partnerships select e.id, p.id, l.position
  from bench_deal_links l join events e on e.slug = l.event join partnerships p on p.slug = l.deal
  on conflict do nothing;
drop table bench_links, bench_deal_links;
insert into event_tags (tag, occurred_on, event_id)
  select distinct t, occurred_on, id from events, unnest(tags) t where deleted_at is null;
insert into tag_stats (tag, events, latest)
  select tag, count(*), max(occurred_on) from event_tags group by tag;
SQL
psql_ -c "vacuum (analyze) events, event_tags, tag_stats, companies, partnerships, event_companies, partnership_parties, event_partnerships"
end=$(date +%s.%N)
printf 'loaded %s events in %.1f s\n' "$events" "$(echo "$end - $start" | bc)"
psql_ -Atc "select 'events', count(*) from events union all select 'event_tags', count(*) from event_tags union all select 'companies', count(*) from companies union all select 'partnerships', count(*) from partnerships union all select 'event_companies', count(*) from event_companies" | tr '|' ' '
