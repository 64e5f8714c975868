"""Logging, configured in this one place for every service: one JSON object per line on
stderr (OFFLOAD_LOG_FORMAT=json, the default), or readable text (`text`, what `make run` uses).

Each line has `ts` (ISO 8601, UTC), `level`, `logger`, `message` and `service`, then the fields
bound to the code that logged it, then `exc` (the formatted traceback) for an exception:

- a task run binds `task_id`, `task_name`, `tenant`, `attempt`, `queue` (and the `request_id`
  of the API request that enqueued it, if any) for as long as it runs (the worker's status
  middleware), so every line logged meanwhile, by Offload, the task's own code or a library,
  carries them;
- an API request binds its `request_id` (offload_api/request_id.py).

The fields live in a context variable (`bind` / `unbind`), read when a line is formatted, in the
thread that logs it; a line logged elsewhere about a task (the group commit's thread) passes
them as `extra={EXTRA: ...}`. Messages name ids and fields, never params or secrets: nothing
here adds any.

Where each service calls `configure`: the API in each granian worker (wsgi.py) and granian's
own process through `--log-config` (offload_api/granian_logging.json, serve.py); the workers in
Dramatiq's main process before it forks its worker processes (worker.run_worker, with
Dramatiq's `--skip-logging`), so those inherit it and write, through `sys.stderr` as it is at
each line, into the pipe Dramatiq's main process copies to its stderr; the scheduler in its
main; `make run`'s supervisor (devtools) for its own lines.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

import orjson

from offload_shared.models import Task
from offload_shared.settings import LogFormat, LogLevel, Settings

__all__ = [
    "EXTRA",
    "JsonFormatter",
    "StderrHandler",
    "TextFormatter",
    "bind",
    "configure",
    "current_fields",
    "granian_formatter",
    "task_fields",
    "unbind",
]

# The record attribute for fields given explicitly: logger.info(..., extra={EXTRA: fields}).
EXTRA = "offload_fields"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_FIELDS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "offload_log_fields", default=None
)


def bind(fields: Mapping[str, Any] | None) -> contextvars.Token[Mapping[str, Any] | None]:
    """Put `fields` on every line logged from this context until `unbind(token)`, or until
    the next `bind` (`bind(None)`: none from now on)."""
    return _FIELDS.set(fields)


def unbind(token: contextvars.Token[Mapping[str, Any] | None]) -> None:
    _FIELDS.reset(token)


def current_fields() -> Mapping[str, Any] | None:
    return _FIELDS.get()


def task_fields(task: Task) -> dict[str, Any]:
    """The fields of every line a task's attempt produces."""
    fields: dict[str, Any] = {
        "task_id": str(task.id),
        "task_name": task.task_name,
        "tenant": task.tenant,
        "attempt": task.attempts,
        "queue": task.queue,
    }
    if task.request_id is not None:
        fields["request_id"] = task.request_id
    return fields


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _fields(record: logging.LogRecord) -> Mapping[str, Any] | None:
    return getattr(record, EXTRA, None) or _FIELDS.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        fields = _fields(record)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(line, default=str).decode()
        except TypeError:  # a lone surrogate (orjson refuses them): escaped, not lost
            clean = {k: _escaped(v) for k, v in line.items()}
            return orjson.dumps(clean, default=str).decode()


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal: `TEXT_FORMAT`, then the bound fields as key=value."""

    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record.created)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if not fields:
            return text
        head, newline, rest = text.partition("\n")  # after the message, before a traceback
        pairs = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{head} [{pairs}]{newline}{rest}"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is when a line is logged, not as it was at start: in
    Dramatiq's worker processes that is the pipe to its main process."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr


def formatter(
    service: str, log_format: LogFormat, text_format: str = TEXT_FORMAT
) -> logging.Formatter:
    return JsonFormatter(service) if log_format == "json" else TextFormatter(text_format)


def granian_formatter(service: str) -> logging.Formatter:
    """For granian's `--log-config` (a dictConfig formatter factory): its own process has no
    Settings of ours, so the format is read here (serve.py checked the environment first)."""
    return formatter(service, Settings.from_env().log_format)


def configure(
    service: str,
    log_format: LogFormat = "json",
    level: LogLevel = "info",
    *,
    text_format: str = TEXT_FORMAT,
    stream: TextIO | None = None,
) -> None:
    """Send every logger's lines (the root's handler) to stderr (or `stream`) in `log_format`,
    from `level` up; warnings and uncaught exceptions become log lines too. Calling it again
    replaces what an earlier call (or a library's basicConfig) installed."""
    handler: logging.Handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(formatter(service, log_format, text_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("offload").critical("uncaught %s", kind.__name__, exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("offload").critical(
        "Exception in thread %s: uncaught %s",  # the words of Python's own report
        name,
        args.exc_type.__name__,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )
