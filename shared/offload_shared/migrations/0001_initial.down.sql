DROP TABLE offload.analytics_snapshots;
DROP TABLE offload.artifacts;
DROP TABLE offload.task_events;
DROP TABLE offload.tasks;
DROP TABLE offload.api_keys;
