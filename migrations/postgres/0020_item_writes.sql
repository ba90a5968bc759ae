-- Band keys and tags are written by ingest alone, for items it has just written or read in the
-- same transaction (issue 15). Their foreign keys checked every inserted row by locking its
-- item (FOR KEY SHARE), one more write per row: over half of storing a first fetch's 400,000
-- band keys. Deleting items still deletes their band keys and tags, through one trigger per
-- statement instead of the cascades.
alter table item_bands drop constraint item_bands_item_id_fkey;
alter table item_tags drop constraint item_tags_item_id_fkey;

create function items_deleted() returns trigger language plpgsql as $$
begin
    delete from item_bands b using gone g where b.item_id = g.id;
    delete from item_tags t using gone g where t.item_id = g.id;
    return null;
end
$$;

create trigger items_deleted after delete on items referencing old table as gone
    for each statement execute function items_deleted();

-- An item's texts (about 3 KB with its search words) pass the 2 KB past which a row is
-- compressed: pglz took about a quarter of inserting a first fetch's items, LZ4 a fraction of
-- that. Values already stored stay as they are; a server built without LZ4 keeps pglz.
do $$
begin
    execute 'alter table items alter column summary set compression lz4, '
        'alter column summary_text set compression lz4, '
        'alter column search_text set compression lz4, '
        'alter column search_vector set compression lz4';
exception when feature_not_supported or syntax_error then
    raise notice 'LZ4 compression unavailable, items keep pglz';
end
$$;
