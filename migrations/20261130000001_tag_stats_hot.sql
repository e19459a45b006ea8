-- Tag counters updated in place (HOT): every event write updates one `tag_stats` row
-- per tag it touches, and the index on `(events desc, tag)` made each of those updates
-- a new row version plus new index entries (288,758 updates after 100,000 inserts left
-- 200 rows in 22 MB, none HOT). Without an index on the counted columns, and with room
-- left in each page, an update rewrites the row in its own page and the table stays a
-- few pages. `GET /v1/tags` then sorts the counters (hundreds to a few thousand rows)
-- instead of walking an index: still well under a millisecond.
drop index tag_stats_rank_idx;
alter table tag_stats set (fillfactor = 50);
