-- Transactional mail (confirmation links now; sign-in links, moderation notices and editor
-- alerts next) goes through a ledger like the newsletters' deliveries: queued in the
-- transaction of the request that asks for it, worked by the same senders, retried on 4xx.
create table mails (
    id bigint generated always as identity primary key,
    kind text not null
        constraint mails_kind_check check (kind in ('confirmation')),
    -- Null once the person is erased; the address goes with them.
    subscriber_id bigint references subscribers (id) on delete set null,
    email text not null,
    state text not null default 'queued'
        constraint mails_state_check check (state in
            ('queued', 'sending', 'sent', 'deferred', 'failed', 'unknown', 'skipped')),
    attempts bigint not null default 0,
    next_attempt_at timestamptz not null,
    lease_owner text,
    lease_expires_at timestamptz,
    message_id text not null constraint mails_message_id_key unique,
    last_reply text,
    sent_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index mails_claim on mails (state, next_attempt_at);
create index mails_subscriber on mails (subscriber_id);
