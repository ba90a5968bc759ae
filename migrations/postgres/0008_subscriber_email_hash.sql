-- The address hash (SHA-256 of the normalised address, as suppressions and consents keep it)
-- is stored once with the person instead of being recomputed wherever it is needed. Rows of
-- earlier versions are filled in by relais when it opens the database (the same function
-- that fills new rows); erased people have none.
alter table subscribers add column email_hash text;
create index subscribers_email_hash on subscribers (email_hash);
