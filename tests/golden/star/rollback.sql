\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: rollback.sql
-- What: turns every table 02-distribute.sql made distributed or reference back into a plain local table
--       on the coordinator, with all its rows (undistribute_table, cascading through foreign keys), then
--       undoes the plan's changes to the tables (keys, foreign keys, added columns, column types back as
--       on the source). Safe to run twice.
-- When: on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of
--       the tables it brings back.
-- Plan:  advised by citus-migrate (fingerprint e73514c35d7114eb), for source database 'star'.

SELECT pg_catalog.undistribute_table('dw.fact_order_lines'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw.fact_order_lines'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('dw.fact_orders'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw.fact_orders'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('dw.dim_store'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw.dim_store'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('dw."dim_région"'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw."dim_région"'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('dw.dim_product'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw.dim_product'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('dw.dim_date'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw.dim_date'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('dw.dim_customer'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('dw.dim_customer'::pg_catalog.text));

