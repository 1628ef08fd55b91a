-- citus-migrate cluster: the shard moves running now (Citus's get_rebalance_progress), one row per
-- move: the moved table, shard, its size on the source and what has arrived on the target. Runs as-is
-- in psql on a coordinator.
SELECT p.sessionid::int8             AS session,
       n.nspname::text               AS schema,
       c.relname::text               AS name,
       p.shardid::int8               AS shard_id,
       p.sourcename || ':' || p.sourceport AS source,
       p.targetname || ':' || p.targetport AS target,
       coalesce(p.source_shard_size, p.shard_size, 0)::int8 AS bytes,
       coalesce(p.target_shard_size, 0)::int8 AS moved,
       p.progress::int8              AS state
FROM get_rebalance_progress() p
JOIN pg_class c ON c.oid = p.table_name
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1, 4;
