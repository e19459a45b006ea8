-- A rename of a company or deal waits for the transactions linking events to it.
--
-- An event shows the names of its companies and deals (its `companies` and
-- `partnerships` columns), and a rename rewrites the events that name the record
-- (`refresh_events_of_company`, `refresh_events_of_partnership`). That rewrite cannot
-- see an event linked by a transaction still under way, so such an event kept the old
-- name. A write that links events now locks the records it names as it reads their
-- names (`FOR KEY SHARE`, in the same transaction), and a rename first locks its record
-- `FOR UPDATE`, which waits for those transactions to end: its rewrite then sees their
-- links. A write that reads the names while a rename is under way waits for the rename
-- (the lock a rename holds is now the stronger one) and reads the new name.
--
-- The repository's write paths already lock a record `FOR UPDATE` before they change
-- it; the triggers below make any rename do so.

-- One function for both tables, each statement static (planned once a session).
create function lock_renamed_row() returns trigger
language plpgsql as $$
begin
    if tg_table_name = 'companies' then
        perform 1 from companies where id = old.id for update;
    elsif tg_table_name = 'partnerships' then
        perform 1 from partnerships where id = old.id for update;
    else
        raise exception 'lock_renamed_row() does not know the table %', tg_table_name;
    end if;
    return new;
end
$$;

create trigger companies_lock_renamed
    before update of slug, name on companies
    for each row
    when (old.slug is distinct from new.slug or old.name is distinct from new.name)
    execute function lock_renamed_row();

create trigger partnerships_lock_renamed
    before update of slug, title on partnerships
    for each row
    when (old.slug is distinct from new.slug or old.title is distinct from new.title)
    execute function lock_renamed_row();
