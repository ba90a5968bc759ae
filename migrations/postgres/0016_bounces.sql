-- Bounce and complaint reports (`relais bounces ingest`, the daemon's bounce maildir): one row
-- per report and delivery, so that reading a report again changes nothing.
create table bounces (
    id bigint generated always as identity primary key,
    delivery_id bigint not null references deliveries (id),
    -- Null once the person is erased.
    subscriber_id bigint references subscribers (id) on delete set null,
    kind text not null
        constraint bounces_kind_check check (kind in ('hard', 'soft', 'policy', 'complaint', 'other')),
    status text,
    diagnostic text,
    -- SHA-256 of the report as received.
    report_hash text not null,
    created_at timestamptz not null,
    constraint bounces_report_key unique (report_hash, delivery_id)
);
create index bounces_subscriber on bounces (subscriber_id, kind);
create index bounces_delivery on bounces (delivery_id);

-- An address suppressed after too many soft bounces says so.
alter table suppressions drop constraint suppressions_reason_check;
alter table suppressions add constraint suppressions_reason_check
    check (reason in ('hard-bounce', 'soft-bounces', 'complaint', 'erased', 'staff'));
