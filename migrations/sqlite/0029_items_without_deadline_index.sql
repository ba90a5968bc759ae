-- `items_deadline` (coalesce(edited_deadline, deadline)), from the desk's first schema, serves
-- no query: the inbox's « date limite avant » filter reads the partial index of the items that
-- have a deadline (`items_with_deadline`, which carries the deadline), and nothing else filters
-- or orders on it. Every item inserted still paid for it: one more b-tree a first fetch's
-- 25,000 items are written into (issue 15).
drop index items_deadline;

-- The search index merges its segments less eagerly: 16 segments of a level are merged into
-- one of the next instead of 4 (FTS5's `automerge`, which `crisismerge`, 16 by default, still
-- bounds). A first fetch of 25,000 items writes each of its groups as new segments, which the
-- default merged again and again inside the ingest transaction (issue 15).
insert into items_fts (items_fts, rank) values ('automerge', 16);
