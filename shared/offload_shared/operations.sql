-- What operators look at: per-queue figures, throughput, workers, the transitions feed and the
-- task sets a bulk action applies to (operations.py). Read by the dashboard, the CLI's API
-- endpoints and the metrics.

-- name: queue_backlog
-- Pending and running tasks per queue, along tasks_backlog (a small partial index however
-- long the history); `tenant` NULL: every tenant's.
SELECT queue,
       count(*) FILTER (WHERE status = 'pending' AND waiting IS NULL
                        AND coalesce(next_attempt_at, created_at) <= now()) AS ready,
       count(*) FILTER (WHERE status = 'pending' AND waiting IS NULL
                        AND coalesce(next_attempt_at, created_at) > now()) AS delayed,
       count(*) FILTER (WHERE status = 'pending' AND waiting IS NOT NULL) AS waiting,
       count(*) FILTER (WHERE status = 'running') AS running,
       -- What KEDA scales each worker by (deploy/k8s, its ScaledObject's query): running
       -- tasks and pending ones due within 30 s that no limit holds back.
       count(*) FILTER (WHERE status = 'running' OR (status = 'pending' AND waiting IS NULL
                        AND coalesce(next_attempt_at, created_at) <= now() + interval '30 seconds'))
           AS backlog,
       extract(epoch FROM now() - min(coalesce(next_attempt_at, created_at))
               FILTER (WHERE status = 'pending'
                       AND coalesce(next_attempt_at, created_at) <= now()))::float8
           AS oldest_ready_age_seconds
FROM offload.tasks
WHERE status IN ('pending', 'running')
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
GROUP BY queue;

-- name: queue_finished
-- One tenant's tasks finished since `since`, per queue and status (tasks_finished).
SELECT queue, status, count(*) AS count
FROM offload.tasks
WHERE tenant = %(tenant)s AND status IN ('completed', 'failed', 'cancelled')
  AND completed_at >= %(since)s
GROUP BY queue, status;

-- name: throughput
-- One tenant's finished tasks per time bucket and queue since `since` (tasks_finished).
-- date_bin on the timestamps (buckets from the Unix epoch, as throughput() counts them): a
-- day of 130,000 finished tasks took 82 ms, against 150 ms through extract(epoch), whose
-- numeric arithmetic was half the time (bench/ui.py, a million tasks).
SELECT date_bin(make_interval(secs => %(bucket_seconds)s), completed_at,
                timestamptz '1970-01-01 00:00:00+00') AS start,
       queue,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed
FROM offload.tasks
WHERE tenant = %(tenant)s AND status IN ('completed', 'failed', 'cancelled')
  AND completed_at >= %(since)s
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: workers
-- Every registered worker process, and the running tasks of `tenant` (NULL: everyone's) each
-- holds (tasks_running_worker).
SELECT w.id, w.queue, w.hostname, w.pid, w.threads, w.started_at, w.seen_at,
       w.seen_at > now() - make_interval(secs => %(lost_seconds)s) AS alive,
       coalesce(jsonb_agg(jsonb_build_object(
           'id', t.id, 'task_name', t.task_name, 'progress', t.progress,
           'started_at', t.started_at) ORDER BY t.started_at)
           FILTER (WHERE t.id IS NOT NULL), '[]') AS running
FROM offload.workers w
LEFT JOIN offload.tasks t ON t.worker_id = w.id AND t.status = 'running'
    AND (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s)
GROUP BY w.id
ORDER BY alive DESC, w.queue, w.hostname, w.pid;

-- name: events_after
-- The tenant's transitions after a cursor, oldest first (the primary key, then the task).
SELECT e.id, e.task_id, t.task_name, t.queue, e.status, e.attempt, e.detail, e.at
FROM offload.task_events e
JOIN offload.tasks t ON t.id = e.task_id
WHERE e.id > %(after_id)s AND t.tenant = %(tenant)s
ORDER BY e.id
LIMIT %(limit)s;

-- name: outbox_lag
-- Outbox rows due for the relay, and how long the oldest has waited (0 when none).
SELECT count(*) AS due,
       coalesce(extract(epoch FROM now() - min(available_at)), 0)::float8 AS lag_seconds
FROM offload.outbox
WHERE available_at <= now();

-- name: latest_event_id
SELECT coalesce(max(id), 0) AS id FROM offload.task_events;

-- name: cleanup_candidates
-- What cleanup.old_records would delete for a tenant (its progress figure, and the dry run of
-- `offload cleanup`); keep_task_id, the cleanup task itself, is never counted.
SELECT
    (SELECT count(*) FROM offload.tasks
     WHERE tenant = %(tenant)s AND status IN ('completed', 'failed', 'cancelled')
       AND completed_at < %(cutoff)s
       AND (%(keep_task_id)s::uuid IS NULL OR id <> %(keep_task_id)s)) AS tasks,
    (SELECT count(*) FROM offload.artifacts
     WHERE tenant = %(tenant)s AND expires_at <= %(now)s) AS artifacts,
    (SELECT count(*) FROM offload.analytics_snapshots s
     WHERE s.tenant = %(tenant)s AND s.created_at < %(cutoff)s
       AND s.id < (SELECT max(l.id) FROM offload.analytics_snapshots l
                   WHERE l.tenant = s.tenant AND l.kind = s.kind)) AS snapshots;
