"""The state machine's declarations against its statements: what each transition says it moves
(from which statuses, to which) is what its SQL does, and what it reads is what it is given."""

import re

import pytest

from offload_shared import transitions
from offload_shared.models import TaskStatus

STATUSES = {s.value for s in TaskStatus}


def statuses_in(fragment: str) -> set[str]:
    return set(re.findall(r"'([a-z]+)'", fragment)) & STATUSES


def moved_from(sql: str) -> set[str]:
    """The statuses the statement's UPDATE accepts (its `status IS NOT DISTINCT FROM ...`, as
    transitions.sql tests a source status, or `status = ...` / `status IN (...)`)."""
    found = set()
    pattern = r"t\.status\s*((?:IS NOT DISTINCT FROM|=)\s*'[a-z]+'|IN\s*\([^)]*\))"
    for match in re.finditer(pattern, sql):
        found |= statuses_in(match[1])
    return found


def moved_to(sql: str) -> set[str]:
    """The statuses the statement's UPDATEs write (`SET status = ...`, CASE included)."""
    found = set()
    for match in re.finditer(r"SET\s+status\s*=\s*(CASE.*?END|'[a-z]+')", sql, re.S):
        found |= statuses_in(match[1])
    if re.search(r"INSERT INTO offload\.tasks\b", sql):
        found.add("pending")  # create: the column's default
    return found


@pytest.mark.parametrize("transition", transitions.ALL, ids=lambda t: t.name)
def test_each_transition_moves_what_it_declares(transition):
    sql = transition.sql
    assert moved_from(sql) == {s.value for s in transition.sources}
    # A cancel of a running task only records the request: it stays running.
    written = moved_to(sql) | ({"running"} if transition is transitions.CANCEL else set())
    assert written == {s.value for s in transition.targets}


@pytest.mark.parametrize(
    "transition", [t for t in transitions.ALL if t.inputs], ids=lambda t: t.name
)
def test_each_transition_reads_exactly_the_fields_it_is_given(transition):
    columns = re.search(
        r"jsonb_to_recordset\(%\(rows\)s::jsonb\)\s+AS i\(([^)]*)\)", transition.sql
    )
    assert columns is not None
    names = {part.split()[0] for part in columns[1].split(",")}
    assert names == set(transition.inputs)


def test_every_status_but_completed_can_be_left_and_every_one_reached():
    sources = {s for t in transitions.ALL for s in t.sources}
    targets = {s for t in transitions.ALL for s in t.targets}
    assert set(TaskStatus) - sources == {TaskStatus.COMPLETED}  # the one end for good
    assert targets == set(TaskStatus)


def test_the_worker_commits_every_outcome_and_the_claim():
    assert set(transitions.OUTCOMES) <= set(transitions.WORKER)
    assert transitions.CLAIM in transitions.WORKER
    assert all(t.sources == (TaskStatus.RUNNING,) for t in transitions.OUTCOMES)
