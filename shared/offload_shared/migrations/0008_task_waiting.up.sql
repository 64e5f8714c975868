-- Why a pending task waits, when a limit holds it back (task_limits.py): 'rate_limit' or
-- 'concurrency_limit'; NULL otherwise. Cleared when a worker claims the task.
ALTER TABLE offload.tasks ADD COLUMN waiting text;
