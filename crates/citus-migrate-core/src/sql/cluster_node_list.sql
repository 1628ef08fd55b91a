-- citus-migrate cluster: the nodes of pg_dist_node with their placements (distributed and reference
-- tables apart) as the metadata records them; no sizes, so no worker is asked anything and it works
-- while a worker is down (status adds the bytes from citus_shards). Runs as-is in psql on a coordinator.
SELECT n.nodeid::int8          AS node_id,
       n.groupid::int8         AS group_id,
       n.nodename::text        AS host,
       n.nodeport::int8        AS port,
       n.noderole::text        AS role,
       n.isactive              AS active,
       n.hasmetadata           AS has_metadata,
       n.metadatasynced        AS metadata_synced,
       n.shouldhaveshards      AS should_have_shards,
       (SELECT count(*) FROM pg_dist_placement pl
        JOIN pg_dist_shard s ON s.shardid = pl.shardid
        JOIN pg_dist_partition p ON p.logicalrelid = s.logicalrelid
        WHERE pl.groupid = n.groupid AND NOT (p.partmethod = 'n' AND p.repmodel = 't'))::int8 AS shards,
       0::int8                 AS bytes,
       (SELECT count(*) FROM pg_dist_placement pl
        JOIN pg_dist_shard s ON s.shardid = pl.shardid
        JOIN pg_dist_partition p ON p.logicalrelid = s.logicalrelid
        WHERE pl.groupid = n.groupid AND p.partmethod = 'n' AND p.repmodel = 't')::int8 AS reference_shards,
       0::int8                 AS reference_bytes
FROM pg_dist_node n
ORDER BY n.groupid, n.nodeid;
