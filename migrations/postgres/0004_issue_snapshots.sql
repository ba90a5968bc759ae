-- What an issue said when it went out: subject, intro and entries as JSON, written once in the
-- transaction that moves the issue to sending. The archive, the feeds and later messages read
-- it, so a source that edits or poisons an entry afterwards changes nothing published.
alter table issues add column snapshot text;
