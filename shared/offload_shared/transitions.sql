-- The state machine's statements (transitions.py names each one and draws the machine).
-- Every statement is set-based: it takes one JSON array, `rows`, an object per task, so one
-- statement moves one task or a batch of them, updating each row and appending its history
-- row together. (One JSON parameter costs the client far less than an array per column;
-- `ids`, the same tasks' ids as an array, lets the planner find them by primary key whatever
-- it guesses about the size of `rows`.)
-- The source status is tested with `IS NOT DISTINCT FROM`, the same as `=` on this NOT NULL
-- column, but the planner cannot prove from it that a partial index on that status applies,
-- so it finds the tasks by primary key alone. With `=` and no statistics (a new or truncated
-- table, or a backlog that came faster than autovacuum's ANALYZE) it also read a whole
-- partial index: a claim walked every pending task (tasks_pending_walk, whose second column is
-- the id), an outcome every entry of tasks_running_worker (dead ones included, until vacuum),
-- a resubmit the tenant's finished tasks; a drain slowed as its backlog grew
-- (test_transition_plans.py).
-- A transition only applies to tasks in its source status; the rows it returns are the tasks
-- it moved. A worker's outcome of an attempt names the attempt (its number and the worker's
-- id): an attempt the reaper has already given up on cannot overwrite the next one.

-- name: create
-- Enqueue: the tasks, their first history rows and their outbox rows.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS i(id uuid, tenant text, task_name text, task_type text, queue text,
             priority smallint, params jsonb, max_retries integer, time_limit_ms integer,
             delay_seconds float8, request_id text)
), t AS (
    INSERT INTO offload.tasks (id, tenant, task_name, task_type, queue, priority, params,
                               max_retries, time_limit_ms, next_attempt_at, request_id)
    SELECT id, tenant, task_name, task_type, queue, priority, params, max_retries,
           time_limit_ms, now() + make_interval(secs => delay_seconds), request_id
    FROM i
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, at)
    SELECT id, status, attempts, created_at FROM t
), o AS (
    INSERT INTO offload.outbox (task_id, available_at)
    SELECT id, coalesce(next_attempt_at, created_at) FROM t
)
-- Only what Postgres decided: the rest of each row is what the caller gave (NewTask.task).
SELECT id, created_at, next_attempt_at FROM t;

-- name: claim
-- pending -> running: a worker takes the task (attempts + 1).
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, worker_id uuid)
), t AS (
    UPDATE offload.tasks t
    SET status = 'running', attempts = t.attempts + 1, started_at = now(),
        next_attempt_at = NULL, progress = 0, worker_id = i.worker_id, waiting = NULL
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'pending'
    RETURNING t.*
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, at)
    SELECT id, status, attempts, started_at FROM t
)
SELECT * FROM t;

-- name: claimed
-- Landed claims (see Transition.landed): the tasks running under the worker that claimed them.
-- (That worker cannot be running them already: its broker leases each message once.)
SELECT t.* FROM offload.tasks t
JOIN jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, worker_id uuid) ON t.id = i.id
WHERE t.id = ANY(%(ids)s::uuid[]) AND t.status IS NOT DISTINCT FROM 'running'
  AND t.worker_id = i.worker_id;

-- name: ended
-- Landed outcomes (complete, fail, stop): the attempts already in the outcome's status.
SELECT t.id FROM offload.tasks t
JOIN jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, attempt integer, worker_id uuid)
    ON t.id = i.id
WHERE t.id = ANY(%(ids)s::uuid[]) AND t.status IS NOT DISTINCT FROM %(status)s
  AND t.attempts = i.attempt AND t.worker_id IS NOT DISTINCT FROM i.worker_id;

-- name: complete
-- running -> completed, with the result.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, attempt integer, worker_id uuid, result jsonb)
), t AS (
    UPDATE offload.tasks t
    SET status = 'completed', result = i.result, error_message = NULL, progress = 100,
        completed_at = now()
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'running'
      AND t.attempts = i.attempt AND t.worker_id IS NOT DISTINCT FROM i.worker_id
    RETURNING t.id, t.status, t.attempts, t.completed_at
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, at)
    SELECT id, status, attempts, completed_at FROM t
)
SELECT id FROM t;

-- name: retry
-- running -> pending after a failed attempt: retry_count + 1, the next try after a delay.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS i(id uuid, attempt integer, worker_id uuid, error text,
             delay_seconds float8)
), t AS (
    UPDATE offload.tasks t
    SET status = 'pending', retry_count = t.retry_count + 1, error_message = i.error,
        next_attempt_at = now() + make_interval(secs => i.delay_seconds)
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'running'
      AND t.attempts = i.attempt AND t.worker_id IS NOT DISTINCT FROM i.worker_id
      AND t.cancel_requested_at IS NULL
    RETURNING t.*
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, error_message FROM t
), o AS (
    INSERT INTO offload.outbox (task_id, available_at) SELECT id, next_attempt_at FROM t
    ON CONFLICT (task_id) DO UPDATE SET available_at = excluded.available_at
)
SELECT * FROM t;

