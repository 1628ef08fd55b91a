-- citus-migrate cluster check: on every active node, the prepared transactions Citus left behind
-- (gid citus_…) older than $1 seconds — Citus's 2PC recovery resolves them within a minute when all is
-- well. A node that cannot be asked shows success false. Runs in psql with $1 filled in.
SELECT r.nodeid::int8 AS node_id,
       d.nodename || ':' || d.nodeport AS node,
       r.success,
       r.result
FROM run_command_on_all_nodes(
       format('SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE %L AND prepared < now() - make_interval(secs => %s)',
              'citus\_%', $1::int8)) r
JOIN pg_dist_node d ON d.nodeid = r.nodeid
ORDER BY 1;
