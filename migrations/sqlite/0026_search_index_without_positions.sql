-- The search index keeps which items hold each word, not where in them (issue 15). Searches
-- are words matched as prefixes, all required (`domain::search::fts5_query`): no phrase, no
-- NEAR, no ranking, no snippet, so FTS5's positions (detail=full) and per-item word counts
-- (columnsize) were written for every item and never read. The words are relais' folded text,
-- `[a-z0-9]` words separated by single spaces, which the `ascii` tokenizer splits as
-- `unicode61` did, without its Unicode tables. The same items match every search.
-- The triggers of 0025 stay: they are on `items` and name `items_fts`, which is made again here.
drop table items_fts;
create virtual table items_fts using fts5(
    search_text, content = 'items', content_rowid = 'id',
    tokenize = 'ascii', detail = none, columnsize = 0
);
insert into items_fts (items_fts) values ('rebuild');
