-- citus-migrate verify: the settings every checksum runs under, on both sides, so that the text form of
-- every value (timestamps, floats, intervals, bytea, money) is the same whatever the servers' defaults.
-- Runs inside the checksum's transaction; citus.propagate_set_commands = 'local' makes a Citus
-- coordinator pass the SET LOCALs on to the workers that compute the shards' part (a plain PostgreSQL
-- server accepts the setting as an unused placeholder).
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL IntervalStyle = 'postgres';
SET LOCAL extra_float_digits = 3;
SET LOCAL bytea_output = 'hex';
SET LOCAL lc_monetary = 'C';
SET LOCAL xmloption = 'content';
