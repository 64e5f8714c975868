DROP INDEX offload.tasks_tenant_queue;
ALTER TABLE offload.workers DROP COLUMN threads;
