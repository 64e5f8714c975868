ALTER TABLE offload.workers DROP COLUMN threads;
