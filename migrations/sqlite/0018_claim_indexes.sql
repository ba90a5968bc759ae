-- The claim reads one dispatch's due rows in the order it sends them and stops at the claim's
-- size (issue 15). The former index on (state, next_attempt_at) made every claim read all the
-- queued rows and sort them: a claim cost grew with the audience, about 2,700 rows read per
-- claim for a 5,000-recipient send, and a million-recipient send would pay that per claim.
-- A partial index holds only the rows still to send, so it shrinks as the send goes on.
drop index deliveries_claim;
create index deliveries_due on deliveries (dispatch_id, id)
    where state in ('queued', 'deferred');
-- Rows leased to a process (claimed, or in flight): what recovery and a stopping process's
-- release look for, a handful at any moment among millions.
create index deliveries_leased on deliveries (lease_owner) where lease_owner is not null;
