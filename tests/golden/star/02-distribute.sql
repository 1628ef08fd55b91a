\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: 02-distribute.sql
-- What: makes the planned tables reference tables, then distributes each co-location group (leader
--       first). Safe to run again: tables already laid out as planned are skipped; a table laid out
--       differently stops the script with Citus's error naming it.
-- When: after 01-pre-data.sql, before copying the data (or after: Citus then moves the rows into
--       shards), on the coordinator. Undo with rollback.sql.
-- Plan:  advised by citus-migrate (fingerprint e73514c35d7114eb), for source database 'star'.

SELECT create_reference_table('dw.dim_customer')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'dw.dim_customer'::regclass AND citus_table_type = 'reference');

SELECT create_reference_table('dw.dim_date')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'dw.dim_date'::regclass AND citus_table_type = 'reference');

SELECT create_reference_table('dw.dim_product')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'dw.dim_product'::regclass AND citus_table_type = 'reference');

SELECT create_reference_table('dw."dim_région"')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'dw."dim_région"'::regclass AND citus_table_type = 'reference');

SELECT create_reference_table('dw.dim_store')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'dw.dim_store'::regclass AND citus_table_type = 'reference');

SELECT create_distributed_table('dw.fact_orders', 'order_id', colocate_with => 'none', shard_count => 32)
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'dw.fact_orders'::regclass AND citus_table_type = 'distributed' AND distribution_column = 'order_id' AND shard_count = 32);

SELECT create_distributed_table('dw.fact_order_lines', 'order_id', colocate_with => 'dw.fact_orders')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'dw.fact_order_lines'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'order_id' AND l.table_name = 'dw.fact_orders'::regclass);

