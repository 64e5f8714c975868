-- Schedules and their runs (schedules.py, schedule_firing.py). Every read and write of a
-- schedule names its tenant, except the leader's due scan, which serves them all.

-- name: create_schedule
INSERT INTO offload.schedules (
    id, tenant, name, task_name, params, priority, cron, every_seconds, timezone, misfire,
    enabled, next_run_at
) VALUES (
    %(id)s, %(tenant)s, %(name)s, %(task_name)s, %(params)s, %(priority)s, %(cron)s,
    %(every_seconds)s, %(timezone)s, %(misfire)s, %(enabled)s, %(next_run_at)s
)
ON CONFLICT (tenant, name) DO NOTHING
RETURNING *;

-- name: get_schedule
-- With its latest run and that run's task status (one lookup in each primary key).
SELECT s.*, r.fire_time AS last_run_at, r.task_id AS last_task_id, t.status AS last_task_status,
       r.error AS last_run_error
FROM offload.schedules s
LEFT JOIN LATERAL (
    SELECT fire_time, task_id, error FROM offload.schedule_runs
    WHERE schedule_id = s.id ORDER BY fire_time DESC LIMIT 1
) r ON true
LEFT JOIN offload.tasks t ON t.id = r.task_id
WHERE s.tenant = %(tenant)s AND s.id = %(id)s;

-- name: list_schedules
-- The tenant's schedules by name (the unique index), each with its latest run as above.
SELECT s.*, r.fire_time AS last_run_at, r.task_id AS last_task_id, t.status AS last_task_status,
       r.error AS last_run_error
FROM offload.schedules s
LEFT JOIN LATERAL (
    SELECT fire_time, task_id, error FROM offload.schedule_runs
    WHERE schedule_id = s.id ORDER BY fire_time DESC LIMIT 1
) r ON true
LEFT JOIN offload.tasks t ON t.id = r.task_id
WHERE s.tenant = %(tenant)s
ORDER BY s.name
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_schedules
SELECT count(*) AS count FROM offload.schedules WHERE tenant = %(tenant)s;

-- name: lock_schedule
-- A change or a manual run waits for a firing of the same schedule in progress.
SELECT * FROM offload.schedules WHERE tenant = %(tenant)s AND id = %(id)s FOR UPDATE;

-- name: update_schedule
UPDATE offload.schedules SET
    name = %(name)s, task_name = %(task_name)s, params = %(params)s, priority = %(priority)s,
    cron = %(cron)s, every_seconds = %(every_seconds)s, timezone = %(timezone)s,
    misfire = %(misfire)s, enabled = %(enabled)s, next_run_at = %(next_run_at)s,
    updated_at = now()
WHERE tenant = %(tenant)s AND id = %(id)s
RETURNING *;

-- name: delete_schedule
DELETE FROM offload.schedules WHERE tenant = %(tenant)s AND id = %(id)s RETURNING id;

-- name: schedule_runs
SELECT r.*, t.status AS task_status FROM offload.schedule_runs r
LEFT JOIN offload.tasks t ON t.id = r.task_id
WHERE r.schedule_id = %(id)s
ORDER BY r.fire_time DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_schedule_runs
SELECT count(*) AS count FROM offload.schedule_runs WHERE schedule_id = %(id)s;

-- name: due_schedule
-- The leader's scan (the partial index schedules_due): the most overdue schedule nobody else
-- is firing, locked for this transaction; `skip` are those that failed earlier in this pass.
SELECT * FROM offload.schedules
WHERE enabled AND next_run_at <= %(now)s AND NOT (id = ANY(%(skip)s))
ORDER BY next_run_at
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: claim_fire_time
-- The record that makes a fire time fire once: nothing is enqueued if it already exists.
INSERT INTO offload.schedule_runs (schedule_id, fire_time, manual, error, fired_at)
VALUES (%(schedule_id)s, %(fire_time)s, %(manual)s, %(error)s, %(fired_at)s)
ON CONFLICT (schedule_id, fire_time) DO NOTHING
RETURNING *;

-- name: set_run_task
UPDATE offload.schedule_runs SET task_id = %(task_id)s
WHERE schedule_id = %(schedule_id)s AND fire_time = %(fire_time)s;

-- name: advance_schedule
UPDATE offload.schedules SET next_run_at = %(next_run_at)s WHERE id = %(id)s;
