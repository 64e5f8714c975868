-- The scheduler's statements. It runs them only while it holds the leader lock.

-- name: try_leader_lock
SELECT pg_try_advisory_lock(%(key)s) AS leader;

-- name: due_outbox
-- Rows the API or a worker could not publish (or has not yet: younger rows are theirs).
SELECT t.* FROM offload.outbox o
JOIN offload.tasks t ON t.id = o.task_id
WHERE o.available_at <= now()
  AND o.created_at <= now() - make_interval(secs => %(min_age_seconds)s)
ORDER BY o.available_at
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED;

-- name: delete_outbox
DELETE FROM offload.outbox WHERE task_id = ANY(%(ids)s);

-- name: reap_lost
-- Running tasks whose worker stopped beating (or that overran their time limit by far) count
-- as a failed attempt: back to pending with retry_count + 1, or failed once retries are spent.
-- A task that keeps killing its worker ends there as poison instead of looping.
WITH lost AS (
    SELECT t.id FROM offload.tasks t
    WHERE t.status = 'running'
      AND t.started_at < now() - make_interval(secs => %(lost_seconds)s)
      AND (NOT EXISTS (SELECT 1 FROM offload.workers w
                       WHERE w.id = t.worker_id
                         AND w.seen_at > now() - make_interval(secs => %(lost_seconds)s))
           OR t.started_at < now() - make_interval(
                 secs => t.time_limit_ms / 1000.0 + %(overrun_seconds)s))
    FOR UPDATE OF t SKIP LOCKED
), again AS (
    UPDATE offload.tasks t
    SET status = 'pending', retry_count = t.retry_count + 1, next_attempt_at = NULL,
        worker_id = NULL,
        error_message = 'worker lost while running attempt ' || t.attempts
    FROM lost
    WHERE t.id = lost.id AND t.retry_count < t.max_retries AND t.cancel_requested_at IS NULL
    RETURNING t.*
), ended AS (
    UPDATE offload.tasks t
    SET status = CASE WHEN t.cancel_requested_at IS NULL THEN 'failed' ELSE 'cancelled' END,
        completed_at = now(), worker_id = NULL,
        error_message = CASE WHEN t.cancel_requested_at IS NULL
            THEN 'worker lost while running attempt ' || t.attempts
                 || '; no retries left (a task that keeps killing its worker ends here)'
            ELSE t.error_message END
    FROM lost
    WHERE t.id = lost.id AND NOT (t.retry_count < t.max_retries AND t.cancel_requested_at IS NULL)
    RETURNING t.*
), events AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, error_message FROM again
    UNION ALL
    SELECT id, status, attempts, error_message FROM ended
), o AS (
    INSERT INTO offload.outbox (task_id) SELECT id FROM again
    ON CONFLICT (task_id) DO NOTHING
)
SELECT (SELECT count(*) FROM again) AS requeued, (SELECT count(*) FROM ended) AS ended;

-- name: requeue_overdue
-- Pending tasks long overdue and not in the outbox lost their message (e.g. Redis lost its
-- data): publish them again, at most once per window. A duplicate message is harmless.
WITH t AS (
    UPDATE offload.tasks SET next_attempt_at = now()
    WHERE id IN (
        SELECT id FROM offload.tasks t
        WHERE status = 'pending'
          AND coalesce(next_attempt_at, created_at) < now() - make_interval(secs => %(after_seconds)s)
          AND NOT EXISTS (SELECT 1 FROM offload.outbox o WHERE o.task_id = t.id)
        LIMIT 1000
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
)
INSERT INTO offload.outbox (task_id) SELECT id FROM t
ON CONFLICT (task_id) DO NOTHING
RETURNING task_id;

-- name: forget_workers
DELETE FROM offload.workers WHERE seen_at < now() - interval '1 hour';

-- name: expire_idempotency_keys
DELETE FROM offload.idempotency_keys
WHERE (tenant, key) IN (
    SELECT tenant, key FROM offload.idempotency_keys
    WHERE created_at < now() - make_interval(hours => %(hours)s)
    LIMIT 1000
);
