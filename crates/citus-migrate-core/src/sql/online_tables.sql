-- citus-migrate online: what catch-up needs of each selected table on the source: its replica identity,
-- whether it has a primary key, and its columns (name and type) as pgoutput will send them (generated
-- columns are never sent). $1, $2: schema and table names, pairwise.
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relreplident::text AS replica_identity,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
       COALESCE((SELECT array_agg(a.attname::text ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
                '{}') AS columns,
       COALESCE((SELECT array_agg(a.atttypid::int8 ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
                '{}') AS types
FROM unnest($1::text[], $2::text[]) AS w(s, n)
JOIN pg_catalog.pg_namespace n ON n.nspname = w.s
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.n
ORDER BY 1, 2
