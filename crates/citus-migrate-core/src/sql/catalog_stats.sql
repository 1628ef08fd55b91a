-- citus-migrate catalog: planner statistics per column (from ANALYZE): NULL fraction, number of
-- distinct values (negative = a fraction of the rows) and the frequencies of the most common values.
-- Partitioned parents get the statistics over the whole partition tree (inherited), other tables
-- their own. Runs as-is in psql.
SELECT c.oid::int8                        AS table_oid,
       s.attname::text                    AS column_name,
       s.null_frac::float8                AS null_frac,
       s.n_distinct::float8               AS n_distinct,
       s.most_common_freqs::float8[]      AS most_common_freqs,
       s.correlation::float8              AS correlation
FROM pg_stats s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
  AND s.inherited = (c.relkind = 'p')
ORDER BY 1, 2;
