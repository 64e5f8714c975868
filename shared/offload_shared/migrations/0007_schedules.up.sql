-- Cron and interval schedules: each fires a catalog task for its tenant through the one enqueue
-- path. `next_run_at` is the next fire time (NULL while paused); the scheduler's leader fires
-- due schedules, each in one transaction that locks its row, writes one schedule_runs row per
-- fire time, the task, its history and outbox rows, and moves next_run_at on.
CREATE TABLE offload.schedules (
    id             uuid PRIMARY KEY,
    tenant         text NOT NULL CHECK (tenant ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    task_name      text NOT NULL,
    params         jsonb NOT NULL DEFAULT '{}',
    priority       smallint CHECK (priority BETWEEN 1 AND 10),  -- NULL: the task's default
    cron           text,
    every_seconds  integer CHECK (every_seconds BETWEEN 1 AND 31622400),
    timezone       text NOT NULL DEFAULT 'UTC',
    misfire        text NOT NULL DEFAULT 'skip' CHECK (misfire IN ('skip', 'run_once')),
    enabled        boolean NOT NULL DEFAULT true,
    next_run_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name),  -- also the list's order: by name
    CHECK ((cron IS NULL) <> (every_seconds IS NULL)),
    CHECK (enabled = (next_run_at IS NOT NULL))
);
-- The leader's due scan: enabled schedules by next fire time.
CREATE INDEX schedules_due ON offload.schedules (next_run_at) WHERE enabled;

-- One row per (schedule, fire time), written in the transaction that enqueues its task: the
-- primary key is what makes a fire time fire once, whatever the number of schedulers.
-- A run goes with its schedule (ON DELETE CASCADE) and with its task: cleanup.old_records
-- deleting an old task deletes its run too. A run that enqueued nothing (its params no longer
-- validate, or its task left the catalog) has no task and says why in `error`.
CREATE TABLE offload.schedule_runs (
    schedule_id  uuid NOT NULL REFERENCES offload.schedules (id) ON DELETE CASCADE,
    fire_time    timestamptz NOT NULL,
    task_id      uuid REFERENCES offload.tasks (id) ON DELETE CASCADE,
    fired_at     timestamptz NOT NULL DEFAULT now(),
    manual       boolean NOT NULL DEFAULT false,  -- POST /api/schedules/{id}/run-now
    error        text,
    PRIMARY KEY (schedule_id, fire_time),
    CHECK (task_id IS NULL OR error IS NULL)
);
CREATE INDEX schedule_runs_task ON offload.schedule_runs (task_id);  -- the cascade from tasks
CREATE INDEX schedule_runs_unfired ON offload.schedule_runs (fired_at) WHERE task_id IS NULL;
