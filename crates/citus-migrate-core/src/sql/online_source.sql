-- citus-migrate online: the source settings and rights that logical decoding through the SQL interface
-- needs, and what the slots retain.
SELECT current_setting('wal_level') AS wal_level,
       current_setting('max_replication_slots')::int AS max_slots,
       (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int AS used_slots,
       current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size,
       r.rolsuper OR r.rolreplication AS can_replicate,
       r.rolname::text AS role,
       current_database()::text AS database,
       pg_catalog.has_database_privilege(current_database(), 'CREATE') AS can_create
FROM pg_catalog.pg_roles r
WHERE r.rolname = current_user
