-- citus-migrate cluster: every reference table and the active primary nodes that lack a placement of
-- it (reference tables belong on every node, the coordinator included). Runs as-is in psql.
SELECT n.nspname::text AS schema,
       c.relname::text AS name,
       (SELECT count(*) FROM pg_dist_placement pl JOIN pg_dist_shard s ON s.shardid = pl.shardid
        WHERE s.logicalrelid = p.logicalrelid)::int8 AS placements,
       coalesce((SELECT array_agg(d.nodename || ':' || d.nodeport ORDER BY d.groupid)
                 FROM pg_dist_node d
                 WHERE d.isactive AND d.noderole = 'primary'
                   AND NOT EXISTS (SELECT 1 FROM pg_dist_placement pl
                                   JOIN pg_dist_shard s ON s.shardid = pl.shardid
                                   WHERE s.logicalrelid = p.logicalrelid AND pl.groupid = d.groupid)),
                '{}')::text[] AS missing_on
FROM pg_dist_partition p
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.partmethod = 'n' AND p.repmodel = 't'
ORDER BY 1, 2;
