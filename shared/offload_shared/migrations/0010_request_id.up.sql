-- The X-Request-ID of the API request that enqueued the task (offload_api/request_id.py), so
-- a task's log lines can be joined with the request's; NULL for tasks not enqueued over HTTP
-- (schedules, the library's submit, retries keep the first request's).
ALTER TABLE offload.tasks ADD COLUMN request_id text;
