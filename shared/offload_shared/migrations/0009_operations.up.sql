-- What operators look at (operations.py: the dashboard, the CLI, the metrics): each worker
-- process's thread count, and per-tenant lists by queue and time range.
ALTER TABLE offload.workers ADD COLUMN threads integer NOT NULL DEFAULT 0;
CREATE INDEX tasks_tenant_queue ON offload.tasks (tenant, queue, created_at DESC);
