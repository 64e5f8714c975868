"""`offload schedules`: install-defaults (and list --tenant) on Postgres; list, pause, resume and
run-now over the API (the key's tenant)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import click

from offload_shared.catalog import get_spec
from offload_shared.cli.admin_commands import tenant_name
from offload_shared.cli.api_client import ApiClient
from offload_shared.cli.exits import CliFailure
from offload_shared.cli.output import emit_json, emit_lines, json_option, table, when
from offload_shared.cli.postgres import database
from offload_shared.schedules import DEFAULTS, Schedule, ScheduleStore

__all__ = ["schedules"]

FIELDS = ("id", "name", "task_name", "params", "priority", "cron", "every_seconds", "timezone",
          "misfire", "enabled", "next_run_at", "last_run_at", "last_task_status")  # fmt: skip


@click.group(
    short_help="a tenant's schedules (install-defaults needs Postgres)",
    help="A tenant's schedules. install-defaults and list --tenant work on Postgres "
    "(DATABASE_URL); list, pause, resume and run-now go through the API, as the key's tenant.",
)
def schedules() -> None:
    pass


@schedules.command(
    "install-defaults",
    help="Create the default schedules a tenant lacks (by name): cleanup-old-records "
    "(cleanup.old_records, days_to_keep 90, daily at 02:00 UTC) and update-dashboard "
    "(analytics.update_dashboard every 5 minutes); one it has is left as it is. Needs Postgres.",
)
@click.option("--tenant", required=True)
@json_option
def install_defaults(tenant: str, as_json: bool) -> None:
    tenant = tenant_name(tenant)
    created = 0
    now = datetime.now(UTC)
    with database() as db:
        store = ScheduleStore(db)
        for default in DEFAULTS:
            params = get_spec(default.task_name).load_params(default.params)
            schedule = store.create_missing(tenant, replace(default, params=params), now)
            created += schedule is not None
            if as_json:
                shown = schedule or _by_name(store, tenant, default.name)
                emit_json(_row(shown) | {"created": schedule is not None})
            elif schedule is not None:
                click.echo(f"created schedule {schedule.name!r} ({schedule.task_name}, "
                           f"{_rule(_row(schedule))}) for tenant {tenant!r}, "
                           f"next run {when(schedule.next_run_at)} UTC")  # fmt: skip
            else:
                click.echo(f"schedule {default.name!r} exists for tenant {tenant!r}: left as it is")
    if not as_json:
        click.echo(f"{created} schedule(s) created" if created else "nothing changed")


@schedules.command(
    "list",
    help="List the schedules, by name. With --tenant: that tenant's, from Postgres; without: "
    "the API key's tenant's, through the API.",
)
@click.option("--tenant", help="read this tenant's from Postgres (DATABASE_URL)")
@json_option
def list_schedules(tenant: str | None, as_json: bool) -> None:
    if tenant is not None:
        tenant = tenant_name(tenant)
        with database() as db:
            found = [_row(s) for s in _all(ScheduleStore(db), tenant)]
    else:
        found = _api_all(ApiClient.from_env())
    if as_json:
        emit_lines({f: s.get(f) for f in FIELDS} for s in found)
        return
    rows = [("ID", "NAME", "TASK", "RULE", "MISFIRE", "ENABLED", "NEXT RUN", "LAST RUN",
             "LAST STATUS")]  # fmt: skip
    for s in found:
        rows.append((
            str(s["id"]), s["name"], s["task_name"], _rule(s), s["misfire"],
            "yes" if s["enabled"] else "no", when(s["next_run_at"]), when(s["last_run_at"]),
            s["last_task_status"] or "-",
        ))  # fmt: skip
    table(rows)


def _change(action: str, done: str) -> Callable[[str, bool], None]:
    @click.argument("schedule", metavar="ID_OR_NAME")
    @json_option
    def command(schedule: str, as_json: bool) -> None:
        api = ApiClient.from_env()
        schedule_id = _resolve(api, schedule)
        answer = api.post(f"/api/schedules/{schedule_id}/{action}")
        if as_json:
            emit_json(answer)
        elif action == "run-now":
            task = answer.get("task_id") or "no task"
            reason = f" ({answer['error']})" if answer.get("error") else ""
            click.echo(f"schedule {schedule} fired now: {task}{reason}")
        else:
            next_run = when(answer["next_run_at"])
            click.echo(f"schedule {answer['name']!r} {done}; next run {next_run}")

    return command


schedules.command("pause", help="Stop a schedule firing (through the API; admin scope).")(
    _change("pause", "paused")
)
schedules.command("resume", help="Fire a paused schedule again from now (API; admin scope).")(
    _change("resume", "resumed")
)
schedules.command("run-now", help="Fire a schedule's task once now (API; admin scope).")(
    _change("run-now", "fired")
)


def _row(s: Schedule) -> dict[str, Any]:
    return {f: getattr(s, f) for f in FIELDS}


def _rule(s: Mapping[str, Any]) -> str:
    return f"cron {s['cron']!r} {s['timezone']}" if s["cron"] else f"every {s['every_seconds']} s"


def _all(store: ScheduleStore, tenant: str) -> list[Schedule]:
    found: list[Schedule] = []
    while page := store.find(tenant, limit=200, offset=len(found)):
        found += page
    return found


def _by_name(store: ScheduleStore, tenant: str, name: str) -> Schedule:
    return next(s for s in _all(store, tenant) if s.name == name)


def _api_all(api: ApiClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = api.get("/api/schedules", {"limit": 200, "offset": len(found)})
        found += [{"id": s["schedule_id"], **s} for s in page["items"]]
        if not page["items"] or len(found) >= page["total"]:
            return found


def _resolve(api: ApiClient, schedule: str) -> str:
    """A schedule's id from its id or its name."""
    try:
        return str(uuid.UUID(schedule))
    except ValueError:
        pass
    for s in _api_all(api):
        if s["name"] == schedule:
            return str(s["id"])
    raise CliFailure(f"no schedule named {schedule!r}")
