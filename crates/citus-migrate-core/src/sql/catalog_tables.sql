-- citus-migrate catalog: every user table, partitioned table, foreign table and materialized view,
-- with sizes, row estimates and what kind of relation it is. Runs as-is in psql.
-- System schemas and relations that belong to an extension are left out, as pg_dump does.
SELECT c.oid::int8                                   AS oid,
       n.nspname::text                               AS schema,
       c.relname::text                               AS name,
       c.relkind::text                               AS relkind,
       c.relpersistence::text                        AS persistence,
       c.relispartition                              AS is_partition,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       (SELECT pn.nspname::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1) AS parent_schema,
       (SELECT p.relname::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
          WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1)                                  AS parent_name,
       sz.heap_bytes,
       sz.other_fork_bytes,
       sz.toast_bytes,
       c.reltuples::float8                           AS reltuples,
       c.relpages::int8                              AS relpages,
       c.relrowsecurity                              AS rls_enabled,
       c.relforcerowsecurity                         AS rls_forced,
       c.relhasindex                                 AS has_index,
       d.description                                 AS comment,
       pg_get_userbyid(c.relowner)::text             AS owner,
       am.amname::text                               AS access_method,
       -- Rows updated or deleted since the statistics were last reset: how hot the table's write path is.
       (pg_stat_get_tuples_updated(c.oid) + pg_stat_get_tuples_deleted(c.oid))::int8 AS rewrites
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
-- Sizes: the main fork, the other forks (free space map, visibility map, init), and the TOAST table
-- with its index. Index sizes come from catalog_indexes.sql (each index is sized once); the total is
-- their sum, which is what pg_total_relation_size reports.
CROSS JOIN LATERAL (
    SELECT pg_relation_size(c.oid)::int8 AS heap_bytes,
           (pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm')
              + pg_relation_size(c.oid, 'init'))::int8 AS other_fork_bytes,
           CASE WHEN c.reltoastrelid <> 0 THEN pg_total_relation_size(c.reltoastrelid) ELSE 0 END::int8 AS toast_bytes
    OFFSET 0) sz
WHERE c.relkind IN ('r', 'p', 'f', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname;
