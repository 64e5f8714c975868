DROP INDEX offload.tasks_pending_due;
DROP INDEX offload.tasks_running_worker;
ALTER TABLE offload.tasks DROP COLUMN worker_id;
DROP TABLE offload.workers;
DROP TABLE offload.idempotency_keys;
DROP TABLE offload.outbox;
