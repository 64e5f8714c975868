CREATE INDEX tasks_pending_due ON offload.tasks (coalesce(next_attempt_at, created_at))
    WHERE status = 'pending';
DROP INDEX offload.tasks_pending_walk;
