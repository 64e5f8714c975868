-- name: status_counts
SELECT task_type, status, count(*) AS n
FROM offload.tasks
WHERE tenant = %(tenant)s
GROUP BY task_type, status;

-- name: mean_durations
SELECT task_type,
       count(*) AS n,
       avg(extract(epoch FROM completed_at - started_at)) AS mean_seconds
FROM offload.tasks
WHERE tenant = %(tenant)s AND status = 'completed' AND started_at IS NOT NULL
GROUP BY task_type;
