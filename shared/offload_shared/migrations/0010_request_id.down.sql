ALTER TABLE offload.tasks DROP COLUMN request_id;
