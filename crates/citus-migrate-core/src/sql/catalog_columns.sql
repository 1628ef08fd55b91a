-- citus-migrate catalog: the columns of every user relation, with type facts, defaults, identity,
-- generated expressions and the sequence a column owns. Runs as-is in psql.
SELECT a.attrelid::int8                                        AS table_oid,
       a.attnum::int4                                          AS attnum,
       a.attname::text                                         AS name,
       format_type(a.atttypid, a.atttypmod)                    AS type_name,
       a.atttypid::int8                                        AS type_oid,
       COALESCE(bt.typname, t.typname)::text                   AS base_type,
       COALESCE(bt.typcategory, t.typcategory)::text           AS type_category,
       t.typtype::text                                         AS type_kind,
       a.attnotnull                                            AS not_null,
       pg_get_expr(ad.adbin, ad.adrelid)                       AS default_expr,
       a.attidentity::text                                     AS identity,
       a.attgenerated::text                                    AS generated,
       seq.schema                                              AS sequence_schema,
       seq.name                                                AS sequence_name,
       a.attcollation <> 0 AND a.attcollation <> t.typcollation AS has_collation
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN (
    -- Sequences owned by a column (serial: 'a', identity: 'i'), all at once.
    SELECT d.refobjid, d.refobjsubid, sn.nspname::text AS schema, s.relname::text AS name
    FROM pg_depend d
    JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
    JOIN pg_namespace sn ON sn.oid = s.relnamespace
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.deptype IN ('a', 'i')) seq ON seq.refobjid = a.attrelid AND seq.refobjsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'f', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY a.attrelid, a.attnum;
