"""The `offload` command as an operator runs it."""

import os
import subprocess
import sys
from pathlib import Path

from offload_shared.apikeys import KeyResolver

OFFLOAD = str(Path(sys.executable).with_name("offload"))


def run(infra, *args):
    env = {**os.environ, "DATABASE_URL": infra.database_url, "REDIS_URL": infra.redis_url}
    return subprocess.run([OFFLOAD, *args], env=env, capture_output=True, text=True, check=False)


def test_api_key_create_prints_a_working_key_alone_on_its_last_line(infra, db):
    result = run(infra, "api-key", "create", "--tenant", "cli-tenant")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("ofk_")
    assert " " not in key
    assert KeyResolver(db).tenant_for(key) == "cli-tenant"


def test_api_key_create_rejects_a_bad_tenant_name(infra):
    result = run(infra, "api-key", "create", "--tenant", "no spaces allowed")
    assert result.returncode == 1
    assert "tenant" in result.stderr


def test_migrate_reports_the_schema_version(infra):
    result = run(infra, "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("schema at version ")


def test_migrate_check_fails_until_the_schema_is_current(infra):
    from offload_shared import migrate

    latest = migrate.available()[-1].version
    try:
        migrate.migrate(infra.database_url, latest - 1)
        behind = run(infra, "migrate", "--check")
        assert behind.returncode == 1
        assert f"this release needs {latest}" in behind.stdout
    finally:
        migrate.migrate(infra.database_url)
    current = run(infra, "migrate", "--check")
    assert current.returncode == 0, current.stdout + current.stderr


def test_a_service_with_a_malformed_database_url_stops_at_start_with_one_line():
    bad = "postgresql://app:s3cret@db/offload?sslmode=not valid"
    for program in ("offload-scheduler", "offload-api", "offload-email-worker"):
        result = subprocess.run(
            [str(Path(sys.executable).with_name(program))],
            env={**os.environ, "DATABASE_URL": bad},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 2, (program, result.stderr)
        assert result.stderr.strip().splitlines() == [
            f"{program}: DATABASE_URL is not a valid libpq URL or connection string"
        ]


def test_a_service_with_an_unreadable_report_sources_file_stops_at_start(tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text("[broken\nsql = 'SELECT 1'\n")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("offload-scheduler"))],
        env={**os.environ, "OFFLOAD_REPORT_SOURCES": str(sources)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("offload-scheduler: OFFLOAD_REPORT_SOURCES")
