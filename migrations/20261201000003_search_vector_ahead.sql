-- An event's search vector may be computed ahead, on another connection.
--
-- The weighted `tsvector` was a generated column, computed by whichever statement wrote
-- the row. For an import that is the largest single cost of an event insert (a plain
-- COPY of 20,000 short events: about 5.5 s with the generated column, 3.0 s when the
-- same vectors arrive ready-made), and it ran on the one core the import's transaction
-- uses while the machine's other core waited. A generated column cannot be given a
-- value, so the column becomes a plain one that a trigger fills from the one definition
-- below whenever a write leaves it empty or changes the texts without it. An import
-- computes the vectors of each batch with the same function on a second connection
-- (outside its transaction: the function is pure) while it writes the batch before,
-- and sends them with the rows.
--
-- Only the repository writes this column, and only with what `event_search_vector`
-- returned for the same texts; the triggers recompute it for any other write.

-- The one definition of an event's search vector: title first, then the summary, then
-- the two long texts.
create function event_search_vector(title text, summary text, what_happened text,
                                    why_it_matters text)
returns tsvector
language sql immutable parallel safe
return setweight(to_tsvector('english', title), 'A')
    || setweight(to_tsvector('english', summary), 'B')
    || setweight(to_tsvector('english', what_happened), 'C')
    || setweight(to_tsvector('english', why_it_matters), 'C');

-- Catalog-only: the stored vectors and the GIN index stay as they are.
alter table events alter column search drop expression;

create function fill_event_search() returns trigger
language plpgsql as $$
begin
    new.search := event_search_vector(new.title, new.summary, new.what_happened,
                                      new.why_it_matters);
    return new;
end
$$;

-- A row written without a vector gets one; so does a row whose texts change while its
-- vector does not (a write that did not send one).
create trigger events_search_on_insert
    before insert on events
    for each row when (new.search is null)
    execute function fill_event_search();
create trigger events_search_on_update
    before update on events
    for each row when (
        new.search is null
        or (new.search is not distinct from old.search
            and (new.title, new.summary, new.what_happened, new.why_it_matters)
                is distinct from (old.title, old.summary, old.what_happened, old.why_it_matters)))
    execute function fill_event_search();

-- Derived data: kept right even by a session that turns ordinary triggers off (the
-- bench kit's bulk load does, `session_replication_role = replica`).
alter table events enable always trigger events_search_on_insert;
alter table events enable always trigger events_search_on_update;
