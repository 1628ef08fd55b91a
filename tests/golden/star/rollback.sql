\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: rollback.sql
-- What: turns every table 02-distribute.sql made distributed or reference back into a plain local table
--       on the coordinator, with all its rows (undistribute_table, cascading through foreign keys). Safe
--       to run twice.
-- When: on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of
--       the tables it brings back.
-- Plan:  advised by citus-migrate (fingerprint e73514c35d7114eb), for source database 'star'.

SELECT undistribute_table('dw.fact_order_lines', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw.fact_order_lines'));

SELECT undistribute_table('dw.fact_orders', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw.fact_orders'));

SELECT undistribute_table('dw.dim_store', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw.dim_store'));

SELECT undistribute_table('dw."dim_région"', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw."dim_région"'));

SELECT undistribute_table('dw.dim_product', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw.dim_product'));

SELECT undistribute_table('dw.dim_date', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw.dim_date'));

SELECT undistribute_table('dw.dim_customer', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('dw.dim_customer'));

