-- Issue 11, keys that face the internet: what each key may do (scopes), until when (expiry),
-- when it was last used (written at most once a minute per key and API process), and rotation.
-- A rotated key keeps its id and row: the new secret replaces key_hash and the old one moves to
-- previous_hash, still accepted until previous_valid_until (the grace period).
-- Keys made before scopes existed get every scope, so they keep working as they did.
ALTER TABLE offload.api_keys
    ADD COLUMN name text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{read,enqueue,admin}'
        CHECK (cardinality(scopes) > 0 AND scopes <@ '{read,enqueue,admin}'),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN previous_hash text UNIQUE,
    ADD COLUMN previous_valid_until timestamptz,
    ADD CHECK ((previous_hash IS NULL) = (previous_valid_until IS NULL));
-- New keys name their scopes (the CLI's default is read,enqueue), never inherit them.
ALTER TABLE offload.api_keys ALTER COLUMN scopes DROP DEFAULT;
