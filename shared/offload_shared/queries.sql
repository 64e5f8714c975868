-- Every statement the shared store runs. Each transition updates the task row and appends
-- its history row in ONE statement (one round trip, one implicit transaction).

-- name: insert_task
-- The task, its first history row and its outbox row: one statement, one transaction.
WITH t AS (
    INSERT INTO offload.tasks (id, tenant, task_name, task_type, queue, priority, params,
                               max_retries, time_limit_ms, next_attempt_at)
    VALUES (%(id)s, %(tenant)s, %(task_name)s, %(task_type)s, %(queue)s, %(priority)s,
            %(params)s, %(max_retries)s, %(time_limit_ms)s,
            now() + make_interval(secs => %(delay_seconds)s))
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, at)
    SELECT id, status, attempts, created_at FROM t
), o AS (
    INSERT INTO offload.outbox (task_id, available_at)
    SELECT id, coalesce(next_attempt_at, created_at) FROM t
)
SELECT * FROM t;

-- name: outbox_done
DELETE FROM offload.outbox WHERE task_id = %(id)s;

-- name: claim_idempotency_key
INSERT INTO offload.idempotency_keys (tenant, key, request_sha256)
VALUES (%(tenant)s, %(key)s, %(request_sha256)s)
ON CONFLICT (tenant, key) DO NOTHING
RETURNING key;

-- name: idempotency_key
SELECT request_sha256, task_id, response FROM offload.idempotency_keys
WHERE tenant = %(tenant)s AND key = %(key)s;

-- name: settle_idempotency_key
UPDATE offload.idempotency_keys SET task_id = %(task_id)s, response = %(response)s
WHERE tenant = %(tenant)s AND key = %(key)s;

-- name: retry_task
WITH t AS (
    UPDATE offload.tasks
    SET status = 'pending', retry_count = 0, error_message = NULL, result = NULL, progress = 0,
        completed_at = NULL, cancel_requested_at = NULL, next_attempt_at = NULL,
        worker_id = NULL
    WHERE id = %(id)s AND tenant = %(tenant)s AND status IN ('failed', 'cancelled')
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, 'retried by request' FROM t
), o AS (
    INSERT INTO offload.outbox (task_id) SELECT id FROM t
    ON CONFLICT (task_id) DO NOTHING
)
SELECT * FROM t;

-- name: delete_task
DELETE FROM offload.tasks WHERE id = %(id)s;

-- name: get_task
SELECT * FROM offload.tasks WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: list_tasks
SELECT * FROM offload.tasks
WHERE tenant = %(tenant)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s)
ORDER BY created_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_tasks
SELECT count(*) AS count FROM offload.tasks
WHERE tenant = %(tenant)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s);

-- name: task_events
SELECT e.* FROM offload.task_events e
JOIN offload.tasks t ON t.id = e.task_id
WHERE e.task_id = %(id)s AND t.tenant = %(tenant)s
ORDER BY e.id;

-- name: mark_running
WITH t AS (
    UPDATE offload.tasks
    SET status = 'running', attempts = attempts + 1, started_at = now(),
        next_attempt_at = NULL, progress = 0, worker_id = %(worker_id)s
    WHERE id = %(id)s AND status = 'pending'
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, at)
    SELECT id, status, attempts, started_at FROM t
)
SELECT * FROM t;

-- name: mark_completed
WITH t AS (
    UPDATE offload.tasks
    SET status = 'completed', result = %(result)s, error_message = NULL, progress = 100,
        completed_at = now()
    WHERE id = %(id)s AND status = 'running'
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, at)
    SELECT id, status, attempts, completed_at FROM t
)
SELECT * FROM t;

-- name: mark_retrying
WITH t AS (
    UPDATE offload.tasks
    SET status = 'pending', retry_count = retry_count + 1, error_message = %(error)s,
        next_attempt_at = now() + make_interval(secs => %(delay_seconds)s)
    WHERE id = %(id)s AND status = 'running' AND cancel_requested_at IS NULL
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, %(error)s FROM t
), o AS (
    INSERT INTO offload.outbox (task_id, available_at) SELECT id, next_attempt_at FROM t
    ON CONFLICT (task_id) DO UPDATE SET available_at = excluded.available_at
)
SELECT * FROM t;

-- name: mark_interrupted
-- A graceful shutdown cut the attempt short: back to pending without spending a retry.
WITH t AS (
    UPDATE offload.tasks
    SET status = 'pending', next_attempt_at = NULL, worker_id = NULL
    WHERE id = %(id)s AND status = 'running'
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail)
    SELECT id, status, attempts, 'interrupted by a worker shutdown; requeued' FROM t
), o AS (
    INSERT INTO offload.outbox (task_id) SELECT id FROM t
    ON CONFLICT (task_id) DO NOTHING
)
SELECT * FROM t;

