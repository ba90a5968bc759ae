-- Bounce and complaint reports (`relais bounces ingest`, the daemon's bounce maildir): one row
-- per report and delivery, so that reading a report again changes nothing.
create table bounces (
    id integer primary key,
    delivery_id integer not null references deliveries (id),
    -- Null once the person is erased.
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
create index bounces_subscriber on bounces (subscriber_id, kind);
create index bounces_delivery on bounces (delivery_id);

-- An address suppressed after too many soft bounces says so. SQLite changes a check
-- constraint by rebuilding the table.
create table suppressions_new (
    email_hash text primary key,
    reason text not null
        constraint suppressions_reason_check check (reason in ('hard-bounce', 'soft-bounces', 'complaint', 'erased', 'staff')),
    created_at text not null
);
insert into suppressions_new (email_hash, reason, created_at)
    select email_hash, reason, created_at from suppressions;
drop table suppressions;
alter table suppressions_new rename to suppressions;
