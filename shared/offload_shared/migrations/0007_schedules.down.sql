DROP TABLE offload.schedule_runs;
DROP TABLE offload.schedules;
