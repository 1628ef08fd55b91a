-- citus-migrate cluster: the tables a logical shard move would fail on (no REPLICA IDENTITY or primary
-- key, the test Citus makes before a move): every table co-located with one of the shards $1, and,
-- when some active node lacks a reference table, the reference tables (they are copied there first).
-- Partitioned parents hold no rows and need none. Runs in psql with $1 filled in (a bigint[]).
WITH moved AS (
    SELECT DISTINCT p.colocationid
    FROM pg_dist_shard s JOIN pg_dist_partition p ON p.logicalrelid = s.logicalrelid
    WHERE s.shardid = ANY ($1::int8[])
), reference_missing AS (
    SELECT EXISTS (
        SELECT 1 FROM pg_dist_partition p, pg_dist_node d
        WHERE p.partmethod = 'n' AND p.repmodel = 't' AND d.isactive AND d.noderole = 'primary'
          AND NOT EXISTS (SELECT 1 FROM pg_dist_placement pl JOIN pg_dist_shard s ON s.shardid = pl.shardid
                          WHERE s.logicalrelid = p.logicalrelid AND pl.groupid = d.groupid)) AS yes
)
SELECT n.nspname::text AS schema, c.relname::text AS name
FROM pg_dist_partition p
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (p.colocationid IN (SELECT colocationid FROM moved)
       OR (p.partmethod = 'n' AND p.repmodel = 't' AND (SELECT yes FROM reference_missing)))
  AND c.relkind <> 'p'
  AND NOT (c.relreplident = 'f'
           OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
           OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
ORDER BY 1, 2;