-- name: mark_failed
WITH t AS (
    UPDATE offload.tasks
    SET status = 'failed', error_message = %(error)s, completed_at = now()
    WHERE id = %(id)s AND status = 'running'
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, %(error)s, completed_at FROM t
)
SELECT * FROM t;

-- name: cancel_pending
WITH t AS (
    UPDATE offload.tasks
    SET status = 'cancelled', completed_at = now(), next_attempt_at = NULL
    WHERE id = %(id)s AND tenant = %(tenant)s AND status = 'pending'
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, 'cancelled by request', completed_at FROM t
)
SELECT * FROM t;

-- name: request_cancel
WITH t AS (
    UPDATE offload.tasks SET cancel_requested_at = now()
    WHERE id = %(id)s AND tenant = %(tenant)s AND status = 'running'
      AND cancel_requested_at IS NULL
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, 'cancel requested', cancel_requested_at FROM t
)
SELECT * FROM t;

-- name: mark_cancelled
WITH t AS (
    UPDATE offload.tasks
    SET status = 'cancelled', completed_at = now(), next_attempt_at = NULL
    WHERE id = %(id)s AND status = 'running'
    RETURNING *
), e AS (
    INSERT INTO offload.task_events (task_id, status, attempt, detail, at)
    SELECT id, status, attempts, 'stopped after a cancel request', completed_at FROM t
)
SELECT * FROM t;

-- name: set_progress
UPDATE offload.tasks SET progress = %(progress)s
WHERE id = %(id)s AND status = 'running'
RETURNING cancel_requested_at IS NOT NULL AS cancel_requested;

-- name: insert_api_key
INSERT INTO offload.api_keys (id, tenant, key_hash, prefix)
VALUES (%(id)s, %(tenant)s, %(key_hash)s, %(prefix)s);

-- name: tenant_for_key
SELECT tenant FROM offload.api_keys WHERE key_hash = %(key_hash)s AND revoked_at IS NULL;

-- name: insert_artifact
INSERT INTO offload.artifacts (id, task_id, tenant, filename, content_type, size_bytes, sha256,
                               chunks, expires_at)
VALUES (%(id)s, %(task_id)s, %(tenant)s, %(filename)s, %(content_type)s, %(size_bytes)s,
        %(sha256)s, %(chunks)s, %(expires_at)s)
RETURNING id, task_id, tenant, filename, content_type, size_bytes, sha256, chunks, created_at,
          expires_at;

-- name: insert_artifact_chunk
INSERT INTO offload.artifact_chunks (artifact_id, seq, data)
VALUES (%(artifact_id)s, %(seq)s, %(data)s);

-- name: artifact_for_task
SELECT id, task_id, tenant, filename, content_type, size_bytes, sha256, chunks, created_at,
       expires_at
FROM offload.artifacts
WHERE task_id = %(task_id)s AND tenant = %(tenant)s
  AND (expires_at IS NULL OR expires_at > now())
ORDER BY created_at DESC
LIMIT 1;

-- name: artifact_chunk
SELECT data FROM offload.artifact_chunks WHERE artifact_id = %(artifact_id)s AND seq = %(seq)s;

-- name: delete_expired_artifacts
DELETE FROM offload.artifacts
WHERE id IN (SELECT id FROM offload.artifacts WHERE expires_at <= now() LIMIT %(limit)s)
RETURNING id;

-- name: insert_snapshot
INSERT INTO offload.analytics_snapshots (tenant, kind, task_id, data)
VALUES (%(tenant)s, %(kind)s, %(task_id)s, %(data)s);

-- name: latest_snapshot
SELECT kind, task_id, created_at, data FROM offload.analytics_snapshots
WHERE tenant = %(tenant)s AND kind = %(kind)s
ORDER BY id DESC
LIMIT 1;

-- name: register_worker
INSERT INTO offload.workers (id, queue, hostname, pid) VALUES (%(id)s, %(queue)s, %(hostname)s, %(pid)s)
ON CONFLICT (id) DO UPDATE SET seen_at = now();

-- name: worker_heartbeat
-- Keeps the worker alive in the reaper's eyes and returns its tasks whose cancel request is
-- older than the grace period (they get a hard abort).
WITH w AS (
    INSERT INTO offload.workers (id, queue, hostname, pid)
    VALUES (%(id)s, %(queue)s, %(hostname)s, %(pid)s)
    ON CONFLICT (id) DO UPDATE SET seen_at = now()
)
SELECT id FROM offload.tasks
WHERE worker_id = %(id)s AND status = 'running'
  AND cancel_requested_at < now() - make_interval(secs => %(grace_seconds)s);

-- name: remove_worker
DELETE FROM offload.workers WHERE id = %(id)s;
