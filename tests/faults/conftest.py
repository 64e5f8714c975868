"""Fixtures of the fault-injection suite, and the summary of the figures its tests measured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from offload_shared.broker import make_broker
from offload_shared.publisher import Publisher
from tests.faults.harness import System, retire

FIGURES: list[str] = []
HERE = Path(__file__).resolve().parent


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "faults: fault injection on real processes (tests/faults)")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session", autouse=True)
def clean_slate(db) -> None:
    """The scheduler this suite starts relays, reaps and fires schedules database-wide, and
    earlier suites leave pending and running tasks (some with params only their own fake actors
    understand), outbox rows and perhaps schedules in the shared test database: retire them
    before the first fault test."""
    with db.connection() as conn:
        conn.execute("DELETE FROM offload.schedules")
        conn.execute(
            "UPDATE offload.tasks SET status = 'cancelled', completed_at = now()"
            " WHERE status IN ('pending', 'running')"
        )
        conn.execute("DELETE FROM offload.outbox")
        conn.execute("DELETE FROM offload.workers")


@pytest.fixture
def system(infra, db, redis_client, tenant, tmp_path) -> Iterator[System]:
    """Real processes on the suite's Postgres and (flushed) Redis; all stopped afterwards, and
    the test tenant's unfinished tasks retired."""
    logs = tmp_path / "logs"
    logs.mkdir()
    system = System(infra.database_url, infra.redis_url, logs)
    try:
        yield system
    finally:
        system.stop()
        retire(db, tenant)


@pytest.fixture
def publisher(system) -> Iterator[Publisher]:
    """The test's own publisher, on whatever Redis `system` points at when it is requested."""
    publisher = Publisher(make_broker(system.redis_url))
    yield publisher
    publisher.close()


@pytest.fixture
def figure(record_property):
    """Report a measured figure: printed, kept as a junit property, and summarised at the end."""

    def report(text: str) -> None:
        FIGURES.append(text)
        record_property("figure", text)
        print(text)

    return report


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    system = getattr(item, "funcargs", {}).get("system")
    if report.when == "call" and report.failed and isinstance(system, System):
        report.sections.append(("process logs (last lines)", system.tails()))


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("fault-injection figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
