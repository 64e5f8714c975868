"""`offload schedules install-defaults` and `offload schedules list`, as an operator runs them."""

import json

import pytest

from tests.integration.test_cli import run


@pytest.fixture
def cli_tenant(db, tenant):
    yield tenant
    with db.connection() as conn:
        conn.execute("DELETE FROM offload.schedules WHERE tenant = %s", [tenant])


def listed(infra, tenant):
    result = run(infra, "schedules", "list", "--tenant", tenant, "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_install_defaults_creates_the_seed_schedules_once_and_a_second_run_changes_nothing(
    infra, cli_tenant
):
    first = run(infra, "schedules", "install-defaults", "--tenant", cli_tenant)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created schedule") == 2
    assert first.stdout.strip().endswith("2 schedule(s) created")
    defaults = listed(infra, cli_tenant)
    assert set(defaults) == {"cleanup-old-records", "update-dashboard"}
    cleanup, dashboard = defaults["cleanup-old-records"], defaults["update-dashboard"]
    assert (cleanup["task_name"], cleanup["params"], cleanup["cron"], cleanup["timezone"]) == (
        "cleanup.old_records", {"days_to_keep": 90}, "0 2 * * *", "UTC",
    )  # fmt: skip
    assert cleanup["next_run_at"].endswith("T02:00:00+00:00")
    assert (dashboard["task_name"], dashboard["every_seconds"], dashboard["cron"]) == (
        "analytics.update_dashboard", 300, None,
    )  # fmt: skip
    assert all(s["enabled"] for s in defaults.values())

    again = run(infra, "schedules", "install-defaults", "--tenant", cli_tenant)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("left as it is") == 2
    assert again.stdout.strip().endswith("nothing changed")
    assert listed(infra, cli_tenant) == defaults


def test_install_defaults_leaves_a_changed_default_as_the_operator_left_it(infra, db, cli_tenant):
    assert run(infra, "schedules", "install-defaults", "--tenant", cli_tenant).returncode == 0
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.schedules SET enabled = false, next_run_at = NULL "
            "WHERE tenant = %s AND name = 'update-dashboard'",
            [cli_tenant],
        )
        conn.execute(
            "DELETE FROM offload.schedules WHERE tenant = %s AND name = 'cleanup-old-records'",
            [cli_tenant],
        )
    result = run(infra, "schedules", "install-defaults", "--tenant", cli_tenant, "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["cleanup-old-records"]["created"] is True  # deleted: installed again
    assert rows["update-dashboard"]["created"] is False
    assert rows["update-dashboard"]["enabled"] is False  # disabled: left so


def test_schedules_list_prints_a_table_and_refuses_a_bad_tenant(infra, cli_tenant):
    assert run(infra, "schedules", "install-defaults", "--tenant", cli_tenant).returncode == 0
    table = run(infra, "schedules", "list", "--tenant", cli_tenant)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.strip().splitlines()
    assert header.split()[:4] == ["ID", "NAME", "TASK", "RULE"]
    assert [r.split()[1] for r in rows] == ["cleanup-old-records", "update-dashboard"]
    assert "every 300 s" in rows[1]
    bad = run(infra, "schedules", "list", "--tenant", "no spaces")
    assert bad.returncode == 1
    assert "tenant" in bad.stderr


def test_the_schedules_command_says_it_needs_postgres(infra):
    assert "needs Postgres" in run(infra, "--help").stdout
