-- Every table in Citus's metadata on the target: schema, name, how it is placed (h: hash-distributed,
-- n with replication model t: reference table, n otherwise: a Citus local table), its co-location id
-- and its distribution column.
SELECT n.nspname::text AS schema,
       c.relname::text AS name,
       p.partmethod::text AS method,
       p.repmodel::text AS repmodel,
       p.colocationid::bigint AS colocation,
       CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey) END AS column
FROM pg_dist_partition p
JOIN pg_class c ON c.oid = p.logicalrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1, 2
