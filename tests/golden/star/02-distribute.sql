\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: 02-distribute.sql
-- What: makes the planned tables reference tables, then distributes each co-location group (leader
--       first). Safe to run again: tables already laid out as planned are skipped; a table laid out
--       differently stops the script with Citus's error naming it.
-- When: after 01-pre-data.sql, before copying the data (or after: Citus then moves the rows into
--       shards), on the coordinator. Undo with rollback.sql.
-- Plan:  advised by citus-migrate (fingerprint e73514c35d7114eb), for source database 'star'.

SELECT pg_catalog.create_reference_table('dw.dim_customer'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw.dim_customer'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_reference_table('dw.dim_date'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw.dim_date'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_reference_table('dw.dim_product'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw.dim_product'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_reference_table('dw."dim_région"'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw."dim_région"'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_reference_table('dw.dim_store'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw.dim_store'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_distributed_table('dw.fact_orders'::pg_catalog.regclass, 'order_id'::pg_catalog.text, colocate_with => 'none'::pg_catalog.text, shard_count => 32)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw.fact_orders'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'order_id'::pg_catalog.text AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid OPERATOR(pg_catalog.=) p.logicalrelid) OPERATOR(pg_catalog.=) 32);

SELECT pg_catalog.create_distributed_table('dw.fact_order_lines'::pg_catalog.regclass, 'order_id'::pg_catalog.text, colocate_with => 'dw.fact_orders'::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid OPERATOR(pg_catalog.=) p.colocationid WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'dw.fact_order_lines'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'order_id'::pg_catalog.text AND l.logicalrelid OPERATOR(pg_catalog.=) 'dw.fact_orders'::pg_catalog.regclass);

