-- The audit rows keep the record's representation as `json` (its text, checked) instead
-- of `jsonb` (parsed into a binary tree).
--
-- Every write sends its records' representations for its audit rows, and the database
-- parsed each into jsonb: in an import, about a ninth of the writing backend's time
-- (profiled: `jsonb_recv`; bench/RESULTS.md, seventh round). Nothing reads the audit's
-- data by path where that tree would pay off: revisions and the change feed hand the
-- document back whole (as `json` it goes out as stored, with no conversion back to
-- text), and the change feed's full-text match of an old revision reads four fields of
-- the few revisions it looks at. The column's type changes with a rewrite of the table,
-- once; rows written before keep the key order jsonb gave them.
alter table audit_log alter column data type json using data::json;
-- The rewrite keeps the column's compression; said again so the intent stays visible.
alter table audit_log alter column data set compression lz4;
