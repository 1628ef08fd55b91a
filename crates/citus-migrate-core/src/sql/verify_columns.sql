-- citus-migrate verify: the columns of every user table (same query on both sides; rows are matched by
-- schema, table and column name). Runs as-is in psql.
SELECT n.nspname::text        AS schema,
       c.relname::text        AS name,
       a.attname::text        AS column_name,
       a.attgenerated <> ''   AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2, 3;
