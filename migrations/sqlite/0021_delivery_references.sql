-- Nothing to change here. PostgreSQL's migration of the same number checks the ledger's
-- references once per statement instead of once per row, because its per-row check also
-- locked the referenced row: most of a million-recipient freeze. SQLite checks a foreign key
-- with one lookup in the same process and locks nothing per row.
select 1;
