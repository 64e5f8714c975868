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

-- name: forget_workers
DELETE FROM offload.workers WHERE seen_at < now() - interval '1 hour';

-- name: expire_idempotency_keys
DELETE FROM offload.idempotency_keys
WHERE (tenant, key) IN (
    SELECT tenant, key FROM offload.idempotency_keys
    WHERE created_at < now() - make_interval(hours => %(hours)s)
    LIMIT 1000
);

-- name: forget_unfired_runs
-- Schedule runs that enqueued nothing (params no longer valid) are kept 30 days; the others
-- go with their task (cleanup.old_records) or their schedule.
DELETE FROM offload.schedule_runs
WHERE (schedule_id, fire_time) IN (
    SELECT schedule_id, fire_time FROM offload.schedule_runs
    WHERE task_id IS NULL AND error IS NOT NULL AND fired_at < now() - interval '30 days'
    LIMIT 1000
);

-- name: pending_after
-- Reconciliation: the next pending tasks after a cursor, in the order they became ready (the
-- partial index tasks_pending_walk), at most `older_than_seconds` past due if that is given.
SELECT t.* FROM offload.tasks t
WHERE t.status = 'pending'
  AND coalesce(t.next_attempt_at, t.created_at) >= %(after_due)s
  AND (coalesce(t.next_attempt_at, t.created_at), t.id) > (%(after_due)s, %(after_id)s)
  AND (%(older_than_seconds)s::float8 IS NULL OR coalesce(t.next_attempt_at, t.created_at)
       < now() - make_interval(secs => %(older_than_seconds)s::float8))
ORDER BY coalesce(t.next_attempt_at, t.created_at), t.id
LIMIT %(limit)s;
