-- When a delivery was settled (sent, failed, skipped or unknown): the PostgreSQL claim index
-- reads it (see migrations/postgres/0019). SQLite keeps its indexes: it has no counterpart of
-- PostgreSQL's HOT updates, and its claim index on `state` loses a row once either way.
alter table deliveries add column settled_at text;
update deliveries set settled_at = updated_at where state in ('sent', 'failed', 'skipped', 'unknown');
