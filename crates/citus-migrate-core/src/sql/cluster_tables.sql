-- citus-migrate cluster status: every Citus table with its placements per node (count and bytes, from
-- citus_shards). Runs as-is in psql on a coordinator.
SELECT n.nspname::text                                               AS schema,
       c.relname::text                                               AS name,
       s.citus_table_type::text                                      AS kind,
       CASE WHEN p.partmethod = 'h'
            THEN column_to_column_name(p.logicalrelid, p.partkey) END AS distribution_column,
       p.colocationid::int8                                          AS colocation_id,
       (SELECT count(*) FROM pg_dist_shard d WHERE d.logicalrelid = p.logicalrelid)::int8 AS shard_count,
       s.nodename::text                                              AS host,
       s.nodeport::int8                                              AS port,
       count(*)::int8                                                AS shards,
       coalesce(sum(s.shard_size), 0)::int8                          AS bytes
FROM citus_shards s
JOIN pg_dist_partition p ON p.logicalrelid = s.table_name
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
GROUP BY n.nspname, c.relname, s.citus_table_type, p.partmethod, p.logicalrelid, p.partkey,
         p.colocationid, s.nodename, s.nodeport
ORDER BY 1, 2, 7, 8;
