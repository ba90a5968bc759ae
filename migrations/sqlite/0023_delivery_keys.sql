-- A freeze writes one delivery per recipient, and each row an entry in every unique index of
-- the ledger (issue 15). Two of them only repeated what `(issue_id, subscriber_id)` unique, the
-- rule that an issue reaches a person once, already guarantees: a dispatch belongs to one
-- issue and its rows carry it, so a person is unique within a dispatch, and the Message-ID
-- `<relais.DISPATCH.SUBSCRIBER@domain>` is unique because the pair is. PostgreSQL's migration
-- of the same number drops them; SQLite declared them in the table itself, so `deliveries` is
-- rebuilt without them, `issue_id` becoming `not null` (0005 filled it in for older rows).
-- `bounces`, which references it, is set aside and rebuilt as it was, so that no foreign key
-- ever names a missing row (they are checked during migrations).
create table bounces_kept as select * from bounces;
drop table bounces;

create table deliveries_new (
    id integer primary key,
    dispatch_id integer not null references dispatches (id),
    -- Null once the person is deleted (erasure keeps it): the row stays for the issue's counts.
    subscriber_id integer references subscribers (id) on delete set null,
    email text not null,
    state text not null default 'queued'
        constraint deliveries_state_check check (state in
            ('queued', 'sending', 'sent', 'deferred', 'failed', 'unknown', 'skipped')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    lease_owner text,
    lease_expires_at text,
    message_id text not null,
    last_reply text,
    sent_at text,
    created_at text not null,
    updated_at text not null,
    issue_id integer not null references issues (id),
    settled_at text
);
insert into deliveries_new (id, dispatch_id, subscriber_id, email, state, attempts,
        next_attempt_at, lease_owner, lease_expires_at, message_id, last_reply, sent_at,
        created_at, updated_at, issue_id, settled_at)
    select d.id, d.dispatch_id, d.subscriber_id, d.email, d.state, d.attempts,
        d.next_attempt_at, d.lease_owner, d.lease_expires_at, d.message_id, d.last_reply,
        d.sent_at, d.created_at, d.updated_at,
        coalesce(d.issue_id, (select x.issue_id from dispatches x where x.id = d.dispatch_id)),
        d.settled_at
    from deliveries d;
drop table deliveries;
alter table deliveries_new rename to deliveries;
create unique index deliveries_issue_subscriber_key on deliveries (issue_id, subscriber_id);
create index deliveries_due on deliveries (dispatch_id, id)
    where state in ('queued', 'deferred');
create index deliveries_leased on deliveries (lease_owner) where lease_owner is not null;

create table bounces (
    id integer primary key,
    delivery_id integer not null references deliveries (id),
    -- Null once the person is deleted.
    subscriber_id integer references subscribers (id) on delete set null,
    kind text not null
        constraint bounces_kind_check check (kind in ('hard', 'soft', 'policy', 'complaint', 'other')),
    status text,
    diagnostic text,
    -- SHA-256 of the report as received.
    report_hash text not null,
    created_at text not null,
    constraint bounces_report_key unique (report_hash, delivery_id)
);
insert into bounces (id, delivery_id, subscriber_id, kind, status, diagnostic, report_hash,
        created_at)
    select id, delivery_id, subscriber_id, kind, status, diagnostic, report_hash, created_at
    from bounces_kept;
drop table bounces_kept;
create index bounces_subscriber on bounces (subscriber_id, kind);
create index bounces_delivery on bounces (delivery_id);
