-- citus-migrate cluster check: can the coordinator run a query on each primary worker? (Citus's own
-- citus_check_connection_to_node; an inactive node is reported as such and not asked.) Runs as-is.
SELECT d.nodename || ':' || d.nodeport AS node,
       d.isactive AS active,
       CASE WHEN d.isactive THEN citus_check_connection_to_node(d.nodename, d.nodeport) END AS reachable
FROM pg_dist_node d
WHERE d.noderole = 'primary' AND d.groupid <> 0
ORDER BY d.groupid;
