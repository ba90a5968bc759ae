-- Sending updates each delivery three times (claimed, attempt started, outcome). On
-- PostgreSQL an update that changes no indexed column can be HOT: the new row version stays
-- in the same page and no index gets a new entry. The claim's partial index named `state` in
-- its predicate and another index held `lease_owner`, so every one of those updates wrote an
-- entry into each of the table's six indexes (issue 15).
--
-- A row now says when it was settled (sent, failed, skipped or unknown: nothing more to try
-- unless an editor asks). Rows still to try are those not settled; the claim's index holds
-- them, and it changes once per row, when its outcome settles it. The claim and the attempt's
-- mark change no indexed column.
alter table deliveries add column settled_at timestamptz;
update deliveries set settled_at = updated_at where state in ('sent', 'failed', 'skipped', 'unknown');
drop index deliveries_due;
drop index deliveries_leased;
create index deliveries_due on deliveries (dispatch_id, id) where settled_at is null;
-- Room in each page for the new versions of its rows while they are being sent.
alter table deliveries set (fillfactor = 70);
