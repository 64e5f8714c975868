-- Every statement the analytics worker runs. Each one is scoped to one tenant: a task only
-- ever reads or changes its own tenant's rows. Days and hours are UTC.

-- name: read_only_snapshot
-- First statement of a transaction: every later query in it sees the same data.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: status_counts
-- Additive counters at the finest grain (queue, task type, status); pandas sums them up.
SELECT queue, task_type, status,
       count(*) AS n,
       count(*) FILTER (WHERE retry_count > 0) AS retried,
       coalesce(sum(retry_count), 0)::bigint AS retries
FROM offload.tasks
WHERE tenant = %(tenant)s
GROUP BY queue, task_type, status;

-- name: duration_stats
-- Run time (completed_at - started_at of the last attempt) of completed tasks: mean, p50, p95.
-- Percentiles do not add up, so each grouping is computed here: per queue, per type, overall.
WITH d AS (
    SELECT queue, task_type, extract(epoch FROM completed_at - started_at)::float8 AS seconds
    FROM offload.tasks
    WHERE tenant = %(tenant)s AND status = 'completed' AND started_at IS NOT NULL
)
SELECT CASE WHEN grouping(queue) = 0 THEN 'queue'
            WHEN grouping(task_type) = 0 THEN 'type'
            ELSE 'overall' END AS scope,
       CASE WHEN grouping(queue) = 0 THEN queue ELSE task_type END AS key,
       count(*) AS n,
       avg(seconds) AS mean_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds) AS p95_seconds
FROM d
GROUP BY GROUPING SETS ((queue), (task_type), ());

-- name: finished_per_bucket
-- Finished tasks (completed, failed, cancelled) per UTC hour or day in [since, until).
SELECT date_trunc(%(unit)s::text, completed_at AT TIME ZONE 'UTC') AS bucket,
       queue, task_type, count(*) AS n
FROM offload.tasks
WHERE tenant = %(tenant)s AND status IN ('completed', 'failed', 'cancelled')
  AND completed_at >= %(since)s AND completed_at < %(until)s
GROUP BY 1, 2, 3;

-- name: top_errors
-- The most frequent final errors of failed tasks (a long message is shown clipped).
SELECT left(error_message, %(max_chars)s) AS error_message, count(*) AS n,
       max(completed_at) AS last_seen
FROM offload.tasks
WHERE tenant = %(tenant)s AND status = 'failed' AND error_message IS NOT NULL
GROUP BY error_message
ORDER BY n DESC, last_seen DESC, error_message
LIMIT %(limit)s;

-- name: created_per_day
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, task_type, count(*) AS n
FROM offload.tasks
WHERE tenant = %(tenant)s AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY 1, 2;

-- name: finished_per_day
-- Per UTC day of completed_at: finished tasks by status, and the run time of completed ones
-- as a sum and a count (additive, so pandas can merge days and types exactly).
SELECT (completed_at AT TIME ZONE 'UTC')::date AS day, task_type, status, count(*) AS n,
       coalesce(sum(extract(epoch FROM completed_at - started_at)::float8)
                FILTER (WHERE status = 'completed' AND started_at IS NOT NULL), 0) AS duration_sum,
       count(*) FILTER (WHERE status = 'completed' AND started_at IS NOT NULL) AS duration_n
FROM offload.tasks
WHERE tenant = %(tenant)s AND status IN ('completed', 'failed', 'cancelled')
  AND completed_at >= %(start)s AND completed_at < %(end)s
GROUP BY 1, 2, 3;

-- name: failure_groups
-- Failed tasks per (task type, task name, error class), with the most recent one as example.
-- The error class is the text before the first ':' of error_message ("TimeoutError: ..." ->
-- "TimeoutError"), 'unknown' when there is none.
WITH f AS (
    SELECT id, task_type, task_name, completed_at, error_message,
           coalesce(left(nullif(btrim(split_part(error_message, ':', 1)), ''), %(max_class_chars)s),
                    'unknown') AS error_class
    FROM offload.tasks
    WHERE tenant = %(tenant)s AND status = 'failed'
      AND completed_at >= %(start)s AND completed_at < %(end)s
)
SELECT DISTINCT ON (task_type, task_name, error_class)
       task_type, task_name, error_class,
       count(*) OVER (PARTITION BY task_type, task_name, error_class) AS n,
       id AS latest_task_id,
       left(error_message, %(max_message_chars)s) AS latest_message,
       completed_at AS latest_at
FROM f
ORDER BY task_type, task_name, error_class, completed_at DESC, id;

-- name: upsert_metrics
-- One batch of items ({external_id, team_id, data, data_sha256} objects in a jsonb array).
-- An unchanged row (same sha256 and team) is left alone unless forced; each row written
-- comes back with `created` true for an insert, false for an update.
INSERT INTO offload.metrics AS m (tenant, source, external_id, team_id, data, data_sha256)
SELECT %(tenant)s, %(source)s, i.external_id, i.team_id, i.data, i.data_sha256
FROM jsonb_to_recordset(%(items)s::jsonb)
     AS i(external_id text, team_id text, data jsonb, data_sha256 text)
ON CONFLICT (tenant, source, external_id) DO UPDATE
SET team_id = EXCLUDED.team_id, data = EXCLUDED.data, data_sha256 = EXCLUDED.data_sha256,
    updated_at = now()
WHERE %(force)s::boolean
   OR m.data_sha256 <> EXCLUDED.data_sha256
   OR m.team_id IS DISTINCT FROM EXCLUDED.team_id
RETURNING (xmax = 0) AS created;

-- name: cleanup_delete_tasks
-- One batch of finished tasks past the window; their history, deliveries and artifacts go with
-- them (ON DELETE CASCADE). Rows another transaction holds are skipped, and the outer status
-- check is re-evaluated on rows changed meanwhile, so only finished tasks are ever deleted.
-- The artifacts count is read from the statement's snapshot, before the cascade.
WITH doomed AS (
    SELECT id FROM offload.tasks
    WHERE tenant = %(tenant)s AND status IN ('completed', 'failed', 'cancelled')
      AND completed_at < %(cutoff)s AND id <> %(keep_task_id)s
    ORDER BY completed_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM offload.tasks t
    USING doomed
    WHERE t.id = doomed.id AND t.tenant = %(tenant)s
      AND t.status IN ('completed', 'failed', 'cancelled')
    RETURNING t.id
)
SELECT (SELECT count(*) FROM deleted) AS tasks,
       (SELECT count(*) FROM offload.artifacts a JOIN deleted d ON a.task_id = d.id) AS artifacts;

-- name: cleanup_delete_expired_artifacts
-- One batch of the tenant's expired artifacts (their chunks go by ON DELETE CASCADE).
DELETE FROM offload.artifacts
WHERE id IN (SELECT id FROM offload.artifacts
             WHERE tenant = %(tenant)s AND expires_at <= %(now)s
             ORDER BY expires_at
             LIMIT %(limit)s)
RETURNING id;

-- name: cleanup_delete_snapshots
-- One batch of snapshots older than the window; the latest snapshot of each kind is kept, so
-- a reader still finds the last computed view however old it is.
DELETE FROM offload.analytics_snapshots
WHERE id IN (SELECT s.id FROM offload.analytics_snapshots s
             WHERE s.tenant = %(tenant)s AND s.created_at < %(cutoff)s
               AND s.id < (SELECT max(l.id) FROM offload.analytics_snapshots l
                           WHERE l.tenant = s.tenant AND l.kind = s.kind)
             ORDER BY s.id
             LIMIT %(limit)s)
RETURNING id;
