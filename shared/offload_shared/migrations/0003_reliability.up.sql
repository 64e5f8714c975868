-- Nothing lost, nothing stuck: the transactional outbox, idempotency keys, and worker
-- heartbeats so the scheduler can tell a running task whose worker died.

CREATE TABLE offload.outbox (
    task_id      uuid PRIMARY KEY REFERENCES offload.tasks (id) ON DELETE CASCADE,
    available_at timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON offload.outbox (available_at);

CREATE TABLE offload.idempotency_keys (
    tenant          text NOT NULL,
    key             text NOT NULL,
    request_sha256  text NOT NULL,
    task_id         uuid REFERENCES offload.tasks (id) ON DELETE CASCADE,
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_created ON offload.idempotency_keys (created_at);

CREATE TABLE offload.workers (
    id          uuid PRIMARY KEY,
    queue       text NOT NULL,
    hostname    text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE offload.tasks ADD COLUMN worker_id uuid;
CREATE INDEX tasks_running_worker ON offload.tasks (worker_id) WHERE status = 'running';
CREATE INDEX tasks_pending_due ON offload.tasks (coalesce(next_attempt_at, created_at))
    WHERE status = 'pending';
