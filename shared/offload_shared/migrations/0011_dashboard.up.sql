-- Issue 13, the dashboard (/ui): server-side browser sessions. The cookie carries only a random
-- id; its SHA-256 is the key here, so a copy of this table opens no session. A session belongs
-- to the API key it logged in with: a revoked or expired key ends it at once (the lookup joins
-- the key), and logging out deletes the row.
CREATE TABLE offload.ui_sessions (
    id_hash     text PRIMARY KEY,
    api_key_id  uuid NOT NULL REFERENCES offload.api_keys (id) ON DELETE CASCADE,
    tenant      text NOT NULL,
    scopes      text[] NOT NULL,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ui_sessions_api_key ON offload.ui_sessions (api_key_id);
CREATE INDEX ui_sessions_expires ON offload.ui_sessions (expires_at);

-- The dashboard's task list filters on the start of a task's id (`id::text LIKE 'ab12%'`).
-- No uuid index serves a text prefix: with a million tasks the list took 450 ms scanning the
-- tenant's rows; along this index, under 10 ms (bench/ui.py). The planner only picks it once
-- it has statistics of the expression, which ANALYZE gathers (a sample: about a second for a
-- million rows); until then it estimates any prefix to match 0.5 % of the rows.
CREATE INDEX tasks_tenant_id_prefix ON offload.tasks (tenant, (id::text) text_pattern_ops);
ANALYZE offload.tasks;
