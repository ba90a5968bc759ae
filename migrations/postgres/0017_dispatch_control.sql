-- Control of a send (issue 15): a dispatch is active, paused (by an editor, or by the 5.7.x
-- circuit breaker) or cancelled; the reason and the moment of the last change are kept for the
-- desk's report and the editors' notice.
alter table dispatches add column state text not null default 'active'
    constraint dispatches_state_check check (state in ('active', 'paused', 'cancelled'));
alter table dispatches add column state_reason text not null default '';
alter table dispatches add column state_changed_at timestamptz;

-- One more kind of transactional mail: the editors' notice that a send paused itself (it names
-- the issue).
alter table mails drop constraint mails_kind_check;
alter table mails add constraint mails_kind_check check (kind in
    ('confirmation', 'test', 'member_link', 'ad_rejected', 'ad_expiring', 'schedule_notice',
     'dispatch_paused'));
