-- The scheduler's reconciliation walks pending tasks in the order they became ready, keyset by
-- (ready time, id): with the id in the index each batch is one index range scan, however many
-- tasks are pending (the old index left a sort of every task sharing the cursor's time).
CREATE INDEX tasks_pending_walk ON offload.tasks (coalesce(next_attempt_at, created_at), id)
    WHERE status = 'pending';
DROP INDEX offload.tasks_pending_due;
