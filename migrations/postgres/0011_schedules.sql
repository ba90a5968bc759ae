-- Editorial schedules (issue 14): every run of a title's draft, reminder and send, recorded
-- before it acts. The unique key is what keeps two processes, or a restart, from running one
-- occurrence twice. The table of the same name from 0001 (one row per job, never written)
-- gives way to it.
drop table job_runs;
create table job_runs (
    id bigint generated always as identity primary key,
    newsletter text not null,
    kind text not null constraint job_runs_kind_check check (kind in ('draft', 'remind', 'send')),
    due_at timestamptz not null,
    ran_at timestamptz not null,
    outcome text not null default 'pending'
        constraint job_runs_outcome_check check (outcome in ('done', 'skipped', 'refused', 'pending')),
    detail text not null default '',
    issue_id bigint references issues (id) on delete set null,
    constraint job_runs_occurrence_key unique (newsletter, kind, due_at)
);
create index job_runs_ran on job_runs (ran_at);

-- One more kind of transactional mail: the editors' notice of a schedule run (a reminder, a
-- refused or skipped send), which names its run.
alter table mails add column job_run_id bigint references job_runs (id) on delete cascade;
alter table mails drop constraint mails_kind_check;
alter table mails add constraint mails_kind_check check (kind in
    ('confirmation', 'test', 'member_link', 'ad_rejected', 'ad_expiring', 'schedule_notice'));
