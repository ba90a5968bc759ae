-- Control of a send (issue 15): a dispatch is active, paused (by an editor, or by the 5.7.x
-- circuit breaker) or cancelled; the reason and the moment of the last change are kept for the
-- desk's report and the editors' notice.
alter table dispatches add column state text not null default 'active'
    constraint dispatches_state_check check (state in ('active', 'paused', 'cancelled'));
alter table dispatches add column state_reason text not null default '';
alter table dispatches add column state_changed_at text;

-- One more kind of transactional mail: the editors' notice that a send paused itself (it names
-- the issue). The kind's check constraint widens, so the table is rebuilt.
create table mails_new (
    id integer primary key,
    kind text not null
        constraint mails_kind_check check (kind in
            ('confirmation', 'test', 'member_link', 'ad_rejected', 'ad_expiring',
             'schedule_notice', 'dispatch_paused')),
    subscriber_id integer references subscribers (id) on delete set null,
    issue_id integer references issues (id) on delete cascade,
    login_id integer references member_logins (id) on delete cascade,
    ad_id integer references ads (id) on delete cascade,
    job_run_id integer references job_runs (id) on delete cascade,
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
insert into mails_new (id, kind, subscriber_id, issue_id, login_id, ad_id, job_run_id, email,
        state, attempts, next_attempt_at, lease_owner, lease_expires_at, message_id, last_reply,
        sent_at, created_at, updated_at)
    select id, kind, subscriber_id, issue_id, login_id, ad_id, job_run_id, email, state,
        attempts, next_attempt_at, lease_owner, lease_expires_at, message_id, last_reply,
        sent_at, created_at, updated_at
    from mails;
drop table mails;
alter table mails_new rename to mails;
create index mails_claim on mails (state, next_attempt_at);
create index mails_subscriber on mails (subscriber_id);
