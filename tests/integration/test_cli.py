"""The `offload` command as an operator runs it."""

import json
import os
import subprocess
import sys
import uuid
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
    assert KeyResolver(db).resolve(key).tenant == "cli-tenant"


def test_api_key_create_rejects_a_bad_tenant_name(infra):
    result = run(infra, "api-key", "create", "--tenant", "no spaces allowed")
    assert result.returncode == 1
    assert "tenant" in result.stderr


def _created(result):
    """The new key's id (first line) and secret (last line)."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    key_id = next(word for word in lines[0].split() if len(word) == 36)
    return uuid.UUID(key_id), lines[-1]


def _listed(infra, tenant):
    result = run(infra, "api-key", "list", "--tenant", tenant, "--json")
    assert result.returncode == 0, result.stderr
    return {row["id"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_api_key_create_defaults_to_read_and_enqueue(infra, db, tenant):
    _, key = _created(run(infra, "api-key", "create", "--tenant", tenant))
    assert KeyResolver(db).resolve(key).scopes == {"read", "enqueue"}


def test_api_key_lifecycle_create_list_rotate_revoke(infra, db, tenant):
    created = run(
        infra, "api-key", "create", "--tenant", tenant, "--scope", "read", "--scope",
        "enqueue,admin", "--name", "ci deploys", "--expires-in", "90d",
    )  # fmt: skip
    key_id, key = _created(created)
    assert "expires" in created.stdout
    assert KeyResolver(db).resolve(key).scopes == {"read", "enqueue", "admin"}

    table = run(infra, "api-key", "list", "--tenant", tenant)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.strip().splitlines()
    assert header.split()[:5] == ["ID", "TENANT", "NAME", "PREFIX", "SCOPES"]
    assert str(key_id) in row
    assert "read,enqueue,admin" in row
    assert row.endswith("active")
    assert key not in table.stdout
    assert key[8:] not in table.stdout

    [listed] = _listed(infra, tenant).values()
    assert listed["name"] == "ci deploys"
    assert listed["prefix"] == key[:8]
    assert listed["expires_at"] is not None
    assert listed["last_used_at"] is None

    rotated = run(infra, "api-key", "rotate", str(key_id), "--grace", "1h")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("ofk_")
    assert new != key
    assert KeyResolver(db).resolve(key).tenant == tenant  # within the grace period
    assert KeyResolver(db).resolve(new).tenant == tenant
    assert _listed(infra, tenant)[str(key_id)]["state"] == "rotating"

    revoked = run(infra, "api-key", "revoke", str(key_id))
    assert revoked.returncode == 0, revoked.stderr
    assert KeyResolver(db).resolve(key) is None
    assert KeyResolver(db).resolve(new) is None
    assert _listed(infra, tenant)[str(key_id)]["state"] == "revoked"
    again = run(infra, "api-key", "rotate", str(key_id))
    assert again.returncode == 1
    assert "no live API key" in again.stderr


def test_api_key_create_refuses_an_unknown_scope_or_duration(infra, tenant):
    scope = run(infra, "api-key", "create", "--tenant", tenant, "--scope", "root")
    assert scope.returncode == 1
    assert "unknown scope" in scope.stderr
    duration = run(infra, "api-key", "create", "--tenant", tenant, "--expires-in", "soon")
    assert duration.returncode == 1
    assert "duration" in duration.stderr
    assert run(infra, "api-key", "revoke", str(uuid.uuid4())).returncode == 1


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


def test_the_admin_commands_answer_in_json_too(infra, db, tenant):
    from offload_shared import migrate

    created = run(infra, "api-key", "create", "--tenant", tenant, "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert (key["tenant"], key["name"], key["expires_at"]) == (tenant, "ci", None)
    assert KeyResolver(db).resolve(key["key"]).tenant == tenant

    rotated = json.loads(run(infra, "api-key", "rotate", key["id"], "--json").stdout)
    assert rotated["id"] == key["id"]
    assert rotated["key"] != key["key"]
    assert KeyResolver(db).resolve(rotated["key"]).tenant == tenant
    revoked = json.loads(run(infra, "api-key", "revoke", key["id"], "--json").stdout)
    assert revoked == {"id": key["id"], "tenant": tenant, "state": "revoked"}

    latest = migrate.available()[-1].version
    assert json.loads(run(infra, "migrate", "--json").stdout) == {"done": [], "version": latest}
    check = run(infra, "migrate", "--check", "--json")
    assert check.returncode == 0
    assert json.loads(check.stdout) == {"version": latest, "needed": latest, "current": True}
