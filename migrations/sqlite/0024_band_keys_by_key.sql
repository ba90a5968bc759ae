-- Band keys are found by key alone (issue 15). Ingest replaces a changed item's band keys
-- through the primary key, from the keys of the signature it had stored, so the index by item
-- is left to the deletion of items, which relais never does (an operator's delete still
-- removes their band keys, the trigger of 0022 reading the table once per deleted item).
-- Inserting a first fetch's 400,000 band keys in 64 groups measured 3.2–3.4 s with it and
-- 2.3 s without (Python's sqlite3). `items_story` was read by no query: every read goes
-- through `coalesce(story_id, id)`, which has its own index.
drop index item_bands_item;
drop index items_story;
