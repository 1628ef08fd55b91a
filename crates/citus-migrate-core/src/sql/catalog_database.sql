-- citus-migrate catalog: facts about the database as a whole. Runs as-is in psql.
SELECT current_database()::text                                              AS database,
       current_setting('server_version')                                     AS server_version,
       current_setting('server_version_num')::int4                           AS server_version_num,
       (SELECT extversion::text FROM pg_extension WHERE extname = 'citus')   AS citus_version,
       COALESCE((SELECT json_agg(json_build_object('name', extname, 'version', extversion,
                                                   'schema', extnamespace::regnamespace::text)
                                  ORDER BY extname)
                   FROM pg_extension), '[]'::json)::text                    AS extensions,
       current_user::text                                                    AS current_user,
       pg_database_size(current_database())::int8                            AS database_bytes,
       -- On a streaming hot standby: WAL received but not yet replayed, and the age of the last
       -- transaction replayed (NULL on a primary).
       CASE WHEN pg_is_in_recovery() THEN
         json_build_object(
           'unreplayed_bytes', COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(),
                                                        pg_last_wal_replay_lsn()), 0)::int8,
           'last_replay_age_seconds',
             extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
           'feedback', current_setting('hot_standby_feedback')::bool)::text
       END                                                                   AS standby;
