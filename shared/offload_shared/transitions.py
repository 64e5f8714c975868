"""The task state machine: every status change a task can go through, declared once.

            create ──▶ ┌─────────┐  claim   ┌─────────┐  complete   ┌───────────┐
                       │ pending │ ───────▶ │ running │ ──────────▶ │ completed │
              ┌──────▶ └─────────┘ ◀─────── └─────────┘             └───────────┘
              │          │  ▲ │      retry,    │    │      fail     ┌───────────┐
              │          │  │ │      interrupt,│    └─────────────▶ │  failed   │ ──┐
              │          │  │ │      reap,     │                    └───────────┘   │
              │          │  │ │      give_back │   stop (after a    ┌───────────┐   │
              │  cancel  │  │ │                └─────────────────▶  │ cancelled │ ──┤
              │ (pending)└──┼─┼───────────────── cancel request) ─▶ └───────────┘   │
              │             │                                                       │
              └─────────────┴─────────────── resubmit (an API retry) ──────────────┘

`cancel` moves a pending task to cancelled at once; of a running one it only records the
request, and the task stops at its next checkpoint (`stop`). `give_back` undoes a claim whose
task never started (a worker claims a few tasks ahead of its free threads and gives back those
it still holds when it shuts down). `reap` sends a lost worker's running tasks round again, or
ends them once their retries are spent. (A pending task whose message Redis lost changes no
status: the scheduler's reconciliation puts the message back.)

Each transition is one set-based statement in transitions.sql (one JSON array in, an object
per task), which updates the rows and appends their history rows in the same statement; the
transitions that make a task publishable also write its outbox row there. The TaskStore has one
method per transition; a worker's store group-commits its transitions (group_commit.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from offload_shared.db import Connection
from offload_shared.errors import StoreError
from offload_shared.models import TaskStatus
from offload_shared.sql import query

P, R, C, F, X = (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.COMPLETED,
                 TaskStatus.FAILED, TaskStatus.CANCELLED)  # fmt: skip


@dataclass(frozen=True)
class Transition:
    name: str  # its statement in transitions.sql
    sources: tuple[TaskStatus, ...]  # () for create
    targets: tuple[TaskStatus, ...]
    inputs: tuple[str, ...]  # each task's fields in `rows` (empty: it selects its own rows)
    returns_tasks: bool  # whole rows come back (else only the ids of the tasks it moved)
    publishes: bool  # writes outbox rows: the tasks it returns are published after the commit
    # The statement that finds the tasks of `rows` this transition already moved: after a
    # connection cut at commit, the retry cannot tell a landed write from a refused one.
    landed: str | None = None

    @property
    def sql(self) -> str:
        return query(self.name, "offload_shared", "transitions.sql")

    def params(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The statement's parameters: the tasks' inputs as a JSON array of objects (`rows`),
        and their ids (`ids`)."""
        if not self.inputs:
            return {}
        try:
            # jsonb_to_recordset takes the fields it names: a row's other keys are ignored.
            rows_json = orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:  # orjson.JSONEncodeError: e.g. a result that is not JSON
            raise StoreError(f"{self.name}: a value cannot be stored as JSON ({exc})") from exc
        return {"rows": rows_json.decode(), "ids": [row["id"] for row in rows]}

    def run(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]] = (), **scalars: Any
    ) -> list[dict[str, Any]]:
        """Execute the statement for `rows` on `conn`; returns the rows it moved."""
        return conn.execute(self.sql, {**self.params(rows), **scalars}).fetchall()

    def find_landed(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Of `rows`, those this transition had already moved (what it would have returned)."""
        if self.landed is None or not rows:
            return []
        sql = query(self.landed, "offload_shared", "transitions.sql")
        return conn.execute(sql, {**self.params(rows), "status": self.targets[0]}).fetchall()


CREATE = Transition("create", (), (P,), (
    "id", "tenant", "task_name", "task_type", "queue", "priority", "params", "max_retries",
    "time_limit_ms", "delay_seconds", "request_id",
), returns_tasks=True, publishes=True)  # fmt: skip
CLAIM = Transition("claim", (P,), (R,), ("id", "worker_id"), returns_tasks=True, publishes=False,
                   landed="claimed")  # fmt: skip
# A worker's outcomes name the attempt they end: (the task's id, its attempts, the worker).
ATTEMPT = ("id", "attempt", "worker_id")
COMPLETE = Transition("complete", (R,), (C,), (*ATTEMPT, "result"), returns_tasks=False,
                      publishes=False, landed="ended")  # fmt: skip
RETRY = Transition("retry", (R,), (P,), (*ATTEMPT, "error", "delay_seconds"), returns_tasks=True,
                   publishes=True)  # fmt: skip
FAIL = Transition("fail", (R,), (F,), (*ATTEMPT, "error"), returns_tasks=False, publishes=False,
                  landed="ended")  # fmt: skip
STOP = Transition("stop", (R,), (X,), ATTEMPT, returns_tasks=False, publishes=False,
                  landed="ended")  # fmt: skip
INTERRUPT = Transition("interrupt", (R,), (P,), ATTEMPT, returns_tasks=True, publishes=True)
GIVE_BACK = Transition("give_back", (R,), (P,), ATTEMPT, returns_tasks=True, publishes=False)
CANCEL = Transition("cancel", (P, R), (X, R), ("id", "tenant"), returns_tasks=True,
                    publishes=False)  # fmt: skip
RESUBMIT = Transition("resubmit", (F, X), (P,), ("id", "tenant"), returns_tasks=True,
                      publishes=True)  # fmt: skip
REAP = Transition("reap", (R,), (P, F, X), (), returns_tasks=False, publishes=True)

ALL = (CREATE, CLAIM, COMPLETE, RETRY, FAIL, STOP, INTERRUPT, GIVE_BACK, CANCEL, RESUBMIT, REAP)
# A worker's outcomes of an attempt: they must not be lost (group_commit.py retries them).
OUTCOMES = (COMPLETE, RETRY, FAIL, STOP, INTERRUPT)
# The worker's transitions, in the order one group commit runs them.
WORKER = (COMPLETE, FAIL, STOP, RETRY, INTERRUPT, GIVE_BACK, CLAIM)
