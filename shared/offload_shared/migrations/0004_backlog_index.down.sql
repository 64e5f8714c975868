DROP INDEX offload.tasks_backlog;
