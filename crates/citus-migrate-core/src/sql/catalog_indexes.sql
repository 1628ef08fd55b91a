-- citus-migrate catalog: indexes of every user relation; key columns by name, expressions as their
-- SQL text. Runs as-is in psql.
SELECT i.indrelid::int8                                          AS table_oid,
       ic.relname::text                                          AS name,
       i.indisunique                                             AS is_unique,
       i.indisprimary                                            AS is_primary,
       i.indpred IS NOT NULL                                     AS is_partial,
       i.indexprs IS NOT NULL                                    AS has_expressions,
       am.amname::text                                           AS method,
       ARRAY(SELECT COALESCE(a.attname::text, pg_get_indexdef(i.indexrelid, k.ord::int, true))
                    FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.ord)                                     AS columns,
       EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                 AND con.conrelid = i.indrelid)                  AS backs_constraint,
       pg_relation_size(i.indexrelid)::int8                      AS bytes,
       pg_get_indexdef(i.indexrelid)                             AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY i.indrelid, ic.relname;
