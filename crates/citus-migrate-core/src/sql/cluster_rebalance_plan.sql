-- citus-migrate cluster rebalance: the moves Citus's rebalancer would make ($1: one table or NULL for
-- all, $2: the rebalance strategy or NULL for the default; $3: only drain nodes that should not have
-- shards). Runs in psql with the parameters filled in.
SELECT n.nspname::text   AS schema,
       c.relname::text   AS name,
       m.shardid::int8   AS shard_id,
       m.shard_size::int8 AS bytes,
       m.sourcename::text AS source_host,
       m.sourceport::int8 AS source_port,
       m.targetname::text AS target_host,
       m.targetport::int8 AS target_port
FROM get_rebalance_table_shards_plan(relation => $1::text::regclass,
                                     drain_only => $3::bool,
                                     rebalance_strategy => $2::text::name) m
JOIN pg_class c ON c.oid = m.table_name
JOIN pg_namespace n ON n.oid = c.relnamespace;
