-- Members' classified ads, from posting to Les Échos du Réseau (issue 13). See the SQLite
-- migration for the reasons.

alter table members add column contact_name text not null default '';
alter table members add column state text not null default 'active'
    constraint members_state_check check (state in ('pending', 'active', 'disabled'));
alter table members add column decided_by bigint references users (id);
alter table members add column decided_at timestamptz;

create table member_people (
    id bigint generated always as identity primary key,
    member_id bigint not null references members (id) on delete cascade,
    email text not null constraint member_people_email_key unique,
    name text not null default '',
    created_at timestamptz not null,
    last_login_at timestamptz
);
create index member_people_member on member_people (member_id);
insert into member_people (member_id, email, created_at)
    select id, email, created_at from members;

create table member_logins (
    id bigint generated always as identity primary key,
    person_id bigint not null references member_people (id) on delete cascade,
    nonce text not null,
    browser_hash text not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    used_at timestamptz
);
create index member_logins_person on member_logins (person_id, created_at);

create table member_sessions (
    token_hash text primary key,
    person_id bigint not null references member_people (id) on delete cascade,
    csrf_token text not null,
    created_at timestamptz not null,
    expires_at timestamptz not null
);

alter table ads add column body_html text not null default '';
alter table ads add column country text;
alter table ads add column contact_email text;
alter table ads add column contact_phone text;
alter table ads add column posted_by bigint references member_people (id) on delete set null;
alter table ads add column updated_at timestamptz;
alter table ads add column expiry_warned_on date;
create index ads_member on ads (member_id, created_at);

create table ad_events (
    id bigint generated always as identity primary key,
    ad_id bigint not null references ads (id) on delete cascade,
    action text not null constraint ad_events_action_check check (action in
        ('submitted', 'edited', 'approved', 'rejected', 'withdrawn', 'extended', 'expired')),
    user_id bigint references users (id),
    person_id bigint references member_people (id) on delete set null,
    reason text,
    at timestamptz not null
);
create index ad_events_ad on ad_events (ad_id, at);

alter table mails add column login_id bigint references member_logins (id) on delete cascade;
alter table mails add column ad_id bigint references ads (id) on delete cascade;
alter table mails drop constraint mails_kind_check;
alter table mails add constraint mails_kind_check check (kind in
    ('confirmation', 'test', 'member_link', 'ad_rejected', 'ad_expiring'));

alter table api_tokens add column label text not null default '';

-- The inbox filtered by source (scripts/bench-desk.sh, 100,000 items): the source's items of
-- one state in id order, read newest first, instead of intersecting two bitmaps (PostgreSQL,
-- source + theme: 126 ms to 2 ms).
create index items_source_status_id on items (source_id, status, id);

-- The inbox's « date limite avant » filter: the partial index of items that have a deadline
-- also carries the deadline, so the newest matches are read from the index alone (SQLite,
-- 100,000 items: 33 ms to 1 ms).
drop index items_with_deadline;
create index items_with_deadline on items (id, coalesce(edited_deadline, deadline))
    where coalesce(edited_deadline, deadline) is not null;

-- The inbox's « du / au » filter on the new items (the default view): the items of one state
-- in publication order, so a month's new items are a range of the index (SQLite, 100,000
-- items: 15 ms to 0.3 ms).
create index items_status_published on items (status, (coalesce(published_at, fetched_at)));
