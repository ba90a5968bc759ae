-- relais schema, PostgreSQL flavour.
-- Keep in step with ../sqlite/0001_initial.sql: the same tables, columns and constraint names.

create table newsletters (
    id bigint generated always as identity primary key,
    slug text not null constraint newsletters_slug_key unique,
    name text not null,
    created_at timestamptz not null default now()
);
insert into newsletters (slug, name) values
    ('coopdev-info', 'Coopdev'' info'),
    ('echos-du-reseau', 'Les Échos du Réseau');

-- Feed sources mirror sources.toml (the file stays the truth for slug, name, url, tags);
-- the table keeps what the file cannot: fetch state and the URL after permanent redirects.
create table sources (
    id bigint generated always as identity primary key,
    slug text not null constraint sources_slug_key unique,
    name text not null,
    url text not null,
    effective_url text,
    newsletter_id bigint not null references newsletters (id),
    enabled boolean not null default true,
    state text not null default 'ok'
        constraint sources_state_check check (state in ('ok', 'failing', 'disabled')),
    etag text,
    last_modified text,
    body_hash text,
    last_fetched_at timestamptz,
    last_success_at timestamptz,
    last_unconditional_at timestamptz,
    last_error text,
    consecutive_failures bigint not null default 0,
    failing_since timestamptz,
    next_poll_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table items (
    id bigint generated always as identity primary key,
    source_id bigint not null references sources (id) on delete cascade,
    dedup_key text not null,
    guid text,
    url text,
    title text not null,
    summary text not null default '',
    content_hash text not null,
    published_at timestamptz,
    deadline date,
    status text not null default 'new'
        constraint items_status_check check (status in ('new', 'selected', 'dismissed', 'published')),
    changed boolean not null default false,
    fetched_at timestamptz not null,
    updated_at timestamptz not null,
    constraint items_source_dedup_key unique (source_id, dedup_key)
);
create index items_status_fetched on items (status, fetched_at);

create table item_tags (
    item_id bigint not null references items (id) on delete cascade,
    kind text not null constraint item_tags_kind_check check (kind in ('theme', 'country')),
    value text not null,
    constraint item_tags_pkey primary key (item_id, kind, value)
);

create table users (
    id bigint generated always as identity primary key,
    email text not null constraint users_email_key unique,
    password_hash text not null,
    role text not null constraint users_role_check check (role in ('admin', 'editor')),
    created_at timestamptz not null
);

create table members (
    id bigint generated always as identity primary key,
    email text not null constraint members_email_key unique,
    org_name text not null,
    college text,
    departement text,
    created_at timestamptz not null
);

create table ads (
    id bigint generated always as identity primary key,
    member_id bigint not null references members (id),
    title text not null,
    body text not null,
    category text not null constraint ads_category_check check (category in (
        'don-materiel', 'recherche-materiel', 'transport-partage', 'mission-volontariat',
        'recherche-partenaires', 'evenement', 'autre')),
    departement text,
    state text not null default 'pending'
        constraint ads_state_check check (state in ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
    reject_reason text,
    expires_on date not null,
    created_at timestamptz not null,
    approved_at timestamptz,
    moderated_by bigint references users (id)
);
create index ads_state_expires on ads (state, expires_on);

create table api_tokens (
    id bigint generated always as identity primary key,
    token_hash text not null constraint api_tokens_token_hash_key unique,
    user_id bigint references users (id) on delete cascade,
    member_id bigint references members (id) on delete cascade,
    created_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz,
    constraint api_tokens_owner_check check ((user_id is null) <> (member_id is null))
);

create table issues (
    id bigint generated always as identity primary key,
    newsletter_id bigint not null references newsletters (id),
    subject text not null,
    intro text not null default '',
    status text not null default 'draft'
        constraint issues_status_check check (status in ('draft', 'approved', 'sending', 'sent')),
    created_at timestamptz not null,
    approved_at timestamptz,
    sent_at timestamptz
);

create table issue_entries (
    id bigint generated always as identity primary key,
    issue_id bigint not null references issues (id) on delete cascade,
    section text not null,
    position bigint not null,
    item_id bigint references items (id),
    ad_id bigint references ads (id),
    title text,
    summary text,
    constraint issue_entries_kind_check check ((item_id is null) <> (ad_id is null)),
    constraint issue_entries_item_key unique (issue_id, item_id),
    constraint issue_entries_ad_key unique (issue_id, ad_id)
);

-- Email addresses are stored normalised (see domain::EmailAddress), so this unique
-- constraint is uniqueness after normalisation.
create table subscribers (
    id bigint generated always as identity primary key,
    email text not null constraint subscribers_email_key unique,
    name text not null default '',
    status text not null default 'pending'
        constraint subscribers_status_check check (status in ('pending', 'active', 'bounced', 'complained')),
    college text,
    confirmation_sent_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table subscriptions (
    subscriber_id bigint not null references subscribers (id) on delete cascade,
    newsletter_id bigint not null references newsletters (id),
    status text not null
        constraint subscriptions_status_check check (status in ('pending', 'active', 'unsubscribed')),
    created_at timestamptz not null,
    confirmed_at timestamptz,
    unsubscribed_at timestamptz,
    constraint subscriptions_pkey primary key (subscriber_id, newsletter_id)
);

create table subscriber_interests (
    subscriber_id bigint not null references subscribers (id) on delete cascade,
    kind text not null
        constraint subscriber_interests_kind_check check (kind in ('theme', 'country', 'departement')),
    value text not null,
    constraint subscriber_interests_pkey primary key (subscriber_id, kind, value)
);

-- Proof of consent and of its withdrawal. Rows outlive the subscriber (erasure nulls the link
-- and keeps only the address hash).
create table consents (
    id bigint generated always as identity primary key,
    subscriber_id bigint references subscribers (id) on delete set null,
    email_hash text not null,
    newsletter_id bigint references newsletters (id),
    action text not null
        constraint consents_action_check check (action in ('subscribe', 'confirm', 'unsubscribe', 'erase')),
    method text not null
        constraint consents_method_check check (method in ('form', 'import', 'staff', 'one-click', 'preferences')),
    ip text,
    text_version text,
    created_at timestamptz not null,
    confirmed_at timestamptz
);
create index consents_subscriber on consents (subscriber_id);
create index consents_created on consents (created_at);

create table suppressions (
    email_hash text primary key,
    reason text not null
        constraint suppressions_reason_check check (reason in ('hard-bounce', 'complaint', 'erased', 'staff')),
    created_at timestamptz not null
);

create table segments (
    id bigint generated always as identity primary key,
    slug text not null constraint segments_slug_key unique,
    newsletter_id bigint not null references newsletters (id),
    created_at timestamptz not null
);

create table segment_filters (
    segment_id bigint not null references segments (id) on delete cascade,
    kind text not null
        constraint segment_filters_kind_check check (kind in ('theme', 'country', 'departement', 'college')),
    value text not null,
    constraint segment_filters_pkey primary key (segment_id, kind, value)
);

-- One dispatch per issue and audience: segment_key is the segment slug, or '' for the whole title.
create table dispatches (
    id bigint generated always as identity primary key,
    issue_id bigint not null references issues (id),
    segment_id bigint references segments (id),
    segment_key text not null,
    created_at timestamptz not null,
    completed_at timestamptz,
    constraint dispatches_issue_segment_key unique (issue_id, segment_key)
);

-- The ledger is the queue: one row per recipient, frozen at fan-out.
create table deliveries (
    id bigint generated always as identity primary key,
    dispatch_id bigint not null references dispatches (id),
    -- Null once the person is erased: the row stays, anonymised, for the issue's counts.
    subscriber_id bigint references subscribers (id) on delete set null,
    email text not null,
    state text not null default 'queued'
        constraint deliveries_state_check check (state in
            ('queued', 'sending', 'sent', 'deferred', 'failed', 'unknown', 'skipped')),
    attempts bigint not null default 0,
    next_attempt_at timestamptz not null,
    lease_owner text,
    lease_expires_at timestamptz,
    message_id text not null constraint deliveries_message_id_key unique,
    last_reply text,
    sent_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint deliveries_dispatch_subscriber_key unique (dispatch_id, subscriber_id)
);
create index deliveries_claim on deliveries (state, next_attempt_at);

-- Scheduler leadership and cron bookkeeping.
create table leases (
    name text primary key,
    holder text not null,
    expires_at timestamptz not null
);

create table job_runs (
    job text primary key,
    last_run_at timestamptz not null
);
