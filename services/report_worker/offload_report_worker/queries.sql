-- The report worker's statements. Registered sources bring their own SQL (OFFLOAD_REPORT_SOURCES).

-- name: begin_snapshot
-- First statement of a report's transaction: the count and the rows see one snapshot, and
-- nothing in it can write.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: set_report_timeout
-- Reports may run longer than the worker's ordinary statements; this transaction only.
SELECT set_config('statement_timeout', %(timeout_ms)s, true);

-- name: task_history_count
SELECT count(*) AS n FROM offload.tasks
WHERE tenant = %(tenant)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s)
  AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s);

-- name: task_history
-- The calling tenant's own tasks, newest first (as the API lists them). Read through a
-- server-side cursor, a chunk at a time.
SELECT id AS task_id, task_name, task_type, status, priority, attempts, retry_count,
       created_at, started_at, completed_at,
       extract(epoch FROM completed_at - started_at)::float8 AS duration_seconds,
       error_message
FROM offload.tasks
WHERE tenant = %(tenant)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s)
  AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s)
ORDER BY created_at DESC, id;
