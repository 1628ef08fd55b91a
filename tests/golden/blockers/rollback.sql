\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: rollback.sql
-- What: turns every table 02-distribute.sql made distributed or reference back into a plain local table
--       on the coordinator, with all its rows (undistribute_table, cascading through foreign keys), then
--       undoes the plan's changes to the tables (keys, foreign keys, added columns, column types back as
--       on the source). Safe to run twice.
-- When: on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of
--       the tables it brings back.
-- Plan:  advised by citus-migrate (fingerprint 25e6d77678791ef0), for source database 'blockers'.

SELECT pg_catalog.undistribute_table('legacy.orders'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.orders'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.order_items'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.order_items'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.invoices'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.invoices'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.bookings'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.bookings'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.audit_events'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.audit_events'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.accounts'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.accounts'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.metrics'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.metrics'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('legacy.featured_orders'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('legacy.featured_orders'::pg_catalog.text));

