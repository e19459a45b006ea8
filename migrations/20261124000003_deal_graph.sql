-- The deal graph: partnerships with their parties, tranches and terms; the companies
-- and partnerships an event names. Foreign keys everywhere, so the database itself
-- refuses a dangling link; `restrict` on companies so a named company cannot vanish.

create table partnerships (
    id              uuid primary key,
    slug            text not null check (length(slug) <= 100),
    title           text not null check (length(title) between 1 and 300),
    kind            text not null check (kind in
                        ('investment', 'cloud', 'chips', 'distribution', 'acquisition',
                         'licensing', 'research', 'other')),
    status          text not null check (status in
                        ('announced', 'active', 'completed', 'under_review', 'ended')),
    announced_on    date not null,
    ended_on        date check (ended_on >= announced_on),
    -- Exact money: numeric keeps every digit and the scale the client wrote.
    total_amount    numeric check (total_amount >= 0),
    total_currency  text check (total_currency ~ '^[A-Z]{3}$'),
    terms           text[] not null default '{}',
    exclusive       boolean not null default false,
    tags            text[] not null default '{}',
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    version         bigint not null default 1,
    constraint partnerships_slug_key unique (slug),
    constraint partnerships_total_whole check ((total_amount is null) = (total_currency is null))
);

-- The list's order (newest announced first) and the `from`/`to` range on it.
create index partnerships_announced_on_idx on partnerships (announced_on, id);
create index partnerships_tags_idx on partnerships using gin (tags);

create trigger partnerships_bump_version
    before update on partnerships
    for each row execute function bump_version();

create table partnership_parties (
    partnership_id  uuid not null references partnerships (id) on delete cascade,
    company_id      uuid not null references companies (id) on delete restrict,
    role            text not null check (role in
                        ('investor', 'investee', 'acquirer', 'acquired', 'partner', 'regulator',
                         'subject', 'customer', 'supplier', 'other')),
    position        smallint not null,             -- the order the client gave
    primary key (partnership_id, company_id, role)
);
-- "Deals in which company X is a party", and the delete check on companies.
create index partnership_parties_company_idx on partnership_parties (company_id);

create table partnership_tranches (
    partnership_id  uuid not null references partnerships (id) on delete cascade,
    position        smallint not null,
    amount          numeric not null check (amount > 0),
    currency        text not null check (currency ~ '^[A-Z]{3}$'),
    paid_on         date not null,
    note            text not null default '',
    primary key (partnership_id, position)
);

create table event_companies (
    event_id    uuid not null references events (id) on delete cascade,
    company_id  uuid not null references companies (id) on delete restrict,
    role        text not null check (role in
                    ('investor', 'investee', 'acquirer', 'acquired', 'partner', 'regulator',
                     'subject', 'customer', 'supplier', 'other')),
    position    smallint not null,
    primary key (event_id, company_id, role)
);
-- `company=` (and `role=`) filters and /companies/{ref}/events start from the company.
create index event_companies_company_idx on event_companies (company_id, role, event_id);

create table event_partnerships (
    event_id        uuid not null references events (id) on delete cascade,
    partnership_id  uuid not null references partnerships (id) on delete cascade,
    position        smallint not null,
    primary key (event_id, partnership_id)
);
-- A deal's timeline starts from the deal.
create index event_partnerships_partnership_idx on event_partnerships (partnership_id);
