-- The dashboard's own statements (offload_api/ui): its browser sessions, and a capped count.

-- name: open_session
-- A new session for a live key; expired sessions are swept on the way (an index on expires_at).
WITH swept AS (DELETE FROM offload.ui_sessions WHERE expires_at < now())
INSERT INTO offload.ui_sessions (id_hash, api_key_id, tenant, scopes, csrf_token, expires_at)
VALUES (%(id_hash)s, %(api_key_id)s, %(tenant)s, %(scopes)s, %(csrf_token)s,
        now() + make_interval(secs => %(seconds)s))
RETURNING expires_at;

-- name: find_session
-- A live session of a live key: a revoked or expired key ends its sessions at once.
SELECT s.api_key_id, s.tenant, s.scopes, s.csrf_token, s.expires_at
FROM offload.ui_sessions s
JOIN offload.api_keys k ON k.id = s.api_key_id
WHERE s.id_hash = %(id_hash)s AND s.expires_at > now()
  AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now());

-- name: close_session
DELETE FROM offload.ui_sessions WHERE id_hash = %(id_hash)s RETURNING api_key_id;
