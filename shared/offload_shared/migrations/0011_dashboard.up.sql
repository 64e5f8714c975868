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