-- name: fail
-- running -> failed, with the last error.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, attempt integer, worker_id uuid, error text)
), t AS (
    UPDATE offload.tasks t
    SET status = 'failed', error_message = i.error, completed_at = now()
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'running'
      AND t.attempts = i.attempt AND t.worker_id IS NOT DISTINCT FROM i.worker_id
    RETURNING t.id, t.status, t.attempts, t.error_message, t.completed_at
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, error_message, completed_at FROM t
)
SELECT id FROM t;

-- name: stop
-- running -> cancelled: the task stopped at a checkpoint after a cancel request.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, attempt integer, worker_id uuid)
), t AS (
    UPDATE offload.tasks t
    SET status = 'cancelled', completed_at = now(), next_attempt_at = NULL
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'running'
      AND t.attempts = i.attempt AND t.worker_id IS NOT DISTINCT FROM i.worker_id
    RETURNING t.id, t.status, t.attempts, t.completed_at
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, 'stopped after a cancel request', completed_at FROM t
)
SELECT id FROM t;

-- name: interrupt
-- running -> pending without spending a retry: a worker shutdown cut the attempt short.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, attempt integer, worker_id uuid)
), t AS (
    UPDATE offload.tasks t
    SET status = 'pending', next_attempt_at = now(), worker_id = NULL
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'running'
      AND t.attempts = i.attempt AND t.worker_id IS NOT DISTINCT FROM i.worker_id
    RETURNING t.*
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, 'interrupted by a worker shutdown; requeued' FROM t
), o AS (
    INSERT INTO offload.outbox (task_id) SELECT id FROM t
    ON CONFLICT (task_id) DO NOTHING
)
SELECT * FROM t;

-- name: give_back
-- running -> pending, as if never claimed: a worker claimed the task ahead of a free thread
-- and shut down before starting it (attempts - 1: it never ran).
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, attempt integer, worker_id uuid)
), t AS (
    UPDATE offload.tasks t
    SET status = 'pending', attempts = t.attempts - 1, started_at = NULL, worker_id = NULL
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'running'
      AND t.attempts = i.attempt AND t.worker_id = i.worker_id
    RETURNING t.*
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, 'given back unstarted by a worker shutdown' FROM t
)
SELECT * FROM t;

-- name: cancel
-- pending -> cancelled at once; running -> running with a cancel request (the task stops at
-- its next checkpoint, then `stop` applies). Only the caller's tenant's tasks.
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, tenant text)
), pending AS (
    UPDATE offload.tasks t
    SET status = 'cancelled', completed_at = now(), next_attempt_at = NULL
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.tenant = i.tenant
      AND t.status IS NOT DISTINCT FROM 'pending'
    RETURNING t.*
), running AS (
    UPDATE offload.tasks t SET cancel_requested_at = now()
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.tenant = i.tenant
      AND t.status IS NOT DISTINCT FROM 'running'
      AND t.cancel_requested_at IS NULL
    RETURNING t.*
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, 'cancelled by request', completed_at FROM pending
    UNION ALL
    SELECT id, status, attempts, 'cancel requested', cancel_requested_at FROM running
)
SELECT * FROM pending UNION ALL SELECT * FROM running;

-- name: resubmit
-- failed or cancelled -> pending, with its full retries again (an API retry request).
WITH i AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, tenant text)
), t AS (
    UPDATE offload.tasks t
    SET status = 'pending', retry_count = 0, error_message = NULL, result = NULL, progress = 0,
        completed_at = NULL, cancel_requested_at = NULL, next_attempt_at = now(),
        worker_id = NULL
    FROM i
    WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.tenant = i.tenant
      AND (t.status IS NOT DISTINCT FROM 'failed' OR t.status IS NOT DISTINCT FROM 'cancelled')
    RETURNING t.*
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, 'retried by request' FROM t
), o AS (
    INSERT INTO offload.outbox (task_id) SELECT id FROM t
    ON CONFLICT (task_id) DO NOTHING
)
SELECT * FROM t;

-- name: reap
-- Running tasks whose worker stopped beating (or that overran their time limit by far) count
-- as a failed attempt: back to pending with retry_count + 1, or failed once retries are spent
-- (cancelled if a cancel was requested). A task that keeps killing its worker ends there as
-- poison instead of looping.
WITH lost AS (
    SELECT t.id FROM offload.tasks t
    WHERE t.status = 'running'
      AND t.started_at < now() - make_interval(secs => %(lost_seconds)s)
      AND (NOT EXISTS (SELECT 1 FROM offload.workers w
                       WHERE w.id = t.worker_id
                         AND w.seen_at > now() - make_interval(secs => %(lost_seconds)s))
           OR t.started_at < now() - make_interval(
                 secs => t.time_limit_ms / 1000.0 + %(overrun_seconds)s))
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
), again AS (
    UPDATE offload.tasks t
    SET status = 'pending', retry_count = t.retry_count + 1, next_attempt_at = now(),
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
