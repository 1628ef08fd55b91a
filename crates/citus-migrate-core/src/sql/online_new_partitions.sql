-- Leaf partitions that joined a partition tree of the online migration's publication after it was
-- made (DDL on the source during the catch-up): their rows are not published. $1: the publication.
-- Each row: the new partition, its partitioned root.
SELECT DISTINCT pg_catalog.format('%I.%I', n.nspname, c.relname) AS partition,
       pg_catalog.format('%I.%I', rn.nspname, r.relname) AS root
FROM pg_catalog.pg_publication p
JOIN pg_catalog.pg_publication_rel pr ON pr.prpubid = p.oid
CROSS JOIN LATERAL pg_catalog.pg_partition_root(pr.prrelid) AS root(oid)
CROSS JOIN LATERAL pg_catalog.pg_partition_tree(root.oid) AS t
JOIN pg_catalog.pg_class c ON c.oid = t.relid AND t.isleaf AND c.relkind = 'r'
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class r ON r.oid = root.oid
JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE p.pubname = $1
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel x
                  WHERE x.prpubid = p.oid AND x.prrelid = t.relid)
ORDER BY 1;
