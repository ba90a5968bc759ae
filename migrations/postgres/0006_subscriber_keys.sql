-- Links name a person by a random key, never by the row id, and ids are never reused.
-- `link_key` is in unsubscribe and preferences links; `confirm_key` in the one confirmation
-- link that is valid (replaced each time a confirmation is sent). Erasure keeps the row as a
-- tombstone (`erased_at` set, personal data and keys removed), as on SQLite, whose ids would
-- otherwise be reused.
alter table subscribers add column link_key text;
alter table subscribers add column confirm_key text;
alter table subscribers add column erased_at timestamptz;
-- Two version-4 UUIDs: 244 random bits from the server's strong generator (built in since 13).
update subscribers
   set link_key = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
-- Confirmation links sent before the upgrade carry the row id: they stop working, and the
-- people concerned may ask again at once.
update subscribers set confirmation_sent_at = null where status = 'pending';
create unique index subscribers_link_key_key on subscribers (link_key);
create unique index subscribers_confirm_key_key on subscribers (confirm_key);
