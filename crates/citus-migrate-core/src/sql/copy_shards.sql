-- citus-migrate copy: the shard layout of distributed tables, for sending rows straight to the shard
-- placements. $1 is a text array of table names, quoted (e.g. ARRAY['public.pgbench_accounts']). One row
-- per active primary placement, `ord` naming the table by its position in $1 (a table that is not
-- distributed has no rows); `placements` counts a shard's active placements (worker-direct needs 1).
-- regclass = regclass is pg_catalog's: the target has the source's operators, and one of them could
-- match those types exactly.
SELECT w.ord::int4                                                     AS ord,
       p.logicalrelid::oid::int8                                       AS table_oid,
       p.partmethod::text                                              AS partmethod,
       column_to_column_name(p.logicalrelid, p.partkey)                AS dist_column,
       (SELECT ty.typname::text
        FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
        WHERE a.attrelid = p.logicalrelid
          AND a.attname = column_to_column_name(p.logicalrelid, p.partkey)) AS dist_type,
       COALESCE((SELECT co.collisdeterministic
                 FROM pg_attribute a JOIN pg_collation co ON co.oid = a.attcollation
                 WHERE a.attrelid = p.logicalrelid
                   AND a.attname = column_to_column_name(p.logicalrelid, p.partkey)), true)
                                                                       AS dist_deterministic,
       (SELECT pg_encoding_to_char(d.encoding) FROM pg_database d
        WHERE d.datname = current_database())                          AS encoding,
       EXISTS (SELECT 1 FROM pg_trigger tg
               WHERE tg.tgrelid = p.logicalrelid AND NOT tg.tgisinternal) AS has_triggers,
       s.shardid                                                       AS shardid,
       CASE WHEN ns.nspname = 'public'
            THEN 'public.' || shard_name(p.logicalrelid, s.shardid)
            ELSE shard_name(p.logicalrelid, s.shardid) END             AS relation,
       s.shardminvalue::int4                                           AS min,
       s.shardmaxvalue::int4                                           AS max,
       (SELECT count(*) FROM pg_dist_placement pl2
        JOIN pg_dist_node n2 ON n2.groupid = pl2.groupid
        WHERE pl2.shardid = s.shardid AND pl2.shardstate = 1
          AND n2.isactive AND n2.noderole = 'primary')                 AS placements,
       n.nodename::text                                                AS nodename,
       n.nodeport::int4                                                AS nodeport
FROM unnest($1::text[]) WITH ORDINALITY AS w(name, ord)
JOIN pg_dist_partition p ON p.logicalrelid OPERATOR(pg_catalog.=) w.name::regclass
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace ns ON ns.oid = c.relnamespace
JOIN pg_dist_shard s ON s.logicalrelid OPERATOR(pg_catalog.=) p.logicalrelid
JOIN pg_dist_placement pl ON pl.shardid = s.shardid AND pl.shardstate = 1
JOIN pg_dist_node n ON n.groupid = pl.groupid AND n.isactive AND n.noderole = 'primary'
ORDER BY w.ord, s.shardid;
