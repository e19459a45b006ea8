-- An event's companies and deals, as every read shows them, kept in the event's own row.
--
-- Reading them through the link tables cost two small joins per event returned (40 for a
-- page of 20), about half of the database's work for the hottest list. The link tables
-- stay the source of truth for filters and foreign keys; these two columns are their
-- rendering, written by the same statement that writes the event, and rewritten here
-- when a company or deal they show is renamed or a deal is deleted. Such a rewrite is
-- an update of the event, so its version and `updated_at` move and its ETag changes:
-- what a client sees of the event did change.

-- The one definition of the JSON of an event's companies: ids and roles in order.
create function event_company_links(company_ids uuid[], roles text[]) returns json
language sql stable as $$
    select coalesce(json_agg(json_build_object('id', c.id, 'slug', c.slug, 'name', c.name,
                                               'role', l.role) order by l.position), '[]')
    from unnest(company_ids, roles) with ordinality as l (company_id, role, position)
    join companies c on c.id = l.company_id
$$;

-- The one definition of the JSON of an event's deals, in order.
create function event_partnership_links(partnership_ids uuid[]) returns json
language sql stable as $$
    select coalesce(json_agg(json_build_object('id', p.id, 'slug', p.slug, 'title', p.title)
                             order by l.position), '[]')
    from unnest(partnership_ids) with ordinality as l (partnership_id, position)
    join partnerships p on p.id = l.partnership_id
$$;

-- The same two, from what the link tables hold for one event.
create function event_company_links_of(event uuid) returns json
language sql stable as $$
    select event_company_links(array_agg(company_id order by position),
                               array_agg(role order by position))
    from event_companies where event_id = event
$$;

create function event_partnership_links_of(event uuid) returns json
language sql stable as $$
    select event_partnership_links(array_agg(partnership_id order by position))
    from event_partnerships where event_id = event
$$;

alter table events
    add column companies json not null default '[]',
    add column partnerships json not null default '[]';

-- Existing rows get their links without counting as an edit.
alter table events disable trigger events_bump_version;
alter table events disable trigger events_content_version;
update events e
   set companies = event_company_links_of(e.id),
       partnerships = event_partnership_links_of(e.id)
 where exists (select 1 from event_companies ec where ec.event_id = e.id)
    or exists (select 1 from event_partnerships ep where ep.event_id = e.id);
alter table events enable trigger events_bump_version;
alter table events enable trigger events_content_version;

-- A renamed company shows its new name and slug in every event that names it.
create function refresh_events_of_company() returns trigger
language plpgsql as $$
begin
    update events e
       set companies = event_company_links_of(e.id)
     where e.id in (select event_id from event_companies where company_id = new.id)
       and e.deleted_at is null;
    return null;
end
$$;

create trigger companies_refresh_events
    after update of slug, name on companies
    for each row
    when (old.slug is distinct from new.slug or old.name is distinct from new.name)
    execute function refresh_events_of_company();

-- A renamed deal likewise.
create function refresh_events_of_partnership() returns trigger
language plpgsql as $$
begin
    update events e
       set partnerships = event_partnership_links_of(e.id)
     where e.id in (select event_id from event_partnerships where partnership_id = new.id)
       and e.deleted_at is null;
    return null;
end
$$;

create trigger partnerships_refresh_events
    after update of slug, title on partnerships
    for each row
    when (old.slug is distinct from new.slug or old.title is distinct from new.title)
    execute function refresh_events_of_partnership();

-- A deleted deal leaves the events that named it. The links are removed here, before
-- the row goes, so the rewrite sees the event's remaining deals (the cascade would
-- remove them only after this statement's triggers could look).
create function unlink_deleted_partnership() returns trigger
language plpgsql as $$
declare
    named uuid[];
begin
    select array_agg(event_id) into named
      from event_partnerships where partnership_id = old.id;
    if named is not null then
        delete from event_partnerships where partnership_id = old.id;
        update events e
           set partnerships = event_partnership_links_of(e.id)
         where e.id = any(named) and e.deleted_at is null;
    end if;
    return old;
end
$$;

create trigger partnerships_unlink_events
    before delete on partnerships
    for each row execute function unlink_deleted_partnership();
