-- `items_status_fetched` (status, fetched_at), from the first schema, serves no query: the
-- lists order by `coalesce(published_at, fetched_at)` (`items_status_published`,
-- `items_published`), and the desk's sparklines read `fetched_at` alone, which an index led by
-- the status cannot seek. Every item inserted still paid for it: one of the ten b-trees a
-- first fetch's 25,000 items are written into (issue 15).
drop index items_status_fetched;
