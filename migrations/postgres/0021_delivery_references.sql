-- A freeze inserts one delivery per recipient in one statement: a million rows for a large
-- audience (issue 15). Each of the ledger's three foreign keys checked every one of those rows
-- on its own, by a query that also locked the referenced row (FOR KEY SHARE): measured on a
-- 300,000-recipient freeze, 57 % of its time. The references are now checked once per
-- statement, over all the rows it wrote: a join of the new rows with the dispatches, issues
-- and subscribers they name.
--
-- What the keys also did on the other side is kept, per statement too: deleting a subscriber
-- clears the reference of its deliveries (as `on delete set null` did), deleting a dispatch or
-- an issue that deliveries name is refused. relais itself deletes none of them (erasing a
-- person anonymises the row); these guard manual changes. Unlike the keys, the checks take no
-- lock on the rows they find: a delete committed by another session while a freeze runs is
-- not seen by it. Nothing in relais deletes those rows, so nothing races.
alter table deliveries drop constraint deliveries_dispatch_id_fkey;
alter table deliveries drop constraint deliveries_issue_id_fkey;
alter table deliveries drop constraint deliveries_subscriber_id_fkey;

-- The dispatches and issues are checked over the distinct pairs the rows name (one for a
-- freeze). The subscribers are counted rather than looked for with `limit 1`: a limit made
-- the planner probe the primary key once per row (3 s for a million rows), a count lets it
-- hash the subscribers instead when the rows are many (0.9 s), and probe when they are few.
create function deliveries_check_references() returns trigger language plpgsql as $$
declare
    missing text;
    orphans bigint;
begin
    select 'dispatch ' || a.dispatch_id || ' or issue ' || coalesce(a.issue_id::text, '-')
        into missing
        from (select distinct dispatch_id, issue_id from added) a
        where not exists (select 1 from dispatches x where x.id = a.dispatch_id)
           or (a.issue_id is not null
               and not exists (select 1 from issues i where i.id = a.issue_id))
        limit 1;
    if missing is null then
        select count(*) into orphans
            from added a
            where a.subscriber_id is not null
              and not exists (select 1 from subscribers s where s.id = a.subscriber_id);
        if orphans > 0 then
            missing := orphans || ' subscriber(s)';
        end if;
    end if;
    if missing is not null then
        raise exception 'a delivery names % which does not exist', missing
            using errcode = 'foreign_key_violation';
    end if;
    return null;
end
$$;

create trigger deliveries_inserted after insert on deliveries referencing new table as added
    for each statement execute function deliveries_check_references();
-- An update that changes a reference is checked row by row: relais never makes one (erasing a
-- person clears it), and the ledger's own updates, which name none of these columns, do not
-- fire it at all.
create function deliveries_check_changed_references() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from dispatches x where x.id = new.dispatch_id)
        or (new.issue_id is not null and not exists (select 1 from issues i where i.id = new.issue_id))
        or (new.subscriber_id is not null
            and not exists (select 1 from subscribers s where s.id = new.subscriber_id)) then
        raise exception 'delivery % names a row which does not exist', new.id
            using errcode = 'foreign_key_violation';
    end if;
    return null;
end
$$;

create trigger deliveries_references_changed
    after update of dispatch_id, issue_id, subscriber_id on deliveries for each row
    when (new.dispatch_id is distinct from old.dispatch_id
          or new.issue_id is distinct from old.issue_id
          or (new.subscriber_id is not null and new.subscriber_id is distinct from old.subscriber_id))
    execute function deliveries_check_changed_references();

create function subscribers_deleted() returns trigger language plpgsql as $$
begin
    update deliveries d set subscriber_id = null from gone g where d.subscriber_id = g.id;
    return null;
end
$$;

create trigger subscribers_deleted after delete on subscribers referencing old table as gone
    for each statement execute function subscribers_deleted();

create function delivery_parents_deleted() returns trigger language plpgsql as $$
begin
    if tg_table_name = 'dispatches' then
        perform 1 from deliveries d join gone g on d.dispatch_id = g.id limit 1;
    else
        perform 1 from deliveries d join gone g on d.issue_id = g.id limit 1;
    end if;
    if found then
        raise exception 'deliveries still name a deleted row of %', tg_table_name
            using errcode = 'foreign_key_violation';
    end if;
    return null;
end
$$;

create trigger dispatches_deleted after delete on dispatches referencing old table as gone
    for each statement execute function delivery_parents_deleted();
create trigger issues_deleted after delete on issues referencing old table as gone
    for each statement execute function delivery_parents_deleted();
