-- Each worker's backlog (its queue's pending and running tasks), which KEDA polls every few
-- seconds to scale that worker (deploy/k8s): a small partial index, however long the history.
CREATE INDEX tasks_backlog ON offload.tasks (queue, coalesce(next_attempt_at, created_at))
    WHERE status IN ('pending', 'running');
