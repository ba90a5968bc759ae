-- Nothing to change here. PostgreSQL's migration of the same number drops the foreign keys of
-- band keys and tags, whose check locked each row's item, and compresses items' texts with
-- LZ4. SQLite checks a foreign key with one lookup in the same process, a small share of
-- storing a feed (changing one would mean rebuilding both tables), and compresses nothing.
select 1;
