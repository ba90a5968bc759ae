-- Nothing to change here. SQLite's migration of the same number drops its search index's
-- word positions and counts, which no search reads; PostgreSQL's `search_vector` has had no
-- positions since 0022.
select 1;
