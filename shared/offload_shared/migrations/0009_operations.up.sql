-- What operators see of each worker process (operations.py: the dashboard, the CLI, the
-- metrics): its thread count, written by its heartbeat. No index for the new list filters
-- (queue, time range, id prefix): every index on offload.tasks costs each status update an
-- index insert (they are not HOT), and those filters narrow a tenant's newest-first walk.
ALTER TABLE offload.workers ADD COLUMN threads integer NOT NULL DEFAULT 0;
