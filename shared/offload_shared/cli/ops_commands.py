"""What an operator watches, over the API: stats per queue and the worker processes."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from offload_shared.cli.api_client import ApiClient
from offload_shared.cli.output import emit_json, emit_lines, json_option, table, when

__all__ = ["stats", "workers"]


@click.command(short_help="per queue: ready, delayed, running, failed, throughput",
    help="Per queue: ready, delayed, waiting (held by a limit), running, the last "
               "hour's completed and failed tasks, and throughput per minute.")  # fmt: skip
@json_option
def stats(as_json: bool) -> None:
    answer = ApiClient.from_env().get("/api/stats")
    if as_json:
        emit_json(answer)
        return
    rows = [("QUEUE", "READY", "DELAYED", "WAITING", "RUNNING", "DONE/1H", "FAILED/1H",
             "DONE/MIN", "FAILED/MIN", "OLDEST READY")]  # fmt: skip
    for q in answer["queues"]:
        oldest = q["oldest_ready_age_seconds"]
        rows.append((
            q["queue"], str(q["ready"]), str(q["delayed"]), str(q["waiting"]), str(q["running"]),
            str(q["completed_last_hour"]), str(q["failed_last_hour"]),
            f"{q['throughput']['completed_per_minute']:g}",
            f"{q['throughput']['failed_per_minute']:g}",
            "-" if oldest is None else f"{oldest:.1f} s",
        ))  # fmt: skip
    table(rows)


@click.command(short_help="the worker processes and what they run",
    help="The worker processes: queue, host, pid, threads, heartbeat, and the "
               "tenant's tasks each runs now.")  # fmt: skip
@json_option
def workers(as_json: bool) -> None:
    items = ApiClient.from_env().get("/api/workers")["items"]
    if as_json:
        emit_lines(items)
        return
    rows = [("WORKER", "QUEUE", "HOST", "PID", "THREADS", "STATE", "STARTED", "LAST SEEN",
             "RUNNING")]  # fmt: skip
    for w in items:
        running = ", ".join(f"{t['task_name']} {t['progress']}%" for t in w["running"])
        rows.append((
            w["worker_id"][:8], w["queue"], w["hostname"], str(w["pid"]), str(w["threads"]),
            "alive" if w["alive"] else "lost", when(w["started_at"]), _seen(w["seen_at"]),
            running or "-",
        ))  # fmt: skip
    table(rows)


def _seen(at: str) -> str:
    age = (datetime.now(UTC) - datetime.fromisoformat(at)).total_seconds()
    return f"{max(age, 0):.0f} s ago"
