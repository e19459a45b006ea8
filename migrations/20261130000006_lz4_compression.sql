-- Long values are compressed with lz4 rather than pglz: a whole-table read of events
-- (an export, a big list page) spent a fifth of the database's time in pglz_decompress,
-- and lz4 decompresses several times faster at a similar ratio for this text
-- (measured in bench/RESULTS.md: a COPY of 100,000 events' exported columns, 3.4 s with
-- pglz, 2.6 s with lz4, in the export's order). Only values written from now on are
-- affected; existing ones are read as they were written. Catalog-only: instant.
alter table events
    alter column title set compression lz4,
    alter column summary set compression lz4,
    alter column what_happened set compression lz4,
    alter column why_it_matters set compression lz4,
    alter column sources set compression lz4,
    alter column companies set compression lz4,
    alter column partnerships set compression lz4,
    alter column search set compression lz4;
alter table companies
    alter column description set compression lz4;
alter table audit_log
    alter column data set compression lz4;
