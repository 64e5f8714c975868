ALTER TABLE offload.tasks DROP COLUMN waiting;
