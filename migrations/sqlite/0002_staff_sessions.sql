-- Staff sessions: the cookie holds a random token, the table only its SHA-256 hash.
create table staff_sessions (
    id integer primary key,
    token_hash text not null constraint staff_sessions_token_hash_key unique,
    user_id integer not null references users (id) on delete cascade,
    csrf_token text not null,
    created_at text not null,
    expires_at text not null
);
create index staff_sessions_expires_at on staff_sessions (expires_at);
