-- Nothing to change here. PostgreSQL's migration of the same number drops two unique indexes
-- of the ledger that the others already imply. On SQLite they were declared in the table
-- itself, and dropping them means rebuilding `deliveries`, which `bounces` references.
select 1;
