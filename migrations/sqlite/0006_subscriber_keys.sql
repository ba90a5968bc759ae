-- Links name a person by a random key, never by the row id, and ids are never reused.
-- `link_key` is in unsubscribe and preferences links; `confirm_key` in the one confirmation
-- link that is valid (replaced each time a confirmation is sent). Erasure keeps the row as a
-- tombstone (`erased_at` set, personal data and keys removed): SQLite gives a new row
-- max(id) + 1, so deleting the highest row would hand its id, and every link made for it, to
-- the next person. Rebuilding the table with AUTOINCREMENT would have to drop a table that
-- three others reference with ON DELETE CASCADE / SET NULL.
alter table subscribers add column link_key text;
alter table subscribers add column confirm_key text;
alter table subscribers add column erased_at text;
update subscribers set link_key = lower(hex(randomblob(32)));
-- Confirmation links sent before the upgrade carry the row id: they stop working, and the
-- people concerned may ask again at once.
update subscribers set confirmation_sent_at = null where status = 'pending';
create unique index subscribers_link_key_key on subscribers (link_key);
create unique index subscribers_confirm_key_key on subscribers (confirm_key);
