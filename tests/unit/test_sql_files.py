import ast
import re
from pathlib import Path

import pytest

from offload_shared import migrate, sql, transitions

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {  # each package with named SQL (queries.sql) and where its code is
    "offload_shared": ROOT / "shared" / "offload_shared",
    "offload_scheduler": ROOT / "services" / "scheduler" / "offload_scheduler",
    "offload_email_worker": ROOT / "services" / "email_worker" / "offload_email_worker",
    "offload_report_worker": ROOT / "services" / "report_worker" / "offload_report_worker",
    "offload_analytics_worker": ROOT / "services" / "analytics_worker" / "offload_analytics_worker",
    "offload_api": ROOT / "services" / "api" / "offload_api",
}
# Named-statement files besides each package's queries.sql (transitions.sql is the state
# machine's, checked below). A module reads one through `query = Queries(PACKAGE, "file.sql")`.
FILES = {
    "offload_shared": ("queries.sql", "schedules.sql", "operations.sql"),
    "offload_api": ("ui/queries.sql",),  # the dashboard's sessions
}
LOADERS = {"query": 0, "sql": 0, "fetch_all": 1}  # call -> position of the query's name


def _own_file(tree: ast.Module) -> str:
    """The file a module's query("name") reads: `query = Queries(..., "file.sql")`, else
    queries.sql."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "query" for t in node.targets)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "Queries"
            and len(node.value.args) > 1
            and isinstance(node.value.args[1], ast.Constant)
        ):
            return str(node.value.args[1].value)
    return "queries.sql"


def defined_queries() -> set[tuple[str, str, str]]:
    return {
        (package, filename, name)
        for package in PACKAGES
        for filename in FILES.get(package, ("queries.sql",))
        for name in sql.load(package, filename)
    }


def call_sites() -> set[tuple[str, str, str]]:
    """(package, file, query name) of every query("name") in the code (a module's own package,
    or the one its PACKAGE names; queries.sql or the file its `query` reads), and of the
    analytics worker's sql("name") / fetch_all(conn, "name", ...), read from the source."""
    found = set()
    for package, folder in {**PACKAGES, "offload_api": ROOT / "services" / "api"}.items():
        for path in folder.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            own = next(
                (n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "PACKAGE" for t in n.targets)
                 and isinstance(n.value, ast.Constant)),
                package,
            )  # fmt: skip
            filename = _own_file(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                at = LOADERS.get(name or "")
                if at is None or len(node.args) <= at:
                    continue
                arg = node.args[at]
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    continue
                if name == "query" and len(node.args) > 1:
                    continue  # transitions.sql: checked against the state machine below
                found.add((own, filename if name == "query" else "queries.sql", arg.value))
    return found


def test_every_query_the_code_names_is_defined_in_its_package():
    sites = call_sites()
    assert len(sites) > 40  # the scan finds the call sites at all
    assert sites - defined_queries() == set()


def test_every_defined_query_is_named_somewhere_in_its_package():
    """No dead SQL: each statement's name appears as a string in its package's code."""
    for package, folder in PACKAGES.items():
        literals = {
            node.value
            for path in folder.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        for filename in FILES.get(package, ("queries.sql",)):
            text = (folder / filename).read_text(encoding="utf-8")
            fragments = set(re.findall(r"\{\{(\w+)\}\}", text))  # taken in by other queries
            named = literals | fragments
            assert set(sql.load(package, filename)) - named == set(), (package, filename)


def test_fragments_are_taken_in_where_a_query_names_them():
    statements = sql.load("offload_shared")
    assert all("{{" not in text for text in statements.values())
    conditions = statements["task_filter"].splitlines()[-1].strip()  # the id range's
    for name in ("list_tasks", "count_tasks", "matching_ids"):
        assert conditions in statements[name], name


def test_every_transition_of_the_state_machine_has_its_statement():
    statements = sql.load("offload_shared", "transitions.sql")
    landed = {t.landed for t in transitions.ALL if t.landed is not None}
    assert set(statements) == {t.name for t in transitions.ALL} | landed
    assert {t.name for t in transitions.WORKER} <= set(statements)


def test_every_migration_has_up_and_down_in_sequence():
    migrations = migrate.available()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.up.strip() and m.down.strip() for m in migrations)


def test_two_migrations_with_one_version_are_refused_not_merged(tmp_path):
    for name in ("0001_a.up.sql", "0001_a.down.sql", "0001_b.up.sql", "0001_b.down.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(RuntimeError, match="0001_a and 0001_b have the same version"):
        migrate.available(tmp_path)
