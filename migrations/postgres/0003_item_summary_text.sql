-- The plain text of an item's summary, computed once at ingest so that pages and renders
-- never parse a summary's HTML again. Null for items stored before; the watch fills it.
alter table items add column summary_text text;
