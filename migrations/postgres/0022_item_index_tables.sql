-- Nothing to change here. SQLite's migration of the same number makes band keys and tags
-- tables clustered on their primary key, without foreign keys; PostgreSQL dropped those keys
-- in 0020, and has no clustered tables.
select 1;
