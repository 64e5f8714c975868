"""What every worker service shares: its broker, actor registration and the process entry point."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import dramatiq
from dramatiq import Broker
from dramatiq.middleware import TimeLimit

from offload_shared import probe
from offload_shared.broker import make_broker
from offload_shared.catalog import TaskSpec, get_spec
from offload_shared.context import TaskContext
from offload_shared.db import Database
from offload_shared.errors import Interrupt
from offload_shared.group_commit import GroupCommit
from offload_shared.middleware.heartbeat import HeartbeatMiddleware
from offload_shared.middleware.status import TaskStatusMiddleware, run_task
from offload_shared.outbox import OutboxSweeper
from offload_shared.settings import Settings, load_or_exit
from offload_shared.store import TaskStore
from offload_shared.worker_runtime import RuntimeHolder, WorkerRuntime

__all__ = [
    "run_worker",
    "task_actor",
    "worker_broker",
    "worker_middleware",
    "worker_settings",
]

TaskFunction = Callable[[TaskContext], Any]


QUEUE_ENV = "_OFFLOAD_WORKER_QUEUE"  # set by run_worker for its processes; not configuration


def worker_middleware(settings: Settings) -> list[dramatiq.Middleware]:
    def runtime_factory() -> WorkerRuntime:
        db = Database(
            settings.database_url,
            max_size=settings.worker_threads + 2,
            statement_timeout_ms=settings.worker_statement_timeout_ms,
            application_name="offload-worker",
        )
        # The group commit's own connection: it runs only the state machine's statements.
        status_db = Database(
            settings.database_url,
            max_size=1,
            statement_timeout_ms=settings.worker_statement_timeout_ms,
            application_name="offload-worker-status",
            generic_plans=True,
        )
        return WorkerRuntime(
            queue=os.environ.get(QUEUE_ENV, "*"),
            threads=settings.worker_threads,
            store=TaskStore(db, GroupCommit(status_db)),
            outbox=OutboxSweeper(db),
        )

    runtime = RuntimeHolder(runtime_factory)  # the one owner of the process's resources
    return [
        TaskStatusMiddleware(runtime, settings),
        TimeLimit(),  # after the status middleware: its limit ends before the outcome is written
        HeartbeatMiddleware(
            runtime,
            interval_seconds=settings.worker_heartbeat_seconds,
            cancel_grace_seconds=settings.cancel_grace_seconds,
            shutdown_seconds=settings.worker_shutdown_seconds,
            beacon=probe.beacon_from_env(),
        ),
    ]


@cache
def worker_settings() -> Settings:
    return Settings.from_env()


@cache
def worker_broker() -> Broker:
    """The process-wide broker for worker services, configured from the environment."""
    settings = worker_settings()
    broker = make_broker(
        settings.redis,
        worker_middleware(settings),
        aging_seconds=settings.priority_aging_seconds,
        lease_seconds=settings.lease_seconds,
        # A claimed task waits in this process only while its threads are busy, and at most
        # `lookahead` of them: priority stays strict but for those few (README: Priorities).
        prefetch=settings.worker_threads + settings.worker_lookahead,
    )
    dramatiq.set_broker(broker)
    return broker


def task_actor(
    task: str | TaskSpec, *, broker: Broker | None = None
) -> Callable[[TaskFunction], TaskFunction]:
    """Declare the Dramatiq actor for a catalog entry (its spec, or its name); the function
    itself is returned as is.

    The function receives the claimed task's TaskContext (its params come from Postgres,
    never from the message) and returns a small JSON-able result, which the status middleware
    records. Since it stays a plain function, tests call it with a context of their own or
    declare it on a broker of their own.
    """
    spec = get_spec(task) if isinstance(task, str) else task

    def decorate(fn: TaskFunction) -> TaskFunction:
        @functools.wraps(fn)
        def run() -> None:
            run_task(fn)

        dramatiq.actor(
            actor_name=spec.name,
            queue_name=spec.queue,
            time_limit=spec.time_limit_ms,
            # Every exception is "expected": Dramatiq then logs only its type, never its text
            # (which can hold addresses); the status middleware records the text for the tenant.
            throws=(Exception, Interrupt, dramatiq.middleware.Interrupt),
            retry_policy=spec.retry,
            broker=broker or worker_broker(),
        )(run)
        return fn

    return decorate


def run_worker(module: str, queue: str) -> None:
    """Run the Dramatiq CLI for one worker service: its actors module, its one queue."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    load_or_exit(f"offload-{queue}-worker")  # a malformed value: one line, exit 2
    settings = worker_settings()
    os.environ[QUEUE_ENV] = queue
    probe_broker = make_broker(settings.redis)
    probe_broker.redis.warn_if_evicting()
    probe_broker.close()
    if settings.health_port:
        # Served by this, Dramatiq's main process; its worker processes touch the beacons.
        beacons = probe.start(
            settings.health_port,
            expected=settings.worker_processes,
            stale_after=settings.health_stale_seconds,
        )
        os.environ[probe.DIR_ENV] = str(beacons.directory)
    args = make_argument_parser().parse_args(
        [
            module,
            "--queues",
            queue,
            "--processes",
            str(settings.worker_processes),
            "--threads",
            str(settings.worker_threads),
            # In-flight tasks get this long on SIGTERM; HeartbeatMiddleware requeues what is
            # left just before it. Keep it below the Kubernetes termination grace period.
            "--worker-shutdown-timeout",
            str(int(settings.worker_shutdown_seconds * 1000)),
        ]
    )
    raise SystemExit(dramatiq_main(args))
