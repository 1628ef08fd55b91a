-- citus-migrate verify: how every Citus table on the target is laid out: hash-distributed (method 'h',
-- with its distribution column and co-location group), reference (method 'n', replication model 't')
-- or Citus-local (method 'n', model 's'). Runs as-is in psql on a coordinator.
SELECT n.nspname::text                                   AS schema,
       c.relname::text                                   AS name,
       p.partmethod::text                                AS method,
       p.repmodel::text                                  AS repmodel,
       CASE WHEN p.partmethod = 'h'
            THEN column_to_column_name(p.logicalrelid, p.partkey) END AS dist_column,
       p.colocationid::int8                              AS colocation_id
FROM pg_dist_partition p
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1, 2;
