-- Nothing to change here. SQLite's migration of the same number makes its FTS5 search index
-- read the words from `items` instead of keeping its own copy; PostgreSQL's `search_vector`
-- is a column of `items` already.
select 1;
