\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
-- citus-migrate generate: 02-distribute.sql
-- What: makes the planned tables reference tables, then distributes each co-location group (leader
--       first). Safe to run again: tables already laid out as planned are skipped; a table laid out
--       differently stops the script with Citus's error naming it.
-- When: after 01-pre-data.sql, before copying the data (or after: Citus then moves the rows into
--       shards), on the coordinator. Undo with rollback.sql.
-- Plan:  advised by citus-migrate (fingerprint 92214c97aee8e9f1), for source database 'saas'.

SELECT create_reference_table('public.countries')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'public.countries'::regclass AND citus_table_type = 'reference');

SELECT create_distributed_table('public.companies', 'id', colocate_with => 'none', shard_count => 32)
WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'public.companies'::regclass AND citus_table_type = 'distributed' AND distribution_column = 'id' AND shard_count = 32);

SELECT create_distributed_table('public."Ad ""Notes""; x"', 'company_id', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public."Ad ""Notes""; x"'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'company_id' AND l.table_name = 'public.companies'::regclass);

SELECT create_distributed_table('public.ads', 'company_id', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public.ads'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'company_id' AND l.table_name = 'public.companies'::regclass);

SELECT create_distributed_table('public.campaigns', 'company_id', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public.campaigns'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'company_id' AND l.table_name = 'public.companies'::regclass);

SELECT create_distributed_table('public.clicks', 'company_id', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public.clicks'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'company_id' AND l.table_name = 'public.companies'::regclass);

SELECT create_distributed_table('public."order"', 'Company ID', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public."order"'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'Company ID' AND l.table_name = 'public.companies'::regclass);

SELECT create_distributed_table('public.page_views', 'company_id', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public.page_views'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'company_id' AND l.table_name = 'public.companies'::regclass);

SELECT create_distributed_table('public.users', 'company_id', colocate_with => 'public.companies')
WHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = 'public.users'::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = 'company_id' AND l.table_name = 'public.companies'::regclass);

