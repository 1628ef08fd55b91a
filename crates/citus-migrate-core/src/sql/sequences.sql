-- citus-migrate sequences (migrate, verify): every sequence with the last value it handed out (NULL when never used).
-- Same query on both sides. Runs as-is in psql.
SELECT schemaname::text AS schema,
       sequencename::text AS name,
       last_value::int8 AS last_value,
       increment_by::int8 AS increment_by
FROM pg_sequences
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2;
