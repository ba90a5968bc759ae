-- Editorial schedules (issue 14): every run of a title's draft, reminder and send, recorded
-- before it acts. The unique key is what keeps two processes, or a restart, from running one
-- occurrence twice. The table of the same name from 0001 (one row per job, never written)
-- gives way to it.
drop table job_runs;
create table job_runs (
    id integer primary key,
    newsletter text not null,
    kind text not null constraint job_runs_kind_check check (kind in ('draft', 'remind', 'send')),
    due_at text not null,
    ran_at text not null,
    outcome text not null default 'pending'
        constraint job_runs_outcome_check check (outcome in ('done', 'skipped', 'refused', 'pending')),
    detail text not null default '',
    issue_id integer references issues (id) on delete set null,
    constraint job_runs_occurrence_key unique (newsletter, kind, due_at)
);
create index job_runs_ran on job_runs (ran_at);

-- One more kind of transactional mail: the editors' notice of a schedule run (a reminder, a
-- refused or skipped send), which names its run. The kind's check constraint widens, so the
-- table is rebuilt.
create table mails_new (
    id integer primary key,
    kind text not null
        constraint mails_kind_check check (kind in
            ('confirmation', 'test', 'member_link', 'ad_rejected', 'ad_expiring',
             'schedule_notice')),
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
insert into mails_new (id, kind, subscriber_id, issue_id, login_id, ad_id, email, state,
        attempts, next_attempt_at, lease_owner, lease_expires_at, message_id, last_reply,
        sent_at, created_at, updated_at)
    select id, kind, subscriber_id, issue_id, login_id, ad_id, email, state, attempts,
        next_attempt_at, lease_owner, lease_expires_at, message_id, last_reply, sent_at,
        created_at, updated_at
    from mails;
drop table mails;
alter table mails_new rename to mails;
create index mails_claim on mails (state, next_attempt_at);
create index mails_subscriber on mails (subscriber_id);
