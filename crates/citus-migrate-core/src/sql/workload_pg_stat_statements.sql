-- The statements pg_stat_statements has seen in the current database: text (constants already
-- replaced by $n), calls and total execution time in milliseconds. Top-level statements and the ones
-- run inside functions alike, every user.
SELECT s.query,
       sum(s.calls)::bigint AS calls,
       sum(s.total_exec_time)::float8 AS total_ms
FROM pg_stat_statements s
JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database()
GROUP BY s.query
ORDER BY sum(s.calls) DESC, s.query
