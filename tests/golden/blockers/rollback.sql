\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: rollback.sql
-- What: turns every table 02-distribute.sql made distributed or reference back into a plain local table
--       on the coordinator, with all its rows (undistribute_table, cascading through foreign keys). Safe
--       to run twice.
-- When: on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of
--       the tables it brings back.
-- Plan:  advised by citus-migrate (fingerprint 25e6d77678791ef0), for source database 'blockers'.

SELECT undistribute_table('legacy.orders', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.orders'));

SELECT undistribute_table('legacy.order_items', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.order_items'));

SELECT undistribute_table('legacy.invoices', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.invoices'));

SELECT undistribute_table('legacy.bookings', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.bookings'));

SELECT undistribute_table('legacy.audit_events', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.audit_events'));

SELECT undistribute_table('legacy.accounts', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.accounts'));

SELECT undistribute_table('legacy.metrics', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.metrics'));

SELECT undistribute_table('legacy.featured_orders', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('legacy.featured_orders'));

