-- Offload's store: tasks, their history, API keys, report artifacts, analytics snapshots.
CREATE SCHEMA IF NOT EXISTS offload;

CREATE TABLE offload.api_keys (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL CHECK (tenant ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE offload.tasks (
    id              uuid PRIMARY KEY,
    tenant          text NOT NULL,
    task_name       text NOT NULL,
    task_type       text NOT NULL,
    queue           text NOT NULL,
    priority        smallint NOT NULL CHECK (priority BETWEEN 1 AND 10),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    params          jsonb NOT NULL DEFAULT '{}',
    result          jsonb,
    error_message   text,
    progress        smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attempts        integer NOT NULL DEFAULT 0,
    retry_count     integer NOT NULL DEFAULT 0,
    max_retries     integer NOT NULL CHECK (max_retries BETWEEN 0 AND 100),
    time_limit_ms   integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz
);
-- The API's filters: every list is per tenant, newest first, optionally by status/type/name.
CREATE INDEX tasks_tenant_created ON offload.tasks (tenant, created_at DESC, id);
CREATE INDEX tasks_tenant_status ON offload.tasks (tenant, status, created_at DESC);
CREATE INDEX tasks_tenant_type ON offload.tasks (tenant, task_type, created_at DESC);
CREATE INDEX tasks_tenant_name ON offload.tasks (tenant, task_name, created_at DESC);

CREATE TABLE offload.task_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     uuid NOT NULL REFERENCES offload.tasks (id) ON DELETE CASCADE,
    status      text NOT NULL,
    attempt     integer NOT NULL,
    detail      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_events_task ON offload.task_events (task_id, id);

CREATE TABLE offload.artifacts (
    id            uuid PRIMARY KEY,
    task_id       uuid NOT NULL REFERENCES offload.tasks (id) ON DELETE CASCADE,
    tenant        text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL,
    sha256        text NOT NULL,
    content       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz
);
CREATE INDEX artifacts_task ON offload.artifacts (task_id);

CREATE TABLE offload.analytics_snapshots (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      text NOT NULL,
    kind        text NOT NULL,
    task_id     uuid REFERENCES offload.tasks (id) ON DELETE SET NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analytics_snapshots_latest ON offload.analytics_snapshots (tenant, kind, id DESC);
