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
       pg_database_size(current_database())::int8                            AS database_bytes;
