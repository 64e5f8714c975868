DROP TABLE offload.ui_sessions;
