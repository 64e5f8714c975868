import uuid

import psycopg
import pytest

from offload_shared import migrate


@pytest.fixture
def empty_database(infra):
    """A brand-new database on the test server, dropped afterwards."""
    name = f"offload_mig_{uuid.uuid4().hex[:8]}"
    base, _, _ = infra.database_url.rpartition("/")
    with psycopg.connect(infra.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(infra.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def tables(url):
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'offload'"
        ).fetchall()
    return {r[0] for r in rows}


def test_all_migrations_apply_to_an_empty_database_roll_back_and_reapply(empty_database):
    latest = migrate.available()[-1].version
    assert migrate.migrate(empty_database) == [
        f"applied {m.version:04d}_{m.name}" for m in migrate.available()
    ]
    assert migrate.current_version(empty_database) == latest
    assert {"tasks", "task_events", "api_keys", "artifacts"} <= tables(empty_database)

    migrate.migrate(empty_database, 0)
    assert tables(empty_database) == {"schema_migrations"}
    assert migrate.current_version(empty_database) == 0

    migrate.migrate(empty_database)
    assert migrate.current_version(empty_database) == latest


def test_migrate_twice_is_a_no_op(empty_database):
    migrate.migrate(empty_database)
    assert migrate.migrate(empty_database) == []


def test_migrate_check_changes_nothing_and_needs_no_create_rights(empty_database):
    """The init containers' `offload migrate --check`, as a role that may only connect."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlsplit, urlunsplit

    role = f"offload_check_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    parts = urlsplit(empty_database)
    as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    try:
        check = [str(Path(sys.executable).with_name("offload")), "migrate", "--check"]
        env = {**os.environ, "DATABASE_URL": as_role}
        before = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
        with psycopg.connect(empty_database) as conn:
            schema = conn.execute("SELECT to_regnamespace('offload')").fetchone()
        migrate.migrate(empty_database)
        with psycopg.connect(empty_database, autocommit=True) as conn:  # an app role: reads,
            conn.execute(f'GRANT USAGE ON SCHEMA offload TO "{role}"')  # writes, no DDL
            conn.execute(f'GRANT SELECT ON offload.schema_migrations TO "{role}"')
        after = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    finally:
        with psycopg.connect(empty_database, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')
    latest = migrate.available()[-1].version
    assert (before.returncode, before.stdout.strip()) == (
        1,
        f"schema at version 0; this release needs {latest}",
    ), before.stderr
    assert schema == (None,)  # nothing created
    assert after.returncode == 0, after.stderr
