-- citus-migrate catalog: primary keys, unique, exclusion, check and foreign key constraints of every
-- user table, with their columns (attribute numbers, in key order; names are matched from
-- catalog_columns.sql) and the referenced table and columns. Runs as-is in psql.
SELECT con.conrelid::int8                                       AS table_oid,
       con.conname::text                                        AS name,
       con.contype::text                                        AS kind,
       con.conkey                                               AS column_attnums,
       rn.nspname::text                                         AS ref_schema,
       rc.relname::text                                         AS ref_name,
       con.confrelid::int8                                      AS ref_oid,
       con.confkey                                              AS ref_column_attnums,
       con.confupdtype::text                                    AS on_update,
       con.confdeltype::text                                    AS on_delete,
       con.confmatchtype::text                                  AS match_type,
       con.condeferrable                                        AS deferrable,
       con.condeferred                                          AS deferred,
       con.convalidated                                         AS validated,
       con.conislocal                                           AS is_local,
       pg_get_constraintdef(con.oid)                            AS definition
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'u', 'x', 'c', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY con.conrelid, con.contype, con.conname;
