"""Task commands over the API: enqueue, status, list, cancel, retry and tail."""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from offload_shared.apikeys import parse_duration
from offload_shared.cli.api_client import ApiClient
from offload_shared.cli.exits import CliFailure, Exit
from offload_shared.cli.output import emit_json, emit_lines, json_option, progress_bar, table, when
from offload_shared.cli.waiting import DEFAULT_WAIT_SECONDS, wait_for_task
from offload_shared.errors import ConfigError
from offload_shared.masking import masked_params

__all__ = ["cancel", "enqueue", "list_tasks", "retry", "status", "tail"]

ID_PREFIX = re.compile(r"^[0-9a-fA-F-]{1,36}$")
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
BULK_PAGE = 500  # tasks changed per request of a bulk retry or cancel (the bar moves per page)
TAIL_PAGE = 500


def parse_param(text: str) -> tuple[str, Any]:
    """k=v: v as JSON when it parses (5, true, [1, 2], {"a": 1}, "quoted"), else the text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--param")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _params(params_json: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON ({exc})", param_hint="--params-json") from None
        if not isinstance(params, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--params-json")
    return params | dict(parse_param(pair) for pair in pairs)


def resolve_id(api: ApiClient, given: str) -> str:
    """A task id from the whole id or the start of one (unique among the tenant's tasks)."""
    try:
        return str(uuid.UUID(given))
    except ValueError:
        pass
    if not ID_PREFIX.match(given):
        raise click.BadParameter(
            f"{given!r} is not a task id nor the start of one", param_hint="ID"
        )
    page = api.get("/api/tasks/", {"id_prefix": given, "limit": 2})
    ids = [t["task_id"] for t in page["items"]]
    if not ids:
        raise CliFailure(f"no task whose id starts with {given!r}")
    if len(ids) > 1:
        raise CliFailure(f"{page['total']} tasks' ids start with {given!r}: give more of it")
    return str(ids[0])


def _finished(task: Mapping[str, Any], as_json: bool) -> None:
    """Print a task --wait followed to its end; exit 4 unless it completed."""
    if as_json:
        emit_json(task)
    else:
        _describe(task)
    if task["status"] != "completed":
        error = f": {task['error_message']}" if task.get("error_message") else ""
        raise CliFailure(f"task {task['task_id']} {task['status']}{error}", Exit.TASK_FAILED)


def wait_option(command: Any) -> Any:
    command = click.option(
        "--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_WAIT_SECONDS,
        show_default=True, help="seconds --wait waits before giving up (exit 5)",
    )(command)  # fmt: skip
    return click.option(
        "--wait", is_flag=True, help="follow the task until it finishes (exit 4 if it fails)"
    )(command)


@click.command(
    short_help="enqueue a task (--wait: follow it to its end)",
    help="Enqueue a catalog task (TASK is its name, e.g. email.send_notification).",
)
@click.argument("task_name", metavar="TASK")
@click.option(
    "--param", "-p", "pairs", multiple=True, metavar="KEY=VALUE",
    help="a param; VALUE is read as JSON when it parses, else as text (repeat it)",
)  # fmt: skip
@click.option("--params-json", metavar="JSON", help="all params as one JSON object")
@click.option("--priority", type=click.IntRange(1, 10), help="1-10, 10 most urgent")
@click.option("--max-retries", type=click.IntRange(0, 20))
@click.option("--delay", type=click.FloatRange(min=0), metavar="SECONDS", help="run no sooner")
@wait_option
@json_option
def enqueue(
    task_name: str, pairs: tuple[str, ...], params_json: str | None, priority: int | None,
    max_retries: int | None, delay: float | None, wait: bool, timeout: float, as_json: bool,
) -> None:  # fmt: skip
    api = ApiClient.from_env()
    body = {"task_name": task_name, "params": _params(params_json, pairs), "priority": priority,
            "max_retries": max_retries, "delay_seconds": delay}  # fmt: skip
    task = api.post("/api/tasks/enqueue", {k: v for k, v in body.items() if v is not None})
    if wait:
        path = f"/api/tasks/{task['task_id']}"
        label = f"{task_name} {task['task_id']}"
        _finished(wait_for_task(lambda: api.get(path), label, timeout), as_json)
    elif as_json:
        emit_json(task)
    else:
        click.echo(f"enqueued {task['task_name']} as {task['task_id']} "
                   f"({task['status']}, priority {task['priority']})")  # fmt: skip


@click.command(short_help="one task: status, progress, result, error",
    help="Show one task: status, progress, params, result, error, timestamps. "
               "ID may be the start of the id. Secrets in params and result are masked, "
               "as the dashboard masks them (the API's GET /api/tasks/ID has them).")  # fmt: skip
@click.argument("given", metavar="ID")
@json_option
def status(given: str, as_json: bool) -> None:
    api = ApiClient.from_env()
    task = api.get(f"/api/tasks/{resolve_id(api, given)}")
    for field in ("params", "result"):  # a terminal's scrollback is a log of sorts
        task[field] = masked_params(task["task_name"], task[field])
    if as_json:
        emit_json(task)
    else:
        _describe(task)


def _describe(task: Mapping[str, Any]) -> None:
    def shown(value: Any) -> str:
        return "-" if value is None else json.dumps(value, ensure_ascii=False)

    rows = [
        ("task", task["task_id"]),
        ("name", f"{task['task_name']} (type {task['task_type']}, queue {task['queue']})"),
        ("status", task["status"] + (f" ({task['waiting']})" if task.get("waiting") else "")),
        ("progress", f"{task['progress']}%"),
        ("priority", str(task["priority"])),
        (
            "attempts",
            f"{task['attempts']} (retries {task['retry_count']} of {task['max_retries']})",
        ),
        ("created", when(task["created_at"])),
        ("started", when(task["started_at"])),
        ("finished", when(task["completed_at"])),
        ("params", shown(task["params"])),
        ("result", shown(task["result"])),
        ("error", task["error_message"] or "-"),
    ]
    for name, value in rows:
        click.echo(f"{name:<9} {value}")


def filter_options(command: Any) -> Any:
    """The task filter the API takes, as options (list, bulk retry and cancel)."""
    for option in reversed((
        click.option("--status", type=click.Choice(STATUSES)),
        click.option("--queue", help="email, reports, analytics, ..."),
        click.option("--task-name", help="e.g. email.send_notification"),
        click.option("--task-type", help="email, report, analytics, cleanup, ..."),
        click.option("--since", metavar="DURATION", help="created within it: 30m, 1h, 7d"),
    )):  # fmt: skip
        command = option(command)
    return command


def _filter(**given: Any) -> dict[str, Any]:
    since = given.pop("since", None)
    if since is not None:
        try:
            given["created_after"] = (datetime.now(UTC) - parse_duration(since)).isoformat()
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    return {k: v for k, v in given.items() if v is not None}


@click.command(
    "list",
    short_help="list tasks as a table (filters: --status, --queue, ...)",
    help="List the tenant's tasks, newest first, as a table.",
)
@filter_options
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@json_option
def list_tasks(limit: int, offset: int, as_json: bool, **given: Any) -> None:
    page = ApiClient.from_env().get("/api/tasks/", {**_filter(**given), "limit": limit,
                                                      "offset": offset})  # fmt: skip
    if as_json:
        emit_lines(page["items"])
        return
    rows = [("ID", "TASK", "STATUS", "PRIORITY", "PROGRESS", "ATTEMPTS", "CREATED", "FINISHED")]
    for t in page["items"]:
        rows.append((
            t["task_id"], t["task_name"], t["status"], str(t["priority"]), f"{t['progress']}%",
            str(t["attempts"]), when(t["created_at"]), when(t["completed_at"]),
        ))  # fmt: skip
    table(rows)
    shown = len(page["items"])
    if page["total"] > shown:
        click.echo(f"{shown} of {page['total']} shown (--limit, --offset for more)", err=True)


def _bulk(api: ApiClient, action: str, where: dict[str, Any], dry_run: bool, as_json: bool) -> None:
    """Count with a dry run, then change page by page (BULK_PAGE per request) with a bar."""
    path = f"/api/tasks/bulk/{action}"
    matched = api.post(path, {**where, "dry_run": True})["matched"]
    changed = 0
    if not dry_run and matched:
        with progress_bar(matched, f"{action} {matched} task(s)") as bar:
            while changed < matched:
                size = min(BULK_PAGE, matched - changed)
                page = api.post(path, {**where, "limit": size})["changed"]
                changed += page
                bar.to(changed)
                if page < size:  # nothing more matches
                    break
    if as_json:
        emit_json({"matched": matched, "changed": changed, "dry_run": dry_run})
    elif dry_run:
        click.echo(f"would {action} {matched} task(s)")
    else:
        click.echo(f"{action}: {changed} of {matched} task(s) changed")


def _one_or_many(
    action: str, given: str | None, everything: bool, dry_run: bool, as_json: bool,
    filters: dict[str, Any],
) -> ApiClient | None:  # fmt: skip
    """Run the bulk form if that is what was asked; the client for the one-task form."""
    where = _filter(**filters)
    if given is not None:
        if where or everything or dry_run:
            raise click.UsageError(f"give a task ID or filters to {action}, not both")
        return ApiClient.from_env()
    if not where and not everything:
        raise click.UsageError("give a task ID, filters (--status, --queue, ...) or --all")
    _bulk(ApiClient.from_env(), action, where | ({"all": True} if everything else {}), dry_run,
          as_json)  # fmt: skip
    return None


def bulk_options(command: Any) -> Any:
    command = filter_options(command)
    command = click.option("--all", "everything", is_flag=True,
                           help="every task of the tenant (an empty filter)")(command)  # fmt: skip
    return click.option("--dry-run", is_flag=True, help="count, change nothing")(command)


@click.command(short_help="cancel a task, or every task a filter matches",
    help="Cancel a task (ID, or the start of one), or every task a filter matches: "
               "pending ones never run, running ones stop at their next checkpoint.")  # fmt: skip
@click.argument("given", metavar="[ID]", required=False)
@bulk_options
@json_option
def cancel(
    given: str | None, everything: bool, dry_run: bool, as_json: bool, **filters: Any
) -> None:
    api = _one_or_many("cancel", given, everything, dry_run, as_json, filters)
    if api is None:
        return
    code, task = api.exchange("POST", f"/api/tasks/{resolve_id(api, given or '')}/cancel")
    if as_json:
        emit_json(task)
    elif code == 202:
        click.echo(f"task {task['task_id']} is running: asked it to stop")
    else:
        click.echo(f"cancelled task {task['task_id']}")


@click.command(short_help="retry a task, or every task a filter matches",
    help="Send a failed or cancelled task (ID, or the start of one) round again, or "
               "every one a filter matches, e.g. --status failed --since 1h.")  # fmt: skip
@click.argument("given", metavar="[ID]", required=False)
@bulk_options
@json_option
def retry(
    given: str | None, everything: bool, dry_run: bool, as_json: bool, **filters: Any
) -> None:
    api = _one_or_many("retry", given, everything, dry_run, as_json, filters)
    if api is None:
        return
    task = api.post(f"/api/tasks/{resolve_id(api, given or '')}/retry")
    if as_json:
        emit_json(task)
    else:
        click.echo(f"task {task['task_id']} sent round again ({task['status']})")


@click.command(short_help="follow task transitions live (Ctrl-C stops)",
    help="Follow the tenant's task transitions live, one line each, until Ctrl-C "
               "(which exits 0).")  # fmt: skip
@click.option("--after", type=click.IntRange(0), metavar="EVENT_ID",
              help="start after this event id (default: from now on)")  # fmt: skip
@click.option("--interval", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
              help="seconds between polls")  # fmt: skip
@json_option
def tail(after: int | None, interval: float, as_json: bool) -> None:
    api = ApiClient.from_env()
    _stop_on_signals()
    try:
        cursor = api.get("/api/transitions")["next"] if after is None else after
        click.echo(f"following transitions after event {cursor} (Ctrl-C stops)", err=True)
        while True:
            page = api.get("/api/transitions", {"after": cursor, "limit": TAIL_PAGE})
            for event in page["items"]:
                emit_json(event) if as_json else click.echo(_event_line(event))
            cursor = page["next"]
            if len(page["items"]) < TAIL_PAGE:
                time.sleep(interval)
    except KeyboardInterrupt:
        return


def _stop_on_signals() -> None:
    """Ctrl-C (even where a shell started the command with SIGINT ignored) and SIGTERM end the
    tail as KeyboardInterrupt: exit 0."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _event_line(e: Mapping[str, Any]) -> str:
    at = datetime.fromisoformat(e["at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    detail = f"  {e['detail']}" if e.get("detail") else ""
    return (f"{at}  {e['task_id']}  {e['task_name']:<28} {e['queue']:<10} {e['status']:<10} "
            f"attempt {e['attempt']}{detail}")  # fmt: skip
