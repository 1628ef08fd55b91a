-- citus-migrate cluster: the co-location groups (shard count, replication factor, member tables) and,
-- per group, the shards of a member that do not sit where the same hash range of the group's first
-- member sits (or a member whose shard count differs from the group's). Runs as-is in psql.
WITH shards AS (
    SELECT p.colocationid, p.logicalrelid, s.shardminvalue, s.shardmaxvalue,
           array_agg(pl.groupid ORDER BY pl.groupid) AS groups
    FROM pg_dist_partition p
    JOIN pg_dist_shard s ON s.logicalrelid = p.logicalrelid
    JOIN pg_dist_placement pl ON pl.shardid = s.shardid
    WHERE p.partmethod = 'h'
    GROUP BY p.colocationid, p.logicalrelid, s.shardid, s.shardminvalue, s.shardmaxvalue
), leader AS (
    SELECT colocationid, min(logicalrelid::oid)::regclass AS logicalrelid
    FROM pg_dist_partition WHERE partmethod = 'h' GROUP BY colocationid
), misplaced AS (
    SELECT m.colocationid, m.logicalrelid, count(*) AS shards
    FROM shards m
    JOIN leader l ON l.colocationid = m.colocationid AND l.logicalrelid <> m.logicalrelid
    LEFT JOIN shards f ON f.logicalrelid = l.logicalrelid
                      AND f.shardminvalue = m.shardminvalue AND f.shardmaxvalue = m.shardmaxvalue
    WHERE f.groups IS DISTINCT FROM m.groups
    GROUP BY m.colocationid, m.logicalrelid
)
SELECT g.colocationid::int8                                   AS colocation_id,
       g.shardcount::int8                                     AS shard_count,
       g.replicationfactor::int8                              AS replication_factor,
       n.nspname::text                                        AS schema,
       c.relname::text                                        AS name,
       (SELECT count(*) FROM pg_dist_shard d WHERE d.logicalrelid = p.logicalrelid)::int8 AS table_shards,
       coalesce(mp.shards, 0)::int8                           AS misplaced_shards
FROM pg_dist_colocation g
JOIN pg_dist_partition p ON p.colocationid = g.colocationid
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN misplaced mp ON mp.logicalrelid = p.logicalrelid
ORDER BY 1, 4, 5;
