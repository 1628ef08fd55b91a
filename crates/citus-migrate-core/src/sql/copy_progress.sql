-- citus-migrate copy: the bookkeeping table on the target. One row per planned chunk of a table;
-- `committed_at` is set in the same transaction that commits the chunk's rows, so a chunk is either
-- fully copied and marked, or neither. `--resume` copies exactly the chunks whose committed_at is NULL,
-- using the ranges recorded here. Runs as-is in psql; safe to run again, also by several runs at once
-- (they take turns on an advisory lock: the ALTER's lock upgrade deadlocked two runs starting together).
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('citus_migrate.copy_progress', 0));
CREATE SCHEMA IF NOT EXISTS citus_migrate;
CREATE TABLE IF NOT EXISTS citus_migrate.copy_progress (
    table_schema text        NOT NULL,
    table_name   text        NOT NULL,
    chunk        int4        NOT NULL,
    chunk_count  int4        NOT NULL,
    range_kind   text        NOT NULL CHECK (range_kind IN ('all', 'key', 'pages')),
    key_column   text,
    range_lo     int8,
    range_hi     int8,
    planned_at   timestamptz NOT NULL DEFAULT now(),
    committed_at timestamptz,
    rows         int8,
    bytes        int8,
    PRIMARY KEY (table_schema, table_name, chunk)
);
-- Worker-direct chunks commit on the workers with prepared transactions; the chunk's row names them
-- (`txn`), so a later run knows whether to COMMIT PREPARED or ROLLBACK PREPARED what a crash left.
ALTER TABLE citus_migrate.copy_progress ADD COLUMN IF NOT EXISTS txn text;
COMMIT;
