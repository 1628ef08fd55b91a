-- citus-migrate cluster check: the shards larger than $1 bytes (sizes from citus_shards, which asks
-- every worker). Runs in psql with $1 filled in.
SELECT s.table_name::text AS table_name, s.shardid::int8 AS shard_id,
       s.nodename || ':' || s.nodeport AS node, s.shard_size::int8 AS bytes
FROM citus_shards s
WHERE s.shard_size > $1::int8
ORDER BY s.shard_size DESC;
