-- Nothing to change here: PostgreSQL's migration of the same number stops compressing item
-- rows that fit in a page; SQLite never compresses them.
select 1;
