\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: rollback.sql
-- What: turns every table 02-distribute.sql made distributed or reference back into a plain local table
--       on the coordinator, with all its rows (undistribute_table, cascading through foreign keys), then
--       undoes the plan's changes to the tables (keys, foreign keys, added columns, column types back as
--       on the source). Safe to run twice.
-- When: on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of
--       the tables it brings back.
-- Plan:  advised by citus-migrate (fingerprint 92214c97aee8e9f1), for source database 'saas'.

SELECT pg_catalog.undistribute_table('public.users'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.users'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public.page_views'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.page_views'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public."order"'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public."order"'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public.clicks'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.clicks'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public.campaigns'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.campaigns'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public.ads'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.ads'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public."Ad ""Notes""; x"'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public."Ad ""Notes""; x"'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public.companies'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.companies'::pg_catalog.text));

SELECT pg_catalog.undistribute_table('public.countries'::pg_catalog.regclass, cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('public.countries'::pg_catalog.text));

