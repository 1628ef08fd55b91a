-- citus-migrate catalog: indexes of every user relation: key columns as attribute numbers (0 for an
-- expression; names are matched from catalog_columns.sql), and for indexes with expressions the text of
-- every key column; sizes over all forks. Runs as-is in psql.
SELECT i.indrelid::int8                                          AS table_oid,
       ic.relname::text                                          AS name,
       i.indisunique                                             AS is_unique,
       i.indisprimary                                            AS is_primary,
       i.indpred IS NOT NULL                                     AS is_partial,
       i.indexprs IS NOT NULL                                    AS has_expressions,
       am.amname::text                                           AS method,
       (i.indkey::int2[])[0:i.indnkeyatts - 1]                 AS column_attnums,
       CASE WHEN i.indexprs IS NOT NULL THEN
         ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts::int) k)
       END                                                       AS column_texts,
       EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                 AND con.conrelid = i.indrelid)                  AS backs_constraint,
       pg_total_relation_size(i.indexrelid)::int8                AS bytes,
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
