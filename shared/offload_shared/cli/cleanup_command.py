"""`offload cleanup`: a tenant's old records, counted (--dry-run) or deleted by the analytics
worker's cleanup.old_records task.

The deletion is not run here: the command enqueues cleanup.old_records for the tenant through
the one enqueue path (Postgres, outbox, Redis), so it runs where every cleanup runs, in
bounded, cancellable batches, and is recorded in the tenant's task history like a scheduled
one. --wait follows it from Postgres with a progress bar. Admin: DATABASE_URL and REDIS_URL,
no API key (a key belongs to one tenant; an operator cleans up any).
"""

from __future__ import annotations

from typing import Any

import click

from offload_shared.broker import make_broker
from offload_shared.catalog import get_spec
from offload_shared.cli.admin_commands import tenant_name
from offload_shared.cli.exits import CliFailure, Exit
from offload_shared.cli.output import emit_json, json_option, when
from offload_shared.cli.postgres import database
from offload_shared.cli.waiting import DEFAULT_WAIT_SECONDS, wait_for_task
from offload_shared.enqueue import new_task, submit
from offload_shared.models import Task
from offload_shared.operations import CleanupPlan, cleanup_plan
from offload_shared.outbox import OutboxSweeper
from offload_shared.publisher import Publisher
from offload_shared.settings import Settings
from offload_shared.store import TaskStore

__all__ = ["cleanup"]

TASK = "cleanup.old_records"


@click.command(
    short_help="delete a tenant's old records, or count them (needs Postgres)",
    help="Delete a tenant's finished tasks older than --days-to-keep (with their history, "
    "deliveries and artifacts), its expired artifacts and old analytics snapshots (the latest "
    "of each kind is kept). --dry-run counts them and changes nothing; otherwise the "
    f"{TASK} task is enqueued for the tenant (--wait follows it). Needs Postgres "
    "(DATABASE_URL) and, to publish the task, Redis (REDIS_URL), not the API.",
)
@click.option("--tenant", required=True)
@click.option("--days-to-keep", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--dry-run", is_flag=True, help="count what would be deleted, delete nothing")
@click.option("--wait", is_flag=True, help="follow the cleanup until it finishes")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_WAIT_SECONDS,
              show_default=True, help="seconds --wait waits (exit 5 after)")  # fmt: skip
@json_option
def cleanup(
    tenant: str, days_to_keep: int, dry_run: bool, wait: bool, timeout: float, as_json: bool
) -> None:
    tenant = tenant_name(tenant)
    with database() as db:
        plan = cleanup_plan(db, tenant, days_to_keep=days_to_keep)
        if dry_run:
            _show_plan(tenant, days_to_keep, plan, as_json)
            return
        task = _enqueue(db, tenant, days_to_keep)
        if not wait:
            if as_json:
                emit_json(_summary(task) | {"planned": plan.total})
            else:
                click.echo(f"enqueued {TASK} {task.id} for tenant {tenant!r}: about "
                           f"{plan.total} record(s) to delete")  # fmt: skip
            return
        store = TaskStore(db)
        done = wait_for_task(
            lambda: _summary(store.get(tenant, task.id)), f"{TASK} {task.id}", timeout
        )
    if as_json:
        emit_json(done)
    elif done["status"] == "completed":
        r = done["result"]
        click.echo(f"{TASK} {task.id} completed: deleted {r['tasks']} task(s), "
                   f"{r['artifacts']} artifact(s), {r['snapshots']} snapshot(s)")  # fmt: skip
    if done["status"] != "completed":
        error = f": {done['error_message']}" if done["error_message"] else ""
        raise CliFailure(f"{TASK} {task.id} {done['status']}{error}", Exit.TASK_FAILED)


def _show_plan(tenant: str, days: int, plan: CleanupPlan, as_json: bool) -> None:
    if as_json:
        emit_json({"tenant": tenant, "days_to_keep": days, "cutoff": plan.cutoff,
                   "tasks": plan.tasks, "artifacts": plan.artifacts,
                   "snapshots": plan.snapshots, "total": plan.total, "dry_run": True})  # fmt: skip
        return
    click.echo(f"cleanup of tenant {tenant!r}, keeping {days} days (before "
               f"{when(plan.cutoff)} UTC), would delete:")  # fmt: skip
    click.echo(f"  {plan.tasks} finished task(s), with their history, deliveries and artifacts")
    click.echo(f"  {plan.artifacts} expired artifact(s)")
    click.echo(f"  {plan.snapshots} analytics snapshot(s) (the latest of each kind is kept)")


def _enqueue(db: Any, tenant: str, days_to_keep: int) -> Task:
    spec = get_spec(TASK)
    broker = make_broker(Settings.from_env().redis)
    publisher = Publisher(broker, OutboxSweeper(db))
    try:  # Redis away: the task waits in the outbox and the scheduler publishes it
        return submit(TaskStore(db), publisher, new_task(spec, tenant, spec.load_params(
            {"days_to_keep": days_to_keep})))  # fmt: skip
    finally:
        publisher.close()  # sweeps the outbox row of what was published, closes the broker


def _summary(task: Task) -> dict[str, Any]:
    return {"task_id": str(task.id), "task_name": task.task_name, "tenant": task.tenant,
            "status": str(task.status), "progress": task.progress, "result": task.result,
            "error_message": task.error_message}  # fmt: skip
