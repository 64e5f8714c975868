-- The workers' full catalogs: cooperative cancel of running tasks, one email delivery per task,
-- artifacts stored in chunks (streamed in and out), synced metrics, and cleanup's indexes.

ALTER TABLE offload.tasks ADD COLUMN cancel_requested_at timestamptz;
CREATE INDEX tasks_finished ON offload.tasks (tenant, completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

CREATE TABLE offload.email_deliveries (
    task_id     uuid PRIMARY KEY REFERENCES offload.tasks (id) ON DELETE CASCADE,
    message_id  text NOT NULL,
    accepted    jsonb NOT NULL,
    refused     jsonb NOT NULL DEFAULT '{}',
    sent_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE offload.artifact_chunks (
    -- Deferred: the chunks are written first and the row that describes them last.
    artifact_id uuid NOT NULL REFERENCES offload.artifacts (id) ON DELETE CASCADE
                DEFERRABLE INITIALLY DEFERRED,
    seq         integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (artifact_id, seq)
);
INSERT INTO offload.artifact_chunks (artifact_id, seq, data)
SELECT id, 0, content FROM offload.artifacts;
ALTER TABLE offload.artifacts DROP COLUMN content;
ALTER TABLE offload.artifacts ADD COLUMN chunks integer NOT NULL DEFAULT 1;
CREATE INDEX artifacts_expiry ON offload.artifacts (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE offload.metrics (
    tenant       text NOT NULL,
    source       text NOT NULL,
    external_id  text NOT NULL,
    team_id      text,
    data         jsonb NOT NULL,
    data_sha256  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, source, external_id)
);

CREATE INDEX analytics_snapshots_created ON offload.analytics_snapshots (tenant, created_at);
