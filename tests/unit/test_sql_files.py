from offload_shared import migrate, sql, transitions

REQUIRED = {
    "outbox_done",
    "delete_task",
    "get_task",
    "list_tasks",
    "count_tasks",
    "task_events",
    "set_progress",
    "insert_api_key",
    "tenant_for_key",
    "insert_artifact",
    "artifact_for_task",
    "insert_snapshot",
    "latest_snapshot",
}


def test_shared_queries_file_defines_every_required_query():
    assert set(sql.load("offload_shared")) >= REQUIRED


def test_every_transition_of_the_state_machine_has_its_statement():
    statements = sql.load("offload_shared", "transitions.sql")
    landed = {t.landed for t in transitions.ALL if t.landed is not None}
    assert set(statements) == {t.name for t in transitions.ALL} | landed
    assert {t.name for t in transitions.WORKER} <= set(statements)


def test_email_queries_load():
    assert {"delivery_for_task", "record_delivery"} <= set(sql.load("offload_email_worker"))


def test_analytics_queries_load():
    assert {"status_counts", "duration_stats"} <= set(sql.load("offload_analytics_worker"))


def test_every_migration_has_up_and_down_in_sequence():
    migrations = migrate.available()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.up.strip() and m.down.strip() for m in migrations)
