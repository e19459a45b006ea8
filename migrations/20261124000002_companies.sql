-- Companies: the organisations events and deals name.

-- Case-insensitive substring search on names (`q`) needs trigram indexes; a btree
-- cannot serve `like '%x%'`.
create extension if not exists pg_trgm;

create table companies (
    id           uuid primary key,                 -- v7: time-ordered, a good tie-breaker
    slug         text not null check (length(slug) <= 100),
    name         text not null check (length(name) between 1 and 300),
    kind         text not null check (kind in
                     ('ai_lab', 'cloud_provider', 'chipmaker', 'investor', 'regulator',
                      'enterprise', 'other')),
    country      text check (country ~ '^[A-Z]{2}$'), -- ISO 3166-1 alpha-2; the app checks the list
    website      text,                             -- http or https, checked by the app
    description  text not null default '',
    tags         text[] not null default '{}',
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    version      bigint not null default 1,
    -- Companies are hard-deleted (no tombstones), so every slug stays unique.
    constraint companies_slug_key unique (slug)
);

comment on column companies.country is
    'ISO 3166-1 alpha-2, uppercase; null for bodies that are not one country''s (e.g. the EU).';
comment on column companies.tags is
    'Normalised tags; `tag=` filters use the GIN index below (all-of via @>).';

-- The list's only order: name, then id so the order is total and keyset seeks are a
-- row comparison this index serves.
create index companies_name_idx on companies (name, id);
-- `q`: lower(name) like '%...%', case-insensitive substring match.
create index companies_name_trgm_idx on companies using gin (lower(name) gin_trgm_ops);
-- `tag=` (all of them): tags @> array[...].
create index companies_tags_idx on companies using gin (tags);

-- The same trigger as events: version and updated_at can never be forgotten, and the
-- identity columns cannot be rewritten.
create trigger companies_bump_version
    before update on companies
    for each row execute function bump_version();
