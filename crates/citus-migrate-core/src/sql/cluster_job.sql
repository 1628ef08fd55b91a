-- citus-migrate cluster rebalance: where background job $1 stands: its state, its tasks by status, and
-- the messages of tasks that failed or are being retried (Citus's own errors). Runs in psql with $1.
SELECT j.state::text AS state,
       (SELECT count(*) FROM pg_dist_background_task t WHERE t.job_id = j.job_id)::int8 AS tasks,
       (SELECT count(*) FROM pg_dist_background_task t
        WHERE t.job_id = j.job_id AND t.status = 'done')::int8 AS done,
       (SELECT count(*) FROM pg_dist_background_task t
        WHERE t.job_id = j.job_id AND t.status = 'running')::int8 AS running,
       coalesce((SELECT array_agg(t.status || ' (retried ' || coalesce(t.retry_count, 0) || '): ' || t.command || ': ' || t.message
                                  ORDER BY t.task_id)
                 FROM pg_dist_background_task t
                 WHERE t.job_id = j.job_id AND t.message <> ''
                   AND (t.status = 'error' OR coalesce(t.retry_count, 0) > 0)), '{}')::text[] AS errors
FROM pg_dist_background_job j
WHERE j.job_id = $1::int8;
