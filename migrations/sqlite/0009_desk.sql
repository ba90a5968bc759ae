-- The editors' desk.

-- An editor's changes to a watch item are kept beside what the feed said: the feed's text is
-- never overwritten, and a later fetch of a changed entry does not undo the edit. The edited
-- summary is plain text (the feed's `summary` is sanitised HTML).
alter table items add column edited_title text;
alter table items add column edited_summary text;
alter table items add column edited_deadline text;
-- Themes and countries set by an editor: retagging leaves them alone.
alter table items add column tags_edited integer not null default 0;
-- The title an item was selected for (status 'selected').
alter table items add column selected_for integer references newsletters (id);
-- Same story: the id of the first item seen of the story this item tells (itself if none
-- before), from a MinHash signature of its words compared through band keys.
alter table items add column story_id integer;
alter table items add column signature blob;
-- Title and text folded for search (lowercase, no accents, words of [a-z0-9] separated by
-- single spaces), so that SQLite's FTS5 and PostgreSQL's tsvector find the same items.
alter table items add column search_text text;
create index items_story on items (story_id);

create table item_bands (
    band_key integer not null,
    item_id integer not null references items (id) on delete cascade,
    constraint item_bands_pkey primary key (band_key, item_id)
);
create index item_bands_item on item_bands (item_id);

create virtual table items_fts using fts5(body, tokenize = 'unicode61 remove_diacritics 2');
create trigger items_fts_insert after insert on items begin
    insert into items_fts (rowid, body) values (new.id, coalesce(new.search_text, ''));
end;
create trigger items_fts_update after update of search_text on items begin
    delete from items_fts where rowid = old.id;
    insert into items_fts (rowid, body) values (new.id, coalesce(new.search_text, ''));
end;
create trigger items_fts_delete after delete on items begin
    delete from items_fts where rowid = old.id;
end;
insert into items_fts (rowid, body) select id, '' from items;

-- Issues: the preheader, and a planned send (the scheduler carries it out).
alter table issues add column preheader text not null default '';
alter table issues add column scheduled_at text;
alter table issues add column scheduled_segment text;

create table issue_approvals (
    issue_id integer not null references issues (id) on delete cascade,
    user_id integer not null references users (id),
    created_at text not null,
    constraint issue_approvals_pkey primary key (issue_id, user_id)
);

-- Entries may now be an editor's own text block (Markdown source, and the sanitised HTML it
-- gives) besides a watch item or an ad. SQLite cannot change a check constraint: the table is
-- rebuilt, ids kept.
create table issue_entries_new (
    id integer primary key,
    issue_id integer not null references issues (id) on delete cascade,
    section text not null,
    position integer not null,
    item_id integer references items (id),
    ad_id integer references ads (id),
    title text,
    summary text,
    body text,
    body_html text,
    constraint issue_entries_kind_check check (
        (item_id is not null) + (ad_id is not null) + (body is not null) = 1),
    constraint issue_entries_item_key unique (issue_id, item_id),
    constraint issue_entries_ad_key unique (issue_id, ad_id)
);
insert into issue_entries_new (id, issue_id, section, position, item_id, ad_id, title, summary)
    select id, issue_id, section, position, item_id, ad_id, title, summary from issue_entries;
drop table issue_entries;
alter table issue_entries_new rename to issue_entries;
create index issue_entries_issue on issue_entries (issue_id, section, position);

-- A test of an issue, sent to an editor through the same ledger as every message: the mail
-- names the issue. The kind's check constraint widens, so the table is rebuilt, ids kept.
create table mails_new (
    id integer primary key,
    kind text not null
        constraint mails_kind_check check (kind in ('confirmation', 'test')),
    subscriber_id integer references subscribers (id) on delete set null,
    issue_id integer references issues (id) on delete cascade,
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
insert into mails_new (id, kind, subscriber_id, email, state, attempts, next_attempt_at,
        lease_owner, lease_expires_at, message_id, last_reply, sent_at, created_at, updated_at)
    select id, kind, subscriber_id, email, state, attempts, next_attempt_at, lease_owner,
        lease_expires_at, message_id, last_reply, sent_at, created_at, updated_at from mails;
drop table mails;
alter table mails_new rename to mails;
create index mails_claim on mails (state, next_attempt_at);
create index mails_subscriber on mails (subscriber_id);

-- Staff accounts can be disabled (their sessions end, their sign-in is refused); rows stay,
-- because approvals and moderation name them.
alter table users add column disabled_at text;

-- A source an editor paused from the desk: not polled until resumed. Kept apart from
-- `enabled`, which follows sources.toml on every start.
alter table sources add column paused_at text;

-- Sources added or edited from the desk, each as a `[[source]]` table in the syntax of
-- sources.toml (checked by the same code). They win over the file's entry of the same slug.
create table desk_sources (
    slug text primary key,
    definition text not null,
    created_at text not null,
    updated_at text not null
);

-- The inbox at 100,000 items (scripts/bench-desk.sh): a story's members, what is already in
-- an issue, new items newest first, tag filters and deadlines each find their rows by index.
create index items_story_or_self on items (coalesce(story_id, id));
create index issue_entries_item on issue_entries (item_id);
create index items_status_id on items (status, id);
create index item_tags_value on item_tags (kind, value, item_id);
create index items_deadline on items (coalesce(edited_deadline, deadline));
create index items_published on items (coalesce(published_at, fetched_at));
create index items_with_deadline on items (id) where coalesce(edited_deadline, deadline) is not null;
