-- citus-migrate online: the catch-up's position on the target. One row per replication slot; the row is
-- upserted in the same transaction that applies the source's transactions up to `applied_lsn` (the end
-- of the last one's commit record), so a run that stops at any point continues exactly after the last
-- applied transaction. Runs as-is in psql; safe to run again.
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('citus_migrate.online_progress', 0));
CREATE SCHEMA IF NOT EXISTS citus_migrate;
CREATE TABLE IF NOT EXISTS citus_migrate.online_progress (
    slot_name    text        PRIMARY KEY,
    applied_lsn  pg_lsn      NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    transactions int8        NOT NULL DEFAULT 0,
    changes      int8        NOT NULL DEFAULT 0
);
COMMIT;
