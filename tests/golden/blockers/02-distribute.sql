\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: 02-distribute.sql
-- What: makes the planned tables reference tables, then distributes each co-location group (leader
--       first). Safe to run again: tables already laid out as planned are skipped; a table laid out
--       differently stops the script with Citus's error naming it.
-- When: after 01-pre-data.sql, before copying the data (or after: Citus then moves the rows into
--       shards), on the coordinator. Undo with rollback.sql.
-- Plan:  advised by citus-migrate (fingerprint 25e6d77678791ef0), for source database 'blockers'.

SELECT create_reference_table('legacy.featured_orders')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'legacy.featured_orders'::regclass AND citus_table_type = 'reference');

SELECT create_reference_table('legacy.metrics')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'legacy.metrics'::regclass AND citus_table_type = 'reference');

SELECT create_distributed_table('legacy.accounts', 'id', colocate_with => 'none', shard_count => 32)
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'legacy.accounts'::regclass AND citus_table_type = 'distributed' AND distribution_column = 'id' AND shard_count = 32);

SELECT create_distributed_table('legacy.audit_events', 'account_id', colocate_with => 'legacy.accounts')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'legacy.audit_events'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'account_id' AND l.table_name = 'legacy.accounts'::regclass);

SELECT create_distributed_table('legacy.bookings', 'account_id', colocate_with => 'legacy.accounts')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'legacy.bookings'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'account_id' AND l.table_name = 'legacy.accounts'::regclass);

SELECT create_distributed_table('legacy.invoices', 'account_id', colocate_with => 'legacy.accounts')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'legacy.invoices'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'account_id' AND l.table_name = 'legacy.accounts'::regclass);

SELECT create_distributed_table('legacy.order_items', 'account_id', colocate_with => 'legacy.accounts')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'legacy.order_items'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'account_id' AND l.table_name = 'legacy.accounts'::regclass);

SELECT create_distributed_table('legacy.orders', 'account_id', colocate_with => 'legacy.accounts')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'legacy.orders'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'account_id' AND l.table_name = 'legacy.accounts'::regclass);

