-- A person receives an issue once, whatever the dispatches: each delivery names its issue
-- (copied from its dispatch when the audience is frozen) and (issue_id, subscriber_id) is
-- unique, so two dispatches frozen at the same moment cannot both queue the same person.
alter table deliveries add column issue_id integer references issues (id);
update deliveries
   set issue_id = (select x.issue_id from dispatches x where x.id = deliveries.dispatch_id);
-- Second copies queued before this migration: the ones not yet attempted are cancelled, and
-- every second copy keeps a null issue_id (it stays in the counts as history).
update deliveries
   set issue_id = null,
       state = case when state in ('queued', 'deferred') then 'skipped' else state end,
       last_reply = case when state in ('queued', 'deferred')
                         then 'copie en double annulée : la personne a déjà ce numéro'
                         else last_reply end
 where id in (select id from (select id, row_number() over (
                  partition by issue_id, subscriber_id order by id) as n
                from deliveries where subscriber_id is not null) as copies
              where n > 1);
create unique index deliveries_issue_subscriber_key on deliveries (issue_id, subscriber_id);
