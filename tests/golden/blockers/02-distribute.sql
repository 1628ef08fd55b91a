\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: 02-distribute.sql
-- What: makes the planned tables reference tables, then distributes each co-location group (leader
--       first). Safe to run again: tables already laid out as planned are skipped; a table laid out
--       differently stops the script with Citus's error naming it.
-- When: after 01-pre-data.sql, before copying the data (or after: Citus then moves the rows into
--       shards), on the coordinator. Undo with rollback.sql.
-- Plan:  advised by citus-migrate (fingerprint 25e6d77678791ef0), for source database 'blockers'.

SELECT pg_catalog.create_reference_table('legacy.featured_orders'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.featured_orders'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_reference_table('legacy.metrics'::pg_catalog.regclass)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.metrics'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'n'::pg_catalog."char" AND p.repmodel OPERATOR(pg_catalog.=) 't'::pg_catalog."char");

SELECT pg_catalog.create_distributed_table('legacy.accounts'::pg_catalog.regclass, 'id'::pg_catalog.text, colocate_with => 'none'::pg_catalog.text, shard_count => 32)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.accounts'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'id'::pg_catalog.text AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid OPERATOR(pg_catalog.=) p.logicalrelid) OPERATOR(pg_catalog.=) 32);

SELECT pg_catalog.create_distributed_table('legacy.audit_events'::pg_catalog.regclass, 'account_id'::pg_catalog.text, colocate_with => 'legacy.accounts'::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid OPERATOR(pg_catalog.=) p.colocationid WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.audit_events'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'account_id'::pg_catalog.text AND l.logicalrelid OPERATOR(pg_catalog.=) 'legacy.accounts'::pg_catalog.regclass);

SELECT pg_catalog.create_distributed_table('legacy.bookings'::pg_catalog.regclass, 'account_id'::pg_catalog.text, colocate_with => 'legacy.accounts'::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid OPERATOR(pg_catalog.=) p.colocationid WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.bookings'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'account_id'::pg_catalog.text AND l.logicalrelid OPERATOR(pg_catalog.=) 'legacy.accounts'::pg_catalog.regclass);

SELECT pg_catalog.create_distributed_table('legacy.invoices'::pg_catalog.regclass, 'account_id'::pg_catalog.text, colocate_with => 'legacy.accounts'::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid OPERATOR(pg_catalog.=) p.colocationid WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.invoices'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'account_id'::pg_catalog.text AND l.logicalrelid OPERATOR(pg_catalog.=) 'legacy.accounts'::pg_catalog.regclass);

SELECT pg_catalog.create_distributed_table('legacy.order_items'::pg_catalog.regclass, 'account_id'::pg_catalog.text, colocate_with => 'legacy.accounts'::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid OPERATOR(pg_catalog.=) p.colocationid WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.order_items'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'account_id'::pg_catalog.text AND l.logicalrelid OPERATOR(pg_catalog.=) 'legacy.accounts'::pg_catalog.regclass);

SELECT pg_catalog.create_distributed_table('legacy.orders'::pg_catalog.regclass, 'account_id'::pg_catalog.text, colocate_with => 'legacy.accounts'::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid OPERATOR(pg_catalog.=) p.colocationid WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'legacy.orders'::pg_catalog.regclass AND p.partmethod OPERATOR(pg_catalog.=) 'h'::pg_catalog."char" AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) OPERATOR(pg_catalog.=) 'account_id'::pg_catalog.text AND l.logicalrelid OPERATOR(pg_catalog.=) 'legacy.accounts'::pg_catalog.regclass);

