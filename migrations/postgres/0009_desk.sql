-- The editors' desk. See the SQLite migration of the same number for the reasons.

alter table items add column edited_title text;
alter table items add column edited_summary text;
alter table items add column edited_deadline date;
alter table items add column tags_edited boolean not null default false;
alter table items add column selected_for bigint references newsletters (id);
alter table items add column story_id bigint;
alter table items add column signature bytea;
alter table items add column search_text text;
-- The 'simple' configuration neither stems nor drops words: the folded words are the
-- lexemes, as SQLite's unicode61 tokenizer reads them.
alter table items add column search_vector tsvector
    generated always as (to_tsvector('simple', coalesce(search_text, ''))) stored;
create index items_search on items using gin (search_vector);
create index items_story on items (story_id);

create table item_bands (
    band_key bigint not null,
    item_id bigint not null references items (id) on delete cascade,
    constraint item_bands_pkey primary key (band_key, item_id)
);
create index item_bands_item on item_bands (item_id);

alter table issues add column preheader text not null default '';
alter table issues add column scheduled_at timestamptz;
alter table issues add column scheduled_segment text;

create table issue_approvals (
    issue_id bigint not null references issues (id) on delete cascade,
    user_id bigint not null references users (id),
    created_at timestamptz not null,
    constraint issue_approvals_pkey primary key (issue_id, user_id)
);

alter table issue_entries add column body text;
alter table issue_entries add column body_html text;
alter table issue_entries drop constraint issue_entries_kind_check;
alter table issue_entries add constraint issue_entries_kind_check
    check (num_nonnulls(item_id, ad_id, body) = 1);
create index issue_entries_issue on issue_entries (issue_id, section, position);

-- A test of an issue, sent to an editor through the same ledger as every message.
alter table mails add column issue_id bigint references issues (id) on delete cascade;
alter table mails drop constraint mails_kind_check;
alter table mails add constraint mails_kind_check check (kind in ('confirmation', 'test'));

alter table users add column disabled_at timestamptz;

alter table sources add column paused_at timestamptz;

create table desk_sources (
    slug text primary key,
    definition text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

-- The inbox at 100,000 items (scripts/bench-desk.sh); see the SQLite migration.
create index items_story_or_self on items ((coalesce(story_id, id)));
create index issue_entries_item on issue_entries (item_id);
create index items_status_id on items (status, id);
create index item_tags_value on item_tags (kind, value, item_id);
create index items_deadline on items ((coalesce(edited_deadline, deadline)));
create index items_published on items ((coalesce(published_at, fetched_at)));
create index items_with_deadline on items (id) where coalesce(edited_deadline, deadline) is not null;
