-- The shared store's statements besides the state machine's (those are in transitions.sql).

-- name: outbox_done
-- Published: the relay need not publish these (outbox.py sweeps them in batches).
DELETE FROM offload.outbox WHERE task_id = ANY(%(ids)s);

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

-- name: delete_task
DELETE FROM offload.tasks WHERE id = %(id)s;

-- name: get_task
SELECT * FROM offload.tasks WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: task_filter
-- Not a statement: the conditions of a TaskFilter (store.py), which the three queries below
-- take in (sql.py).
tenant = %(tenant)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(created_after)s::timestamptz IS NULL OR created_at >= %(created_after)s)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s)
  AND (%(id_low)s::uuid IS NULL OR id BETWEEN %(id_low)s AND %(id_high)s);

-- name: list_tasks
SELECT * FROM offload.tasks
WHERE {{task_filter}}
ORDER BY created_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_tasks
-- At most %(cap)s when it is set (the dashboard shows "10,000+": counting a million rows is
-- slow); LIMIT NULL counts them all.
SELECT count(*) AS count FROM (
    SELECT 1 FROM offload.tasks
    WHERE {{task_filter}}
    LIMIT %(cap)s
) AS matched;

-- name: matching_ids
-- The next batch of the ids a filter matches among `statuses`, keyset by id (bulk actions).
SELECT id FROM offload.tasks
WHERE {{task_filter}}
  AND status = ANY(%(statuses)s::text[])
  AND id > %(after)s
ORDER BY id
LIMIT %(limit)s;

-- name: task_events
SELECT e.* FROM offload.task_events e
JOIN offload.tasks t ON t.id = e.task_id
WHERE e.task_id = %(id)s AND t.tenant = %(tenant)s
ORDER BY e.id;

-- name: set_progress
-- By primary key alone, as the transitions (transitions.sql says why).
UPDATE offload.tasks SET progress = %(progress)s
WHERE id = %(id)s AND status IS NOT DISTINCT FROM 'running'
RETURNING cancel_requested_at IS NOT NULL AS cancel_requested;

-- name: note_waiting
-- Why pending tasks wait (a limit held them back in the broker); the claim clears it. By
-- primary key, off tasks_pending_walk, as the claim (transitions.sql says why).
UPDATE offload.tasks t SET waiting = i.reason
FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(id uuid, reason text)
WHERE t.id = ANY(%(ids)s::uuid[]) AND t.id = i.id AND t.status IS NOT DISTINCT FROM 'pending'
  AND t.waiting IS DISTINCT FROM i.reason;

-- name: begin_late
-- An attempt that waited in its worker's lookahead begins: its clock starts now, if the claim
-- still holds (the reaper may have given up on it meanwhile). By primary key alone, as the
-- transitions (transitions.sql says why).
UPDATE offload.tasks SET started_at = now()
WHERE id = %(id)s AND status IS NOT DISTINCT FROM 'running' AND attempts = %(attempt)s
  AND worker_id = %(worker_id)s
RETURNING cancel_requested_at IS NOT NULL AS cancel_requested;

-- name: insert_api_key
INSERT INTO offload.api_keys (id, tenant, key_hash, prefix, name, scopes, expires_at)
VALUES (%(id)s, %(tenant)s, %(key_hash)s, %(prefix)s, %(name)s, %(scopes)s,
        now() + %(expires_in)s::interval)
RETURNING created_at, expires_at;

-- name: key_for_hash
-- A live key by either of its secrets (the previous one only during its grace period), and
-- until when that secret is valid, which bounds how long the API may cache the answer.
SELECT id, tenant, scopes,
       CASE WHEN key_hash = %(key_hash)s THEN expires_at
            ELSE least(expires_at, previous_valid_until) END AS valid_until
FROM offload.api_keys
WHERE (key_hash = %(key_hash)s OR (previous_hash = %(key_hash)s AND previous_valid_until > now()))
  AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- name: touch_api_keys
-- Last-used times, collected in memory by each API process and written in one statement.
UPDATE offload.api_keys AS k SET last_used_at = greatest(k.last_used_at, u.at)
FROM unnest(%(ids)s::uuid[], %(ats)s::timestamptz[]) AS u (id, at)
WHERE k.id = u.id;

-- name: list_api_keys
SELECT id, tenant, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at,
       previous_valid_until, now() AS now
FROM offload.api_keys
WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s
ORDER BY tenant, created_at, id;

-- name: revoke_api_key
-- Both secrets of a rotating key stop at once.
UPDATE offload.api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = %(id)s
RETURNING tenant;

-- name: rotate_api_key
-- A new secret; the current one becomes the previous, valid for the grace period. Rotating
-- again during a grace period ends the older secret's at once.
UPDATE offload.api_keys
SET previous_hash = key_hash, previous_valid_until = now() + %(grace)s::interval,
    key_hash = %(key_hash)s, prefix = %(prefix)s
WHERE id = %(id)s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
RETURNING tenant, previous_valid_until;

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

-- name: worker_heartbeat
-- Keeps the worker alive in the reaper's eyes and returns its tasks whose cancel request is
-- older than the grace period (they get a hard abort).
WITH w AS (
    INSERT INTO offload.workers (id, queue, hostname, pid, threads)
    VALUES (%(id)s, %(queue)s, %(hostname)s, %(pid)s, %(threads)s)
    ON CONFLICT (id) DO UPDATE SET seen_at = now()
)
SELECT id FROM offload.tasks
WHERE worker_id = %(id)s AND status = 'running'
  AND cancel_requested_at < now() - make_interval(secs => %(grace_seconds)s);

-- name: remove_worker
DELETE FROM offload.workers WHERE id = %(id)s;
