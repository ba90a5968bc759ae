-- Members' classified ads, from posting to Les Échos du Réseau (issue 13).

-- An organisation is asked for through the public form (pending until staff approve it) or
-- created by staff (active). Its contact person is its first person.
alter table members add column contact_name text not null default '';
alter table members add column state text not null default 'active'
    constraint members_state_check check (state in ('pending', 'active', 'disabled'));
alter table members add column decided_by integer references users (id);
alter table members add column decided_at text;

-- The people of an organisation who may sign in: one address each, never shared between
-- organisations.
create table member_people (
    id integer primary key,
    member_id integer not null references members (id) on delete cascade,
    email text not null constraint member_people_email_key unique,
    name text not null default '',
    created_at text not null,
    last_login_at text
);
create index member_people_member on member_people (member_id);
insert into member_people (member_id, email, created_at)
    select id, email, created_at from members;

-- A sign-in link asked for: single use, short-lived, bound to the browser that asked (the
-- hash of a random value kept in that browser's cookie). The link carries the row's random
-- nonce signed with the server's key: a row id alone is never enough, and a reused id
-- comes with another nonce.
create table member_logins (
    id integer primary key,
    person_id integer not null references member_people (id) on delete cascade,
    nonce text not null,
    browser_hash text not null,
    created_at text not null,
    expires_at text not null,
    used_at text
);
create index member_logins_person on member_logins (person_id, created_at);

-- A signed-in member's session (the cookie's token, hashed).
create table member_sessions (
    token_hash text primary key,
    person_id integer not null references member_people (id) on delete cascade,
    csrf_token text not null,
    created_at text not null,
    expires_at text not null
);

-- The ad as the member wrote it (Markdown in `body`), its sanitised HTML, how to answer,
-- and its life: who posted it, when it changed, when its member was told it expires.
alter table ads add column body_html text not null default '';
alter table ads add column country text;
alter table ads add column contact_email text;
alter table ads add column contact_phone text;
alter table ads add column posted_by integer references member_people (id) on delete set null;
alter table ads add column updated_at text;
alter table ads add column expiry_warned_on text;
create index ads_member on ads (member_id, created_at);

-- Every decision on an ad, by staff or by its member, with who and when.
create table ad_events (
    id integer primary key,
    ad_id integer not null references ads (id) on delete cascade,
    action text not null constraint ad_events_action_check check (action in
        ('submitted', 'edited', 'approved', 'rejected', 'withdrawn', 'extended', 'expired')),
    user_id integer references users (id),
    person_id integer references member_people (id) on delete set null,
    reason text,
    at text not null
);
create index ad_events_ad on ad_events (ad_id, at);

-- Three more kinds of transactional mail: a member's sign-in link, a refused ad's reason,
-- an ad about to expire. The kind's check constraint widens, so the table is rebuilt.
create table mails_new (
    id integer primary key,
    kind text not null
        constraint mails_kind_check check (kind in
            ('confirmation', 'test', 'member_link', 'ad_rejected', 'ad_expiring')),
    subscriber_id integer references subscribers (id) on delete set null,
    issue_id integer references issues (id) on delete cascade,
    login_id integer references member_logins (id) on delete cascade,
    ad_id integer references ads (id) on delete cascade,
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
insert into mails_new (id, kind, subscriber_id, issue_id, email, state, attempts,
        next_attempt_at, lease_owner, lease_expires_at, message_id, last_reply, sent_at,
        created_at, updated_at)
    select id, kind, subscriber_id, issue_id, email, state, attempts, next_attempt_at,
        lease_owner, lease_expires_at, message_id, last_reply, sent_at, created_at, updated_at
    from mails;
drop table mails;
alter table mails_new rename to mails;
create index mails_claim on mails (state, next_attempt_at);
create index mails_subscriber on mails (subscriber_id);

-- API tokens carry a name (to tell them apart when revoking) and are listed by owner.
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
