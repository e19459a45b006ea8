-- The link tables' list-change triggers go: every write of an event's link rows also
-- writes the event's row, whose own triggers note the same scopes.
--
-- `event_companies` and `event_partnerships` noted the scope `event` and the tags of
-- the events whose links changed (looking those events up again). But links change
-- only with their event: a write stores the row (its `companies` and `partnerships`
-- JSON) and then replaces its link rows; a delete leaves a tombstone and drops them; a
-- deal's deletion rewrites the JSON of the events that named it before the cascade
-- removes their link rows; a company that events name cannot be deleted. Each of those
-- updates the `events` row, and `note_changed_rows` on `events` notes `event` and the
-- row's tags before and after. The link notes were therefore the same notes again, at
-- about a twentieth of an import's time (one more statement trigger per batch, and a
-- lookup of every linked event). A write that changed link rows without its event's
-- row would now go unnoticed by list caches, so none may: the repository writes links
-- only together with their event.
drop trigger event_companies_list_insert on event_companies;
drop trigger event_companies_list_update on event_companies;
drop trigger event_companies_list_delete on event_companies;
drop trigger event_partnerships_list_insert on event_partnerships;
drop trigger event_partnerships_list_update on event_partnerships;
drop trigger event_partnerships_list_delete on event_partnerships;
