-- citus-migrate cluster: is this node the Citus coordinator (group 0)? Asked once the citus extension
-- is known to be installed (without it the table does not exist). Runs as-is in psql.
SELECT groupid = 0 AS is_coordinator FROM pg_dist_local_group;
