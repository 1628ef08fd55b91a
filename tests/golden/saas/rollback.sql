\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: rollback.sql
-- What: turns every table 02-distribute.sql made distributed or reference back into a plain local table
--       on the coordinator, with all its rows (undistribute_table, cascading through foreign keys). Safe
--       to run twice.
-- When: on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of
--       the tables it brings back.
-- Plan:  advised by citus-migrate (fingerprint 92214c97aee8e9f1), for source database 'saas'.

SELECT undistribute_table('public.users', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.users'));

SELECT undistribute_table('public.page_views', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.page_views'));

SELECT undistribute_table('public."order"', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public."order"'));

SELECT undistribute_table('public.clicks', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.clicks'));

SELECT undistribute_table('public.campaigns', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.campaigns'));

SELECT undistribute_table('public.ads', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.ads'));

SELECT undistribute_table('public."Ad ""Notes""; x"', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public."Ad ""Notes""; x"'));

SELECT undistribute_table('public.companies', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.companies'));

SELECT undistribute_table('public.countries', cascade_via_foreign_keys => true)
WHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('public.countries'));

