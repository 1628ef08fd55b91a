-- citus-migrate copy: what copying needs to know about a list of tables, in one query. $1 and $2 are
-- parallel text arrays of schema and table names (unquoted, as stored in the catalog). One row per
-- requested table, in the order given; `found` is false when the table does not exist. Runs as-is in
-- psql after replacing $1/$2 with e.g. ARRAY['public'] and ARRAY['pgbench_accounts'].
-- `binary_types` has, per column, its type as format_type() writes it when the type is a built-in one
-- whose binary COPY format carries no server-specific OIDs and no locale (else NULL): copy moves a
-- table in binary only when every copied column has the same such type on both sides.
WITH wanted AS (
    SELECT w.schema_name, w.table_name, w.ord
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema_name, table_name, ord)
), rel AS (
    SELECT w.ord, w.schema_name, w.table_name, c.oid, c.relkind
    FROM wanted w
    LEFT JOIN pg_namespace n ON n.nspname = w.schema_name
    LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table_name
                        AND c.relkind IN ('r', 'p', 'm', 'f', 'v')
)
SELECT r.ord::int4                                                        AS ord,
       r.oid IS NOT NULL                                                  AS found,
       COALESCE(r.relkind::text, '')                                      AS relkind,
       COALESCE(CASE WHEN r.relkind = 'p'
                     THEN (SELECT sum(pg_table_size(t.relid)) FROM pg_partition_tree(r.oid) t)
                     WHEN r.relkind IN ('r', 'm') THEN pg_table_size(r.oid) END, 0)::int8
                                                                          AS table_bytes,
       COALESCE(CASE WHEN r.relkind IN ('r', 'm')
                     THEN pg_relation_size(r.oid) / current_setting('block_size')::int8 END, 0)::int8
                                                                          AS pages,
       COALESCE(CASE WHEN r.relkind = 'p'
                     THEN (SELECT sum(greatest(pc.reltuples, 0)) FROM pg_partition_tree(r.oid) t
                           JOIN pg_class pc ON pc.oid = t.relid)
                     ELSE (SELECT greatest(pc.reltuples, 0) FROM pg_class pc WHERE pc.oid = r.oid) END, 0)::int8
                                                                          AS rows_estimate,
       COALESCE((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}')
                                                                          AS columns,
       COALESCE((SELECT array_agg(a.attgenerated <> '' ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}')
                                                                          AS generated,
       COALESCE((SELECT array_agg(CASE WHEN t.oid < 16384 AND e.oid < 16384 AND e.typname IN (
                                          'bool', 'int2', 'int4', 'int8', 'float4', 'float8', 'numeric',
                                          'text', 'varchar', 'bpchar', 'name', 'char', 'bytea', 'date',
                                          'time', 'timetz', 'timestamp', 'timestamptz', 'interval',
                                          'uuid', 'json', 'jsonb', 'inet', 'cidr', 'macaddr', 'macaddr8',
                                          'bit', 'varbit', 'oid')
                                       THEN format_type(a.atttypid, a.atttypmod) END
                                  ORDER BY a.attnum)
                 FROM pg_attribute a
                 JOIN pg_type t ON t.oid = a.atttypid
                 JOIN pg_type e ON e.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0
                                                THEN t.typelem ELSE t.oid END
                 WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}')
                                                                          AS binary_types,
       (SELECT a.attname::text
        FROM pg_constraint k
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
        WHERE k.conrelid = r.oid AND k.contype IN ('p', 'u') AND cardinality(k.conkey) = 1
          AND a.attnotnull AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
        ORDER BY k.contype = 'p' DESC, k.conname
        LIMIT 1)                                                          AS key_column
FROM rel r
ORDER BY r.ord;
