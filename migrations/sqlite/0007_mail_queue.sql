-- Transactional mail (confirmation links now; sign-in links, moderation notices and editor
-- alerts next) goes through a ledger like the newsletters' deliveries: queued in the
-- transaction of the request that asks for it, worked by the same senders, retried on 4xx.
create table mails (
    id integer primary key,
    kind text not null
        constraint mails_kind_check check (kind in ('confirmation')),
    -- Null once the person is erased; the address goes with them.
    subscriber_id integer references subscribers (id) on delete set null,
    email text not null,
    state text not null default 'queued'
        constraint mails_state_check check (state in
            ('queued', 'sending', 'sent', 'deferred', 'failed', 'unknown', 'skipped')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    lease_owner text,
    lease_expires_at text,
    message_id text not null constraint mails_message_id_key unique,
    last_reply text,
    sent_at text,
    created_at text not null,
    updated_at text not null
);
create index mails_claim on mails (state, next_attempt_at);
create index mails_subscriber on mails (subscriber_id);
