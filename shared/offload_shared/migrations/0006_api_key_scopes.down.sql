ALTER TABLE offload.api_keys
    DROP COLUMN name,
    DROP COLUMN scopes,
    DROP COLUMN expires_at,
    DROP COLUMN last_used_at,
    DROP COLUMN previous_hash,
    DROP COLUMN previous_valid_until;
