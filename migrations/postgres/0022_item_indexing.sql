-- Search words become lexemes by splitting the folded text on its spaces (issue 15). The text
-- is already folded by relais into words of [a-z0-9] separated by single spaces (see
-- `domain::search`), which is all `to_tsvector('simple', …)` did with it; its parser took
-- 80 µs an item, most of inserting a first fetch's items (to_tsvector 2.5 s against
-- array_to_tsvector 1.25 s for 25,000 items, no index; the same lexemes for all of them,
-- checked). Queries use prefixes without positions, so lexemes without positions find the
-- same items. SQLite's migration of the same number makes band keys and tags clustered
-- tables; PostgreSQL dropped their foreign keys in 0020.

-- Relais now cuts search words to 64 characters; a word past 2047 bytes, which to_tsvector
-- skipped, would make array_to_tsvector fail. Stored texts are cut the same way first.
update items set search_text = regexp_replace(search_text, '([a-z0-9]{64})[a-z0-9]+', '\1', 'g')
    where search_text ~ '[a-z0-9]{65}';

drop index items_search;
alter table items drop column search_vector;
-- `array_remove` of empty strings: never any in folded text, but array_to_tsvector refuses them.
alter table items add column search_vector tsvector generated always as
    (array_to_tsvector(array_remove(string_to_array(coalesce(search_text, ''), ' '), ''))) stored;
create index items_search on items using gin (search_vector);

do $$
begin
    execute 'alter table items alter column search_vector set compression lz4';
exception when feature_not_supported or syntax_error then
    raise notice 'LZ4 compression unavailable, search words keep pglz';
end
$$;
