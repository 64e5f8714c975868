DROP INDEX offload.analytics_snapshots_created;
DROP TABLE offload.metrics;

DROP INDEX offload.artifacts_expiry;
ALTER TABLE offload.artifacts DROP COLUMN chunks;
ALTER TABLE offload.artifacts ADD COLUMN content bytea NOT NULL DEFAULT '';
UPDATE offload.artifacts a
SET content = (SELECT string_agg(c.data, ''::bytea ORDER BY c.seq)
               FROM offload.artifact_chunks c WHERE c.artifact_id = a.id)
WHERE EXISTS (SELECT 1 FROM offload.artifact_chunks c WHERE c.artifact_id = a.id);
ALTER TABLE offload.artifacts ALTER COLUMN content DROP DEFAULT;
DROP TABLE offload.artifact_chunks;

DROP TABLE offload.email_deliveries;

DROP INDEX offload.tasks_finished;
ALTER TABLE offload.tasks DROP COLUMN cancel_requested_at;
