DROP INDEX offload.tasks_tenant_id_prefix;
DROP TABLE offload.ui_sessions;
